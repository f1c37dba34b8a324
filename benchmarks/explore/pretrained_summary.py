"""Mean AUROC per (dataset, resolution, detector) over the classes in pretrained_log.txt.

    python benchmarks/explore/pretrained_summary.py [classes, e.g. 0-4]
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

LOG = Path(__file__).with_name("pretrained_log.txt")
LINE = re.compile(r"^(\S+) (\S+)px c=(\d) (.*)$")
SCORE = re.compile(r"(\S+?)=(0\.\d+)")


def main(classes: set[int]) -> None:
    table: dict[tuple[str, str, str], dict[int, float]] = defaultdict(dict)
    for line in LOG.read_text().splitlines():
        match = LINE.match(line)
        if not match or int(match[3]) not in classes:
            continue
        dataset, size, c, rest = match[1], match[2], int(match[3]), match[4]
        head = re.search(r"head=(\S+)", rest)
        prefix = f"{head[1]}:" if head else ""
        for name, value in SCORE.findall(rest):
            if name == "auroc":
                name = "knn50"
            table[(dataset, size, prefix + name)][c] = float(value)  # last run of a class wins
    for (dataset, size, name), by_class in sorted(table.items()):
        values = [by_class[c] for c in sorted(by_class)]
        print(f"{dataset:14s} {size:11s} {name:28s} n={len(values):2d} "
              f"mean={sum(values) / len(values):.4f}  "
              + " ".join(f"{c}:{by_class[c]:.3f}" for c in sorted(by_class)))


if __name__ == "__main__":
    lo, _, hi = (sys.argv[1] if len(sys.argv) > 1 else "0-9").partition("-")
    main(set(range(int(lo), int(hi or lo) + 1)))
