"""One-off (run once, for 0.2): the records of runs made before the configs were renamed.

In 0.2 the from-scratch image config that was "default" became "scratch" and the pretrained
encoder config became "default". The runs themselves are unchanged; only their names move:
detector "mcod-default" -> "mcod-scratch", config name "default" -> "scratch" and an
ablation's "default-X" -> "scratch-X" (the built-in ablations of those runs changed the
from-scratch config). Records whose names are already new are left alone.

    python benchmarks/explore/rename_0_2.py benchmarks/results/*.jsonl
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path


def renamed(line: str) -> str:
    """The line with the names of a run before 0.2 moved; any other line as it was."""
    if not line.strip():
        return line
    record = json.loads(line)
    if not record.get("mcod_version", "0.1.0").startswith("0.1."):
        return line
    changed = record.get("detector") == "mcod-default"
    if changed:
        record["detector"] = "mcod-scratch"
    config = record.get("config")
    if isinstance(config, dict) and str(config.get("name", "")).startswith("default"):
        config["name"] = "scratch" + config["name"][len("default"):]
        changed = True
    return json.dumps(record, sort_keys=True, allow_nan=False) if changed else line


def main(paths: list[str]) -> None:
    for path in map(Path, paths):
        lines = path.read_text().splitlines()
        out = [renamed(line) for line in lines]
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as handle:
            handle.write("\n".join(out) + "\n")
        os.replace(handle.name, path)
        changed = sum(a != b for a, b in zip(lines, out, strict=True))
        print(f"{path}: {changed} of {len(lines)} renamed")


if __name__ == "__main__":
    main(sys.argv[1:])
