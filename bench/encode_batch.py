"""What one encoder call costs for N short messages, against N calls of one; one JSON line.

    .venv/bin/python bench/encode_batch.py [--repeats 7] [--rounds 50]

The crisis screen encodes every free-text message. The encoder streams its weight
matrices once per call, so N messages in one call should cost far less than N calls:
this is the premise of batching messages that queue while the model is busy. Each
repeat times ``--rounds`` passes of both ways, alternating, on one core; reported per
batch size: microseconds a message both ways and ``ratio`` (one call each over one call
for all, higher is better for batching), min / median / max over the repeats; the
top-level ``ratio_*`` are those for 16, the crowd of ``bench/core.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core, before numpy loads
os.environ.setdefault("OMP_NUM_THREADS", "1")

from _common import positive, ratios, spread  # noqa: E402

from ketacompanion.core.crisis.modelscreen import screen_pieces  # noqa: E402
from ketacompanion.encoders import UseEncoder  # noqa: E402

MESSAGES = (
    "hi",
    "feeling a bit flat today but ok",
    "what should I eat before a session?",
    "thanks 🙂",
    "had a rough night, couldn't sleep. better now though.",
    "the integration session helped me a lot",
    "is it normal to feel tired the day after?",
    "ok see you tomorrow",
)
SIZES = (1, 2, 4, 8, 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=positive(int, 100), default=7)
    parser.add_argument("--rounds", type=positive(int, 10_000), default=50)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    encoder = UseEncoder()
    clock = time.perf_counter
    results: dict[str, dict[str, object]] = {}
    crowd: list[float] = []
    for size in SIZES:
        texts = [MESSAGES[i % len(MESSAGES)] for i in range(size)]
        parts = [screen_pieces(t) for t in texts]  # what the screen would send, message by message
        flat = [p for ps in parts for p in ps]
        together, alone, ratio = [], [], []
        for _ in range(args.repeats):
            start = clock()
            for _ in range(args.rounds):
                encoder.encode(flat)
            one_call = (clock() - start) / (args.rounds * size)
            start = clock()
            for _ in range(args.rounds):
                for ps in parts:
                    encoder.encode(ps)
            each = (clock() - start) / (args.rounds * size)
            together.append(one_call * 1e6)
            alone.append(each * 1e6)
            ratio.append(each / one_call)
        crowd = ratio if size == 16 else crowd
        results[str(size)] = {
            "us_a_message_one_call": spread(together, 1),
            "us_a_message_call_each": spread(alone, 1),
            "ratio": spread(ratio, 2),
        }
    print(json.dumps({
        "bench": "encode_batch", "encoder": encoder.name, **ratios("ratio", crowd), "sizes": results,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }))  # fmt: skip


if __name__ == "__main__":
    main()
