"""Means of head_log.txt per (dataset px, variant) over dev (0-4) and confirm (5-9) classes.
python benchmarks/explore/head_summary.py [variant-substring]"""
import collections, sys
import numpy as np
d = collections.defaultdict(dict)
for line in open("benchmarks/explore/head_log.txt"):
    if line.startswith("#") or not line.strip():
        continue
    ds, px, c, v, a, _ = line.split()
    d[(ds, px, v)][int(c)] = float(a)  # a later run of the same task replaces an earlier
pat = sys.argv[1] if len(sys.argv) > 1 else ""
for (ds, px, v), r in sorted(d.items()):
    if pat not in v:
        continue
    dev = [r[c] for c in range(5) if c in r]; con = [r[c] for c in range(5, 10) if c in r]
    f = lambda x: f"{np.mean(x):.4f} ({len(x)})" if x else "   -      "
    print(f"{ds:14s} {px:10s} {v:32s} dev {f(dev)}  confirm {f(con)}")
