"""Paired AUROC difference of one detector between two results files, per dataset.

    python benchmarks/explore/paired_delta.py \\
        benchmarks/results/superseded/uod_mcod-default_v1.jsonl benchmarks/results/uod.jsonl

Pairs runs of `--detector` (mcod-default unless given) with the same run key
(`mcod.bench.results.run_key`: same task, same tag) and prints, per dataset, the mean of
new - old over the pairs: how much a change of the default moved the benchmark on the
tasks both versions ran.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from mcod.bench.results import KEY_FIELDS, read_results, run_key

DATASET = KEY_FIELDS.index("dataset")


def aurocs(path: str, detector: str) -> dict[tuple, float]:
    return {
        run_key(run): run["auroc"]
        for run in read_results(path)
        if run["detector"] == detector and not run.get("quick")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--detector", default="mcod-default")
    args = parser.parse_args()
    old, new = aurocs(args.old, args.detector), aurocs(args.new, args.detector)
    by_dataset: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for task in sorted(old.keys() & new.keys()):
        by_dataset[task[DATASET]].append((old[task], new[task]))
    for dataset, pairs in sorted(by_dataset.items()):
        before, after = np.array(pairs).T
        print(f"{dataset}: {len(pairs)} paired runs, old {before.mean():.3f}, "
              f"new {after.mean():.3f}, delta {np.mean(after - before):+.3f}")


if __name__ == "__main__":
    main()
