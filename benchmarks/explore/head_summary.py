"""Means of head_log.txt per (dataset px, variant) over dev (0-4) and confirm (5-9) classes.

    python benchmarks/explore/head_summary.py [variant-substring]
"""
import collections
import sys

import numpy as np

results = collections.defaultdict(dict)
with open("benchmarks/explore/head_log.txt") as log:
    for line in log:
        if line.startswith("#") or not line.strip():
            continue
        ds, px, c, v, auroc, _ = line.split()
        results[(ds, px, v)][int(c)] = float(auroc)  # a later run of a task replaces it


def mean(values):
    return f"{np.mean(values):.4f} ({len(values)})" if values else "   -      "


pattern = sys.argv[1] if len(sys.argv) > 1 else ""
for (ds, px, v), r in sorted(results.items()):
    if pattern in v:
        dev = [r[c] for c in range(5) if c in r]
        confirm = [r[c] for c in range(5, 10) if c in r]
        print(f"{ds:14s} {px:10s} {v:32s} dev {mean(dev)}  confirm {mean(confirm)}")
