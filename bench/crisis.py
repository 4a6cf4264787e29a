"""Benchmark the crisis screen: time per message over the labelled set, printed as one JSON line.

    .venv/bin/python bench/crisis.py [--repeat N]

The semantic figures stay null unless the optional semantic layer can be imported
(it needs the ``ml`` extra and its model).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ketacompanion.core.crisis.detector import Detector  # noqa: E402
from ketacompanion.core.crisis.evaluation import read_labelled  # noqa: E402

PHRASES = ROOT / "content" / "crisis" / "phrases.yaml"
LABELLED = ROOT / "tests" / "data" / "crisis_labelled.tsv"


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


def _time_each(screen: object, texts: list[str], repeat: int) -> list[float]:
    call = screen.screen  # type: ignore[attr-defined]
    samples: list[float] = []
    clock = time.perf_counter
    for _ in range(repeat):
        for text in texts:
            start = clock()
            call(text)
            samples.append(clock() - start)
    return samples


def _semantic(texts: list[str]) -> tuple[float | None, float | None]:
    try:
        from ketacompanion.core.crisis.semantic import SemanticScreen
    except ImportError:
        return None, None
    try:
        screen = SemanticScreen.load()
    except Exception:  # no model on this machine: report nothing rather than fail
        return None, None
    screen.screen(texts[0])  # warm up the model
    samples = _time_each(screen, texts, 1)
    median, p99 = _percentiles(samples)
    return round(median * 1e3, 3), round(p99 * 1e3, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20, help="passes over the labelled set")
    args = parser.parse_args()
    detector = Detector.from_file(PHRASES)
    texts = [row.text for row in read_labelled(LABELLED)]
    _time_each(detector, texts, 1)  # warm caches before measuring
    samples = _time_each(detector, texts, args.repeat)
    median, p99 = _percentiles(samples)
    semantic_median, semantic_p99 = _semantic(texts)
    print(
        json.dumps(
            {
                "rule_median_us": round(median * 1e6, 2),
                "rule_p99_us": round(p99 * 1e6, 2),
                "messages": len(samples),
                "semantic_median_ms": semantic_median,
                "semantic_p99_ms": semantic_p99,
            }
        )
    )


if __name__ == "__main__":
    main()
