"""The crisis model's weights file and the training data it was built from.

``content/crisis/model.npz`` holds the classifier's arrays; ``content/crisis/model.json``
says what built them: the SHA-256 of the training data (``content/crisis/training/*.tsv``),
of the arrays file, the encoder's name, the thresholds and the cross-validated scores.
Validation rejects a weights file that is missing, truncated or built from other data,
so the bot never screens with a model that is not the one the figures describe.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ketacompanion.content.problems import Problem
from ketacompanion.core.crisis.classifier import ARRAYS, CLASSES, MlpModel
from ketacompanion.core.crisis.evaluation import LABELS
from ketacompanion.core.crisis.modelscreen import Thresholds

MODEL_FILE, META_FILE, TRAINING_DIR = "model.npz", "model.json", "training"
# 3: the crisis threshold is on p(crisis) against p(none) (``piece_scores``); 2 had it on
# p(crisis), with the same arrays; 1 was a linear head.
FORMAT = 3


class WeightsError(Exception):
    """The weights file cannot be used; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class TrainingRow:
    text: str
    label: str
    slice: str
    family: str
    lang: str


@dataclass(frozen=True, slots=True)
class ModelFile:
    model: MlpModel
    thresholds: Thresholds
    encoder: str
    meta: dict[str, Any]


def training_files(crisis_dir: Path) -> list[Path]:
    return sorted((crisis_dir / TRAINING_DIR).glob("*.tsv"))


def data_hash(crisis_dir: Path) -> str:
    """SHA-256 over the training files' names and bytes, in name order."""
    digest = hashlib.sha256()
    for path in training_files(crisis_dir):
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def read_training(crisis_dir: Path) -> list[TrainingRow]:
    rows: list[TrainingRow] = []
    for path in training_files(crisis_dir):
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            missing = {"text", "label", "slice", "family", "lang"} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            for number, r in enumerate(reader, start=2):
                label = (r["label"] or "").strip().lower()
                if label not in LABELS:
                    raise ValueError(f"{path}:{number}: label must be one of {LABELS}, not {label!r}")
                family = (r["family"] or "").strip()
                if not family:
                    raise ValueError(f"{path}:{number}: every row needs a family")
                rows.append(TrainingRow(r["text"] or "", label, (r["slice"] or "").strip() or "unsliced",
                                        family, (r["lang"] or "").strip() or "unknown"))  # fmt: skip
    return rows


def write_model(crisis_dir: Path, model: MlpModel, thresholds: Thresholds, meta: dict[str, Any]) -> None:
    arrays = _npz({name: getattr(model, name) for name in ARRAYS})
    (crisis_dir / MODEL_FILE).write_bytes(arrays)
    record = {
        "format": FORMAT,
        "classes": list(CLASSES),
        "weights_sha256": hashlib.sha256(arrays).hexdigest(),
        "thresholds": {"crisis": float(thresholds.crisis), "concern": float(thresholds.concern)},
        **meta,
    }
    (crisis_dir / META_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_model(crisis_dir: Path, check_data: bool = True) -> ModelFile:
    """The weights, checked against their record and, unless told not to, the training data."""
    meta_path, arrays_path = crisis_dir / META_FILE, crisis_dir / MODEL_FILE
    if not meta_path.exists() or not arrays_path.exists():
        raise WeightsError(f"crisis model missing ({MODEL_FILE} and {META_FILE} in {crisis_dir}); "
                           "run `ketacompanion crisis train`")  # fmt: skip
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        crisis, concern = float(meta["thresholds"]["crisis"]), float(meta["thresholds"]["concern"])
        encoder, expected, data = str(meta["encoder"]), str(meta["weights_sha256"]), str(meta["data_sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"{meta_path}: unreadable record ({type(exc).__name__})") from None
    if meta.get("format") != FORMAT or meta.get("classes") != list(CLASSES):
        raise WeightsError(f"{meta_path}: format or classes differ from this version")
    arrays = arrays_path.read_bytes()
    if hashlib.sha256(arrays).hexdigest() != expected:
        raise WeightsError(f"{arrays_path}: does not match its record (truncated or replaced); "
                           "run `ketacompanion crisis train`")  # fmt: skip
    if check_data and data_hash(crisis_dir) != data:
        raise WeightsError(f"{arrays_path}: built from other training data than {crisis_dir / TRAINING_DIR}; "
                           "run `ketacompanion crisis train`")  # fmt: skip
    try:
        with np.load(io.BytesIO(arrays), allow_pickle=False) as npz:
            model = MlpModel(*(npz[k].astype(np.float32) for k in ARRAYS))
    except (ValueError, KeyError, OSError) as exc:
        raise WeightsError(f"{arrays_path}: unreadable arrays ({type(exc).__name__})") from None
    dim, hidden = model.hidden_weights.shape if model.hidden_weights.ndim == 2 else (-1, -1)
    shapes = tuple(getattr(model, name).shape for name in ARRAYS)
    if shapes != ((dim, hidden), (hidden,), (hidden, len(CLASSES)), (len(CLASSES),), (dim,), (dim,)):
        raise WeightsError(f"{arrays_path}: arrays of the wrong shape")
    if not (0.0 < concern <= 1.0 and 0.0 < crisis <= 1.0):
        raise WeightsError(f"{meta_path}: thresholds outside (0, 1]")
    return ModelFile(model, Thresholds(crisis, concern), encoder, meta)


def _npz(arrays: dict[str, Any]) -> bytes:
    """An .npz with fixed entry times, so the same weights give the same bytes (and hash)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            entry = io.BytesIO()
            np.lib.format.write_array(entry, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), entry.getvalue(),
                             compress_type=zipfile.ZIP_DEFLATED)  # fmt: skip
    return buffer.getvalue()


def validate_model(crisis_dir: Path) -> list[Problem]:
    """Content validation: no training data and no weights is fine (rules alone); any
    other mismatch is an error, so the bot refuses to start on it."""
    has_data = bool(training_files(crisis_dir))
    has_weights = (crisis_dir / META_FILE).exists() or (crisis_dir / MODEL_FILE).exists()
    if not has_data and not has_weights:
        return []
    try:
        if has_data:
            read_training(crisis_dir)
        load_model(crisis_dir)
    except (WeightsError, ValueError) as exc:
        return [Problem(crisis_dir / MODEL_FILE, 0, str(exc))]
    return []
