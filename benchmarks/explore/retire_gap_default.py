"""One-off (run once, when `default` moved to ``efficientnet-lite0+mid``, pretrained step 5):
the records of runs made on the last layer's averaged features alone.

Their runs stand, under names that say what they read: ``mcod-default`` -> ``mcod-default-gap``
(config name ``default`` -> ``default-gap``), and the classic detectors on the features
(``knn-pretrained`` ...) -> ``knn-pretrained-gap`` ...; every such record so far read the
plain encoder (the feature baselines record no config; they all ran before the move). The
head ablations of that default (config names ``default-<ablation>``) move, as they were, to
``benchmarks/results/development/head_ablations_gap.jsonl``: they ablate a config no longer
shipped. Records already renamed are left alone.

    python benchmarks/explore/retire_gap_default.py benchmarks/results/{uod,oneclass,cost}.jsonl
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

PLAIN = "efficientnet-lite0"
FEATURE_BASELINES = ("knn-pretrained", "lof-pretrained", "iforest-pretrained", "ocsvm-pretrained")
ABLATIONS_OUT = Path("benchmarks/results/development/head_ablations_gap.jsonl")


def retired(record: dict) -> tuple[str, dict]:
    """("keep" | "renamed" | "ablation", the record as it should now be)."""
    config = record.get("config")
    encoder = config.get("encoder") if isinstance(config, dict) else None
    if record.get("detector") in FEATURE_BASELINES:
        return "renamed", {**record, "detector": record["detector"] + "-gap"}
    if encoder != PLAIN:
        return "keep", record
    if record.get("detector") == "mcod-default":
        return "renamed", {**record, "detector": "mcod-default-gap",
                           "config": {**config, "name": "default-gap"}}
    return "ablation", record


def _write(path: Path, lines: list[str]) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as handle:
        handle.write("".join(line + "\n" for line in lines))
    os.replace(handle.name, path)


def main(paths: list[str]) -> None:
    moved: list[str] = []
    for path in map(Path, paths):
        kept, counts = [], {"keep": 0, "renamed": 0, "ablation": 0}
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            what, record = retired(json.loads(line))
            counts[what] += 1
            text = line if what == "keep" else json.dumps(record, sort_keys=True, allow_nan=False)
            (moved if what == "ablation" else kept).append(text)
        _write(path, kept)
        print(f"{path}: {counts}")
    if moved:
        old = ABLATIONS_OUT.read_text().splitlines() if ABLATIONS_OUT.exists() else []
        _write(ABLATIONS_OUT, old + moved)
        print(f"{ABLATIONS_OUT}: {len(moved)} ablation records added")


if __name__ == "__main__":
    main(sys.argv[1:])
