"""An on-disk cache of sentence embeddings for ``ketacompanion crisis train``.

Embedding the training rows and their pieces is most of a training run; the classifier
itself takes seconds. The cache keeps each vector under the SHA-256 of its text, in one
file per encoder name and version, so a run with the same texts embeds nothing, and an
edited row costs only its own pieces. Vectors are stored exactly as the encoder gave
them (float32); the encoder gives the same vector for a text whatever batch it comes
in, so the weights are byte for byte the same with or without the cache.

Only training texts go in (never chat messages); still, the folder is private (0700)
and its files 0600, like every file the project writes.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ketacompanion.core.crisis.classifier import Matrix
from ketacompanion.core.crisis.modelscreen import Encoder

DEFAULT_CACHE_DIR = Path(".cache") / "crisis-embeddings"


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class CachedEncoder:
    """An ``Encoder`` that answers from the cache and asks the real one only for texts it
    has not seen; ``save`` writes what was added."""

    def __init__(self, encoder: Encoder, cache_dir: Path) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self.version = str(getattr(encoder, "version", "unknown"))
        self.label = f"{self.name} {self.version}"
        self.path = cache_dir / f"{hashlib.sha256(self.label.encode()).hexdigest()[:24]}.npz"
        self._vectors: dict[bytes, Matrix] = self._load()
        self._added = 0
        self.hits = self.misses = 0

    def _load(self) -> dict[bytes, Matrix]:
        try:
            with np.load(io.BytesIO(self.path.read_bytes()), allow_pickle=False) as npz:
                keys, vectors = npz["keys"], npz["vectors"]
                name = str(npz["encoder"])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            return {}  # missing or unreadable: start afresh, it is only a cache
        if name != self.label or keys.shape != (len(vectors), 32):
            return {}
        return {k.tobytes(): v for k, v in zip(keys, vectors, strict=True)}

    def encode(self, texts: Sequence[str]) -> Matrix:
        keys = [text_key(t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self._vectors))
        self.misses += len(missing)
        self.hits += len(texts) - len(missing)
        if missing:
            fresh = np.asarray(self.encoder.encode(missing), dtype=np.float32).reshape(len(missing), -1)
            for text, vector in zip(missing, fresh, strict=True):
                self._vectors[text_key(text)] = vector
            self._added += len(missing)
        if not texts:
            return np.asarray(self.encoder.encode([]), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32)

    def save(self) -> None:
        """Write the cache if anything was added: to a private temporary file, then renamed
        over the old one, so a run stopped halfway leaves the previous cache whole."""
        if not self._added:
            return
        folder = self.path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        order = sorted(self._vectors)
        buffer = io.BytesIO()
        keys = np.frombuffer(b"".join(order), dtype=np.uint8).reshape(len(order), 32)
        np.savez(buffer, keys=keys, vectors=np.stack([self._vectors[k] for k in order]), encoder=np.array(self.label))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")  # mkstemp creates it 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(buffer.getvalue())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._added = 0
