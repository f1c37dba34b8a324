"""PNG figures for RESULTS.md (matplotlib, Agg backend): AUROC vs rho and per-class bars."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from mcod.bench.records import best_baselines, order_datasets, select, sweep_detectors


def _save(fig: Any, path: Path) -> Path:
    """Write a finished figure as PNG and free it."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _plt().close(fig)
    return path


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_figures(records: list[dict[str, Any]], folder: str | Path,
                  relative_to: str | Path) -> dict[str, dict[str, str]]:
    """Write the figures; return {"rho"|"per_class": {dataset: path relative to relative_to}}."""
    folder = Path(folder)
    out: dict[str, dict[str, str]] = {"rho": {}, "per_class": {}}
    uod = select(records, "uod")
    if not uod:
        return out
    plt = _plt()
    folder.mkdir(parents=True, exist_ok=True)

    def rel(path: Path) -> str:
        return Path(os.path.relpath(path, relative_to)).as_posix()

    for d in order_datasets({r["dataset"] for r in uod}):
        recs = [r for r in uod if r["dataset"] == d]
        rhos = sorted({r["rho"] for r in recs})
        if len(rhos) > 1:
            fig, ax = plt.subplots(figsize=(6, 4))
            for det in sweep_detectors(recs):
                by = defaultdict(list)
                for r in recs:
                    if r["detector"] == det:
                        by[r["rho"]].append(r["auroc"])
                xs = sorted(by)
                ax.errorbar(xs, [np.mean(by[x]) for x in xs], yerr=[np.std(by[x]) for x in xs],
                            marker="o", capsize=3, label=det)
            ax.set(xlabel="ρ (outlier share)", ylabel="AUROC", title=f"UOD, {d}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
            out["rho"][d] = rel(_save(fig, folder / f"auroc_vs_rho_{d}.png"))

        at01 = [r for r in recs if abs(r["rho"] - 0.1) < 1e-9]
        if at01:
            dets = [c for c in ("mcod-default", "mcod-release")
                    if any(r["detector"] == c for r in at01)]
            dets += best_baselines(at01, 3)
            classes = sorted({r["class"] for r in at01})
            fig, ax = plt.subplots(figsize=(max(6, len(classes) * 0.9), 4))
            width = 0.8 / max(1, len(dets))
            for j, det in enumerate(dets):
                means = [np.mean([r["auroc"] for r in at01
                                  if r["detector"] == det and r["class"] == c] or [np.nan])
                         for c in classes]
                ax.bar(np.arange(len(classes)) + j * width, means, width, label=det)
            ax.set_xticks(np.arange(len(classes)) + width * (len(dets) - 1) / 2,
                          [str(c) for c in classes])
            ax.set(xlabel="inlier class", ylabel="AUROC", title=f"UOD ρ=0.1, {d}", ylim=(0, 1))
            ax.axhline(0.5, color="grey", lw=0.8, ls="--")
            ax.legend(fontsize=7)
            out["per_class"][d] = rel(_save(fig, folder / f"per_class_{d}.png"))
    return out
