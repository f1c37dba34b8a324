"""Render ``benchmarks/RESULTS.md`` (and its PNG figures) from results files alone.

The prose is ``results_template.md`` (package data): named snippets with placeholders. This
module computes the tables and fills the snippets in around them.

Accuracy tables use untagged, non-quick runs; every run counts (none is dropped for a low
score). Means are over all runs in a cell (classes x seeds); "± sd" is the sample standard
deviation over those runs; n is the number of runs.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from mcod.bench.cut_tables import cut_table, split_records
from mcod.bench.detectors import MCOD_DETECTORS, TABLE_BASELINES
from mcod.bench.records import (
    best_baselines,
    group,
    order_datasets,
    order_detectors,
    select,
    stats,
    sweep_detectors,
)
from mcod.bench.results import expand_paths, load_all
from mcod.io.atomic import atomic_write


def _load_prose() -> dict[str, str]:
    """results_template.md's snippets: name -> text (a block runs from its ``<!-- name -->``
    line to the next such line; its leading and trailing blank lines are dropped)."""
    text = resources.files("mcod.bench").joinpath("results_template.md").read_text("utf-8")
    parts = re.split(r"^<!-- ([a-z0-9-]+) -->$", text, flags=re.MULTILINE)
    return {name: body.strip("\n") for name, body in zip(parts[1::2], parts[2::2], strict=True)}


PROSE = _load_prose()


def _say(name: str, **fields: object) -> str:
    """The snippet ``name`` with its placeholders filled in."""
    return PROSE[name].format(**fields)


NO_RUNS = _say("no-runs")
RELEASE_NOT_RUN = _say("part3-release-not-run")
COST_PEERS = ("knn-pretrained", "autoencoder")  # part 5's time ratios are to these
REPORT_CMD = "mcod bench report --results benchmarks/results/*.jsonl --out benchmarks/RESULTS.md"
PART_CONFIGS = {
    1: "benchmarks/configs/part1_uod.toml",
    2: "benchmarks/configs/part2_rho_sweep.toml",
    3: "benchmarks/configs/part3_oneclass.toml",
    4: "benchmarks/configs/part4_ablations.toml",
    5: "benchmarks/configs/part5_cost.toml",
    6: "benchmarks/configs/part6_odds.toml",
}
ODDS_REFERENCE = "iforest"  # wins / ties / losses are counted against it
ODDS_TIE = 0.005  # |Δ AUROC| below this is a tie
# Quoted, not measured here: docs/method.md, "Figures measured so far" (third-party logs of the
# authors' release, one-class, rho 0.1, 5 runs x 10 classes, score at the last epoch).
QUOTED_ONECLASS = {"mnist": 0.751, "cifar10": 0.760}
SCHEDULE_FIELDS = ("epochs", "warmup_epochs")  # set per task by the data size, not a setting
# Config fields added after runs were recorded, with the value those runs behaved as.
FIELDS_ADDED_LATER: dict[str, Any] = {
    "consolidate_trim": 0.0,
    "score": "read",
    "score_by_norm": False,
    "table_noise": 0.1,
    "table_mask_rate": 0.15,
    "table_swap_rate": 0.15,
    "table_yeo_johnson": False,
    "members": 1,
    "local_terms": False,
    "image_float64": False,
}


def _class_names(dataset: str) -> tuple[str, ...] | None:
    from mcod.data import datasets as ds

    return {
        "mnist": ds.DIGIT_CLASSES,
        "digits": ds.DIGIT_CLASSES,
        "fashion-mnist": ds.FASHION_CLASSES,
        "cifar10": ds.CIFAR_CLASSES,
    }.get(dataset)


# --------------------------------------------------------------------------- helpers


def _fmt(values: Sequence[float], digits: int = 3, with_n: bool = True) -> str:
    mean, sd, n = stats(values)
    if n == 0:
        return "–"
    text = f"{mean:.{digits}f} ± {sd:.{digits}f}"
    return f"{text} ({n})" if with_n else text


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _regen(part: int) -> str:
    return _say("regenerate", config=PART_CONFIGS[part], report=REPORT_CMD)


# --------------------------------------------------------------------------- sections


def _part1(records: list[dict], figs: dict[str, str]) -> list[str]:
    out = [_say("part1"), "", _regen(1), ""]
    # ablations are compared in part 4, on the tasks they ran; here they would rank
    # a handful of runs against full sweeps
    sel = [r for r in select(records, "uod", 0.1) if r.get("family") != "ablation"]
    if not sel:
        return out + [NO_RUNS, ""]
    datasets = order_datasets({r["dataset"] for r in sel})
    cells = group(sel, "detector", "dataset")
    for metric, title in (("auroc", "AUROC"), ("ap_out", "AP-out (outliers positive)")):
        best = {}
        for d in datasets:
            means = {det: stats([r[metric] for r in rs])[0]
                     for (det, ds), rs in cells.items() if ds == d}
            best[d] = max(means, key=means.__getitem__)
        rows = []
        for det in order_detectors({r["detector"] for r in sel}):
            row = [det]
            for d in datasets:
                text = _fmt([r[metric] for r in cells.get((det, d), [])])
                row.append(f"**{text}**" if best[d] == det else text)
            rows.append(row)
        out += [_say("part1-metric", metric=title), ""]
        out += _table(["detector", *datasets], rows) + [""]

    out += [_say("part1-what-moved"), "", _say("part1-per-class"), ""]
    for d in datasets:
        ds_recs = [r for r in sel if r["dataset"] == d]
        cols = [c for c in MCOD_DETECTORS if any(r["detector"] == c for r in ds_recs)]
        cols += best_baselines(ds_recs, 1)
        by = group(ds_recs, "detector", "class")
        names = _class_names(d)
        rows = []
        for c in sorted({r["class"] for r in ds_recs}):
            name = names[c] if names and 0 <= c < len(names) else str(c)
            label = str(c) if name == str(c) else f"{c} ({name})"
            rows.append([label] + [_fmt([r["auroc"] for r in by.get((det, c), [])])
                                   for det in cols])
        header = [f"{d}: class"] + [
            f"{c} (best baseline)" if c not in MCOD_DETECTORS else c
            for c in cols
        ]
        out += _table(header, rows) + [""]
        if d in figs:
            out += [_say("part1-figure", dataset=d, path=figs[d]), ""]
    return out


def _part2(records: list[dict], figs: dict[str, str]) -> list[str]:
    out = [_say("part2"), "", _regen(2), ""]
    sel = select(records, "uod")
    by_ds = group(sel, "dataset")
    swept = [d for d in order_datasets(k[0] for k in by_ds)
             if len({f"{r['rho']:g}" for r in by_ds[(d,)]}) > 1]
    if not swept:
        return out + [NO_RUNS, ""]
    for d in swept:
        recs = by_ds[(d,)]
        cols = sweep_detectors(recs)
        by = group(recs, "detector", "rho")
        rows = [[f"{rho:g}"] + [_fmt([r["auroc"] for r in by.get((c, rho), [])]) for c in cols]
                for rho in sorted({r["rho"] for r in recs})]
        out += [_say("part2-dataset", dataset=d), ""] + _table(["ρ", *cols], rows) + [""]
        if d in figs:
            out += [_say("part2-figure", dataset=d, path=figs[d]), ""]
    return out


def _part3(records: list[dict]) -> list[str]:
    out = [_say("part3"), "", _regen(3), ""]
    sel = select(records, "oneclass", 0.1)
    datasets = order_datasets({r["dataset"] for r in sel} | set(QUOTED_ONECLASS))
    quoted_row = [_say("part3-quoted-row")]
    quoted_row += [f"{QUOTED_ONECLASS[d]:.3f}" if d in QUOTED_ONECLASS else "–"
                   for d in datasets]
    if not sel:
        out += [NO_RUNS, "", _say("part3-quoted-only"), ""]
        return out + _table(["AUROC", *datasets], [quoted_row]) + [""]
    cells = group(sel, "detector", "dataset")
    rows = []
    for det in order_detectors({r["detector"] for r in sel}):
        rows.append([det] + [
            _fmt([r["auroc"] for r in cells.get((det, d), [])]) + " / "
            + _fmt([r["ap_out"] for r in cells.get((det, d), [])], with_n=False)
            for d in datasets
        ])
    rows.append(quoted_row)
    out += [_say("part3-cells"), ""]
    out += _table(["detector", *datasets], rows) + [""]
    if not any(r["detector"] == "mcod-release" for r in sel):
        out += [RELEASE_NOT_RUN, ""]
    return out


def _ablated(record: dict) -> str | None:
    """The mcod detector an ablation's record changed (its config is named "base-X"), or
    knn-pretrained's (the default's features without the head); None for others."""
    if record["detector"] == "knn-pretrained":
        return "mcod-default"
    if record.get("family") != "ablation":
        return None
    base = str((record.get("config") or {}).get("name", "scratch-")).split("-")[0]
    return f"mcod-{base}"


def _part4(records: list[dict]) -> list[str]:
    out = [_say("part4"), "", _regen(4), ""]
    uod = select(records, "uod", 0.1)
    ablations = [r for r in uod if r.get("family") == "ablation"]
    if not ablations:
        return out + [NO_RUNS, ""]
    rows = []
    for d in order_datasets({r["dataset"] for r in ablations}):
        recs = [r for r in uod if r["dataset"] == d]
        for base in ("mcod-default", "mcod-scratch"):
            changed = [r for r in recs if _ablated(r) == base]
            if not any(r.get("family") == "ablation" for r in changed):
                continue
            ref = {(r["class"], r["seed"]): r for r in recs if r["detector"] == base}
            for det in [base, *order_detectors({r["detector"] for r in changed})]:
                rs = [r for r in recs if r["detector"] == det]
                deltas = [r["auroc"] - ref[(r["class"], r["seed"])]["auroc"]
                          for r in rs if (r["class"], r["seed"]) in ref]
                delta = "–" if det == base or not deltas else (
                    f"{stats(deltas)[0]:+.3f} ({len(deltas)} pairs)")
                rows.append([d, det, _fmt([r["auroc"] for r in rs]),
                             _fmt([r["ap_out"] for r in rs], with_n=False), delta])
    return out + _table(["dataset", "detector", "AUROC", "AP-out", "Δ AUROC"], rows) + [""]


def _part5(records: list[dict]) -> list[str]:
    out = [_say("part5"), "", _regen(5), ""]
    sel = select(records, "uod", tag="cost")
    source = _say("part5-source-cost")
    if not sel:
        sel = select(records, "uod")
        source = _say("part5-source-accuracy")
    out += _cost_table(sel, source) if sel else [NO_RUNS, ""]
    return out + _throughput(records)


def _cost_table(sel: list[dict], source: str) -> list[str]:
    """Fit time, throughput and peak memory per dataset and detector."""
    threads = sorted({str(r.get("threads")) for r in sel})
    cpus = sorted({str((r.get("host") or {}).get("cpus")) for r in sel})
    out = [_say("part5-cost", source=source, threads=", ".join(threads),
                cpus=", ".join(cpus)), ""]
    rows = []
    by = group(sel, "dataset", "detector")
    for d in order_datasets({k[0] for k in by}):
        peers = [stats([r["fit_s"] for r in by.get((d, p), [])])[0]
                 for p in COST_PEERS]
        for det in order_detectors({k[1] for k in by if k[0] == d}):
            rs = by[(d, det)]
            fit_s = stats([r["fit_s"] for r in rs])[0]
            peaks = [r["peak_rss_mb"] for r in rs if r.get("peak_rss_mb") is not None]
            deltas = [r["peak_rss_mb"] - r["base_rss_mb"] for r in rs
                      if r.get("peak_rss_mb") is not None and r.get("base_rss_mb") is not None]
            epochs = sorted({r["epochs"] for r in rs if r.get("epochs")})
            rows.append([
                d, det, str(len(rs)), _num(stats([r.get("n_fit") for r in rs])[0], 0),
                ",".join(str(e) for e in epochs) or "–",
                _num(fit_s, 1),
                *(_num(fit_s / peer, 1) if peer == peer else "–" for peer in peers),
                _num(stats([r.get("train_img_per_s") for r in rs])[0], 0),
                _num(stats([r.get("score_img_per_s") for r in rs])[0], 0),
                _num(max(peaks) if peaks else None, 0),
                _num(max(deltas) if deltas else None, 0),
            ])
    header = ["dataset", "detector", "runs", "n_fit", "epochs", "fit s", "× kNN-pretrained",
              "× AutoEncoder", "train img/s", "score img/s", "peak RSS MB (max)", "Δ MB (max)"]
    return out + _table(header, rows) + [""]


def _throughput(records: list[dict]) -> list[str]:
    """The configurations' speeds measured side by side by benchmarks/throughput.py."""
    sel = [r for r in records if r.get("protocol") == "throughput"]
    if not sel:
        return []
    release = {r["dataset"]: r["train_img_per_s"] for r in sel if r["detector"] == "mcod-release"}
    rows = [[r["dataset"], r["detector"], str(r.get("epochs")), str(r.get("threads")),
             r.get("device", "–"), _num(r["train_img_per_s"], 0), _num(r["score_img_per_s"], 0),
             _num(r["train_img_per_s"] / release[r["dataset"]], 1)
             if r["dataset"] in release else "–", (r.get("timestamp") or "–")[:10]]
            for r in sorted(sel, key=lambda r: (r["dataset"], r["detector"]))]
    header = ["images", "detector", "epochs", "threads", "device", "train img/s",
              "score img/s", "train × release", "date"]
    return [_say("part5-throughput"), ""] + _table(header, rows) + [""]


def average_ranks(values: dict[str, float]) -> dict[str, float]:
    """Rank of each key, 1 = highest value; tied values share the mean of their ranks."""
    from scipy.stats import rankdata

    keys = list(values)
    ranked = rankdata([-float(values[k]) for k in keys], method="average")
    return {k: float(r) for k, r in zip(keys, ranked, strict=True)}


def mean_ranks(cells: dict[str, dict[str, float]],
               detectors: Sequence[str]) -> tuple[dict[str, float], list[str]]:
    """Mean rank over the sets where every one of ``detectors`` has a value
    (``cells[set][detector]``); returns (mean rank per detector, the sets used)."""
    used = [d for d, row in cells.items() if all(det in row for det in detectors)]
    if not used or not detectors:
        return {det: math.nan for det in detectors}, used
    totals = {det: 0.0 for det in detectors}
    for d in used:
        for det, rank in average_ranks({det: cells[d][det] for det in detectors}).items():
            totals[det] += rank
    return {det: totals[det] / len(used) for det in detectors}, used


def wins_ties_losses(cells: dict[str, dict[str, float]], detector: str,
                     reference: str = ODDS_REFERENCE,
                     tie: float = ODDS_TIE) -> tuple[int, int, int]:
    """(wins, ties, losses) of ``detector`` against ``reference`` over the sets where both
    have a value; a tie is |difference| < ``tie``."""
    w = t = lo = 0
    for row in cells.values():
        if detector in row and reference in row:
            diff = row[detector] - row[reference]
            if abs(diff) < tie:
                t += 1
            elif diff > 0:
                w += 1
            else:
                lo += 1
    return w, t, lo


def paired_p_value(cells: dict[str, dict[str, float]], detector: str,
                   reference: str = ODDS_REFERENCE) -> float:
    """Two-sided Wilcoxon signed-rank p of ``detector`` against ``reference`` over the sets
    both have: how likely per-set gaps this one-sided are if neither is better. NaN when
    no set differs."""
    from scipy.stats import wilcoxon

    diffs = [row[detector] - row[reference] for row in cells.values()
             if detector in row and reference in row]
    if not any(diffs):
        return math.nan
    return float(wilcoxon(diffs, zero_method="wilcox").pvalue)


def _odds_order(names: Iterable[str]) -> list[str]:
    names = set(names)
    first = [n for n in ("mcod-tabular", *TABLE_BASELINES) if n in names]
    return first + sorted(names - set(first))


def _part6(records: list[dict]) -> list[str]:
    from mcod.data.datasets import ODDS_NAMES

    out = [_say("part6"), "", _regen(6), ""]
    sel = select(records, "odds")
    if not sel:
        return out + [NO_RUNS, ""]
    dets = _odds_order({r["detector"] for r in sel})
    sets = [d for d in ODDS_NAMES if any(r["dataset"] == d for r in sel)]
    sets += sorted({r["dataset"] for r in sel} - set(sets))
    by = group(sel, "dataset", "detector")
    cells = {m: {d: {det: stats([r[m] for r in by[(d, det)]])[0]
                     for det in dets if (d, det) in by} for d in sets}
             for m in ("auroc", "ap_out")}
    caps = sorted({r["max_n"] for r in sel if r.get("max_n")})
    capped = sorted({r["dataset"] for r in sel if r.get("max_n")})
    cap_text = " or ".join(f"{c:,}" for c in caps)
    capped_text = _say("part6-capped", cap=cap_text, sets=", ".join(capped)) if capped else ""
    seeds = ", ".join(str(s) for s in sorted({r["seed"] for r in sel}))
    out += [_say("part6-settings", seeds=seeds, capped=capped_text), ""]
    for metric, title in (("auroc", "AUROC"), ("ap_out", "AP (outliers positive)")):
        rows = []
        for d in sets:
            row_vals = cells[metric][d]
            best = max(row_vals.values()) if row_vals else math.nan
            rows.append([d] + [
                "–" if det not in row_vals else
                (f"**{row_vals[det]:.3f}**" if row_vals[det] == best else f"{row_vals[det]:.3f}")
                for det in dets])
        out += [_say("part6-metric", metric=title), ""]
        out += _table(["set", *dets], rows) + [""]
    ranks, used = mean_ranks(cells["auroc"], dets)
    ranks_ap, _ = mean_ranks(cells["ap_out"], dets)
    has_ref = any(ODDS_REFERENCE in row for row in cells["auroc"].values())
    rows = []
    for det in sorted(dets, key=lambda x: (math.isnan(ranks[x]), ranks[x])):
        runs = [r for r in sel if r["detector"] == det]
        against = det != ODDS_REFERENCE and has_ref
        wtl = "{}/{}/{}".format(*wins_ties_losses(cells["auroc"], det)) if against else "–"
        p = _num(paired_p_value(cells["auroc"], det), 2) if against else "–"
        rows.append([det, _num(ranks[det], 2), _num(ranks_ap[det], 2),
                     _num(stats([v[det] for v in cells["auroc"].values() if det in v])[0], 3),
                     _num(stats([v[det] for v in cells["ap_out"].values() if det in v])[0], 3),
                     wtl, p, _num(stats([r["fit_s"] for r in runs])[0], 2),
                     str(len({r["dataset"] for r in runs})), str(len(runs))])
    out += [_say("part6-summary", sets=len(used), reference=ODDS_REFERENCE, tie=ODDS_TIE), ""]
    header = ["detector", "mean rank AUROC", "mean rank AP", "mean AUROC", "mean AP",
              f"W/T/L vs {ODDS_REFERENCE}", f"p vs {ODDS_REFERENCE}", "mean fit s", "sets",
              "runs"]
    return out + _table(header, rows) + [""]


# --------------------------------------------------------------------------- entry point


def mixed_settings(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Detectors whose runs recorded more than one configuration: {name: how many}.

    Runs made before a default changed must be moved out of the results files; this
    catches the ones that were not. Runs without a recorded config are not compared; a
    field that older runs did not record counts with the value that they ran with.
    """
    seen: dict[str, set[str]] = defaultdict(set)
    for rec in records:
        config = rec.get("config")
        if config:
            config = {**FIELDS_ADDED_LATER, **config}
            settings = {k: v for k, v in config.items() if k not in SCHEDULE_FIELDS}
            seen[rec["detector"]].add(repr(sorted(settings.items())))
    return {name: len(kinds) for name, kinds in sorted(seen.items()) if len(kinds) > 1}


def _settings_warning(records: list[dict[str, Any]]) -> list[str]:
    mixed = mixed_settings(records)
    if not mixed:
        return []
    names = ", ".join(f"{name} ({n} configurations)" for name, n in mixed.items())
    return [_say("mixed-settings", names=names), ""]


def _part7(records: list[dict]) -> list[str]:
    """Label-free cuts, from `benchmarks/cuts.py`'s records (tag "cuts")."""
    from mcod.cuts import DEFAULT_METHOD

    out = [_say("part7", report=REPORT_CMD, method=DEFAULT_METHOD), ""]
    splits = [(title, rs) for title, rs in split_records(records) if rs]
    if not splits:
        return out + [NO_RUNS, ""]
    for title, rs in splits:
        out += [f"### {cut_table(rs, title)}", ""]
    return out


def render(records: list[dict[str, Any]], sources: Sequence[str] = (),
           figures: dict[str, dict[str, str]] | None = None, command: str = REPORT_CMD,
           quick_left_out: int = 0) -> str:
    """RESULTS.md as text; ``quick_left_out``: quick runs the files hold but the report
    leaves out (said at the top, so an empty report explains itself)."""
    figures = figures or {}
    where = f" in {', '.join(sources)}" if sources else ""
    lines = [_say("title"), "", _say("generated", command=command, runs=len(records),
                                     sources=where), ""]
    lines += _settings_warning(records)
    if quick_left_out:
        lines += [_say("quick-left-out", count=quick_left_out), ""]
    if any(r.get("quick") for r in records):
        lines += [_say("includes-quick"), ""]
    lines += _part1(records, figures.get("per_class", {}))
    lines += _part2(records, figures.get("rho", {}))
    lines += _part3(records)
    lines += _part4(records)
    lines += _part5(records)
    lines += _part6(records)
    lines += _part7(records)
    return "\n".join(lines).rstrip() + "\n"


def write_report(results: Sequence[str | Path], out: str | Path,
                 figures_dir: str | Path | None = None, include_quick: bool = False) -> Path:
    """Read the results files, write RESULTS.md and figures; return the RESULTS.md path."""
    from mcod.bench.figures import write_figures

    out = Path(out)
    paths = expand_paths(results)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no results file found at {', '.join(missing)}")
    complete = [
        r for r in load_all(paths)
        if r.get("protocol") == "throughput"
        or all(isinstance(r.get(m), (int, float)) for m in ("auroc", "ap_out", "ap_in"))
        or (r.get("tag") == "cuts" and isinstance(r.get("cuts"), dict))
    ]
    records = [r for r in complete if include_quick or not r.get("quick")]
    left_out = len(complete) - len(records)
    figures_dir = Path(figures_dir) if figures_dir else out.parent / "figures"
    figs = write_figures(records, figures_dir, relative_to=out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = f"mcod bench report --results {' '.join(map(str, results))} --out {out}" + (
        " --include-quick" if include_quick else "")
    text = render(records, [str(p) for p in paths], figs, command, left_out)
    with atomic_write(out) as handle:
        handle.write(text)
    return out
