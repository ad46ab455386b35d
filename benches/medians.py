#!/usr/bin/env python3
"""Prints the medians of the last `cargo bench -p vipd-benches` run as a Markdown table.

Reads criterion's estimates (target/criterion/*/*/new/estimates.json); stdlib only.
Usage: python3 benches/medians.py [TARGET_DIR]
"""

import json
import sys
from pathlib import Path

ORDER = ["parse/", "emit/", "handle_packet/"]


def human(ns: float) -> str:
    if ns >= 1000:
        return f"{ns / 1000:.2f} µs"
    return f"{ns:.1f} ns"


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "target")
    rows = []
    for bench in sorted((root / "criterion").glob("*/*/new/benchmark.json")):
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())["median"]
        ci = est["confidence_interval"]
        rank = next((i for i, p in enumerate(ORDER) if meta["full_id"].startswith(p)), len(ORDER))
        rows.append((rank, meta["full_id"], est["point_estimate"], ci["lower_bound"], ci["upper_bound"]))
    if not rows:
        print(f"no criterion results under {root}/criterion", file=sys.stderr)
        return 1
    print("| benchmark | median time per op | 95% CI of the median |")
    print("|---|---:|---|")
    for _, name, median, lo, hi in sorted(rows):
        print(f"| `{name}` | {human(median)} | {human(lo)} .. {human(hi)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
