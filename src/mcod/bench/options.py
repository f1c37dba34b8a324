"""The options of ``mcod bench run``, as plain values: defaults, the ``--quick`` profile,
config files (TOML or JSON) and the rules that check them. The command line that gathers
them is `mcod.cli.bench`.

Every ``run`` option may also come from a config file (same keys with underscores, e.g.
``datasets = ["mnist"]``, ``classes = "0-9"``, ``max_n = 300``, plus an optional
``[ablations]`` table name -> config changes); options given on the command line win.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

QUICK_MAX_N = 300
MIN_MAX_N = 100  # smaller subsamples often hold no outlier at all, and every run then fails
QUICK_CLASSES = "0,1"
QUICK_SEEDS = "0"

DEFAULTS: dict[str, Any] = {
    "datasets": "mnist,fashion-mnist,cifar10",
    "protocol": "uod",
    "rhos": "0.1",
    "classes": None,  # all classes of each dataset
    "seeds": "0,1,2",
    "detectors": "all",
    "results": "benchmarks/results/uod.jsonl",
    "quick": False,
    "max_n": None,
    "data_dir": None,
    "threads": None,
    "tag": "",
    "isolate": None,  # None: fresh processes unless --quick
    "dry_run": False,
    "cold_features": False,
}


def _int_list(text: str) -> list[int]:
    """'0-9' / '0,3,5' / '0-2,7' -> ints."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part[1:]:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return out


def _as_list(value: Any, convert: Any) -> list:
    if isinstance(value, (list, tuple)):
        items = []
        for v in value:
            items.extend(_as_list(v, convert))
        return items
    if convert is int:
        return _int_list(str(value))
    return [convert(v.strip()) for v in str(value).split(",") if v.strip()]


def load_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the same parser, from PyPI
        import tomli as tomllib

    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        kind = "JSON" if path.suffix == ".json" else "TOML"
        raise ValueError(f"{path} is not valid {kind}: {error}") from None
    data = {k.replace("-", "_"): v for k, v in data.items()}
    unknown = set(data) - set(DEFAULTS) - {"ablations"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    return data


def resolve_run_options(given: Mapping[str, Any]) -> dict[str, Any]:
    """The options of a run: those ``given`` (on a command line: option name with
    underscores -> value, None where not given) over a config file's (``given["config"]``)
    over the defaults (``quick`` changes some defaults)."""
    file_opts = load_config_file(given["config"]) if given.get("config") else {}
    opts: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        cli_value = given.get(key)
        # store_true flags default to None; False is only ever given on purpose (--in-process)
        if cli_value is not None and (cli_value is not False or key == "isolate"):
            opts[key] = cli_value
        elif key in file_opts:
            opts[key] = file_opts[key]
        else:
            opts[key] = default
    if opts["quick"]:
        for key, quick_default in (("classes", QUICK_CLASSES), ("seeds", QUICK_SEEDS),
                                   ("max_n", QUICK_MAX_N)):
            if given.get(key) is None and key not in file_opts:
                opts[key] = quick_default
        if opts["isolate"] is None:
            opts["isolate"] = False
    if opts["isolate"] is None:
        opts["isolate"] = True
    if opts["max_n"] not in (None, 0) and int(opts["max_n"]) < MIN_MAX_N:
        raise ValueError(f"max-n must be at least {MIN_MAX_N}, got {opts['max_n']}")
    if opts["threads"] is not None and int(opts["threads"]) < 1:
        raise ValueError(f"threads must be at least 1, got {opts['threads']}")
    lists = {}
    for key, convert in (("datasets", str), ("rhos", float), ("classes", int), ("seeds", int),
                         ("detectors", str)):
        try:
            lists[key] = None if opts[key] is None else _as_list(opts[key], convert)
        except ValueError:
            kind = "integers (0,3,5 or 0-9)" if convert is int else "numbers (0.05,0.1)"
            raise ValueError(f"--{key} must be a comma list of {kind}, got {opts[key]!r}") from None
        if lists[key] == []:
            raise ValueError(f"--{key} lists nothing: {opts[key]!r}")
    from mcod.config import MAX_SEED
    from mcod.data.inputs import check_contamination  # the one home of the (0, 0.5] rule

    seeds, rhos = lists["seeds"] or [], lists["rhos"] or []  # both have defaults
    if any(not 0 <= seed <= MAX_SEED for seed in seeds):
        raise ValueError(f"--seeds must be in 0..2**32 - 1, got {opts['seeds']!r}")
    try:
        for rho in rhos:  # a share of outliers, as the model's contamination
            check_contamination(rho, "--rhos")
    except ValueError:
        raise ValueError(f"--rhos must be in (0, 0.5], got {opts['rhos']!r}") from None
    return {
        **lists,
        "protocol": str(opts["protocol"]),
        "results": str(opts["results"]),
        "quick": bool(opts["quick"]),
        "max_n": None if opts["max_n"] in (None, 0) else int(opts["max_n"]),
        "data_dir": opts["data_dir"],
        "threads": None if opts["threads"] is None else int(opts["threads"]),
        "tag": str(opts["tag"] or ""),
        "isolate": bool(opts["isolate"]),
        "dry_run": bool(opts["dry_run"]),
        "cold_features": bool(opts["cold_features"]),
        "ablations": file_opts.get("ablations"),
    }
