"""How long validating and loading the whole content set takes, as one JSON line.

Each run clears textstat's result caches, so every run grades every lesson afresh as a
reload would; the pronunciation dictionary textstat reads once per process stays loaded,
and its cost shows separately as ``first_run_ms`` (paid once at start).

    python bench/content.py [--runs N] [CONTENT_DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path

from ketacompanion.content.catalog import load_content

ROOT = Path(__file__).resolve().parents[1]


def _clear_textstat_caches() -> None:
    for name, module in list(sys.modules.items()):
        if not name.startswith("textstat"):
            continue
        for attr, value in vars(module).items():
            if attr != "get_cmudict" and hasattr(value, "cache_clear"):
                value.cache_clear()


def _timed(root: Path, today: date) -> tuple[float, int]:
    _clear_textstat_caches()
    start = time.perf_counter()
    content = load_content(root, today)
    elapsed = (time.perf_counter() - start) * 1000
    return elapsed, sum(1 for _ in content.lessons.all())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("content", nargs="?", type=Path, default=ROOT / "content")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    today = date.today()
    first, lessons = _timed(args.content, today)
    times = [_timed(args.content, today)[0] for _ in range(max(args.runs, 1))]
    print(
        json.dumps(
            {
                "load_validate_ms": round(statistics.median(times), 1),
                "lessons": lessons,
                "runs": len(times),
                "first_run_ms": round(first, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
