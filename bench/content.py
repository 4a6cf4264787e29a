"""How long validating and loading the whole content set takes, as one JSON line,
paired in alternating repeats with its anchor: parsing the same YAML and front matter
alone with the C loader, nothing validated, graded or compiled. The ratio is the project's
speed over the anchor's (anchor time over load time), so it stays at or below 1.

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

import yaml
from _common import ROOT, positive, ratios

from ketacompanion.content.catalog import load_content


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


def _yaml_alone(root: Path) -> float:
    start = time.perf_counter()
    for path in sorted(root.rglob("*")):
        if path.suffix in (".yaml", ".yml"):
            yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        elif path.suffix == ".md":
            head = path.read_text(encoding="utf-8").split("---", 2)
            if len(head) == 3:
                yaml.load(head[1], Loader=yaml.CSafeLoader)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("content", nargs="?", type=Path, default=ROOT / "content")
    parser.add_argument("--runs", type=positive(int, 1000), default=15)
    args = parser.parse_args()
    if not args.content.is_dir():
        raise SystemExit(f"content.py: not a folder: {args.content}")
    today = date.today()
    first, lessons = _timed(args.content, today)
    times, anchors = [], []
    for _ in range(args.runs):
        times.append(_timed(args.content, today)[0])
        anchors.append(_yaml_alone(args.content))
    print(
        json.dumps(
            {
                "bench": "content",
                "load_ms_median": round(statistics.median(times), 1),
                "load_ms_min": round(min(times), 1),
                "load_ms_max": round(max(times), 1),
                "anchor": "the same YAML and front matter parsed alone (C loader)",
                "anchor_ms_median": round(statistics.median(anchors), 1),
                **ratios("ratio", [a / t for a, t in zip(anchors, times, strict=True)]),
                "ratio_is": "project speed over anchor speed (anchor_ms / load_ms, paired run by run): "
                "at most 1, since loading parses the same files and then validates them; higher is better",
                "lessons": lessons,
                "runs": len(times),
                "first_run_ms": round(first, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
