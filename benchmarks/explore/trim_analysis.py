"""Offline analysis of `trim_probe.py`'s saved arrays: AUROC at fixed trims, at the best
trim per task, and at trims set by label-free estimates of the outlier share (the labels
only score the estimates), each as the mean change against the default's 0.3.

    python benchmarks/explore/trim_analysis.py /tmp/trim_probe
"""

import json
import sys

import numpy as np

DIR = sys.argv[1] if len(sys.argv) > 1 else "/tmp/trim_probe"
TRIMS = np.array([0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4])
PROTOCOLS = ("oneclass", "uod")


def auroc_at(record: dict, trim: float) -> float:
    """AUROC at ``trim``, linear between the probed trims."""
    return float(np.interp(trim, TRIMS, [record[f"t{t:g}"] for t in TRIMS]))


def tail_share(scores: np.ndarray, k: float) -> float:
    """The share of scores beyond median + k robust sd (MAD)."""
    med = np.median(scores)
    return float(np.mean(scores > med + k * 1.4826 * np.median(abs(scores - med))))


def reweighted_share(arrays, k: float | None, q: float | None) -> float:
    """MCD's reweighting step: the share of rows whose cross-fitted reference distance
    lies beyond the reference rows' own (median + k MAD, or their q quantile)."""
    scores, memory = arrays["train_t0.3"], arrays["memory"]
    ref = scores[memory <= np.quantile(memory, 0.7)]
    cut = np.quantile(ref, q) if q is not None else (
        np.median(ref) + k * 1.4826 * np.median(abs(ref - np.median(ref))))
    return float(np.mean(scores > cut))


def estimates(arrays) -> dict[str, float]:
    out = {}
    for k in (2, 3, 4):
        out[f"memory beyond {k} MAD"] = tail_share(arrays["memory"], k)
        out[f"reference beyond {k} MAD"] = tail_share(arrays["train_t0.3"], k)
    for k in (3, 4, 5):
        out[f"reweighted, {k} MAD"] = reweighted_share(arrays, k, None)
    for q in (0.99, 1.0):
        out[f"reweighted, quantile {q}"] = reweighted_share(arrays, None, q)
    return out


def main() -> None:
    tasks = []
    with open(f"{DIR}/log.jsonl") as log:
        for line in log:
            r = json.loads(line)
            arrays = np.load(f"{DIR}/{r['ds']}_{r['proto']}_c{r['c']}_s{r['seed']}.npz")
            tasks.append((r, estimates(arrays)))

    def mean_change(trim_of) -> str:
        parts = []
        for proto in PROTOCOLS:
            changes = [auroc_at(r, trim_of(r, e)) - r["t0.3"] for r, e in tasks
                       if r["proto"] == proto]
            parts.append(f"{proto} {np.mean(changes):+.4f} (n={len(changes)})")
        return ", ".join(parts)

    for trim in TRIMS:
        print(f"fixed trim {trim:g}: {mean_change(lambda r, e, t=trim: t)}")
    best = {id(r): TRIMS[np.argmax([r[f't{t:g}'] for t in TRIMS])] for r, _ in tasks}
    print(f"best trim per task: {mean_change(lambda r, e: best[id(r)])}")
    for name in tasks[0][1]:
        for times in (1, 2, 3):
            print(f"trim = {times} x {name} (0.01-0.4): "
                  + mean_change(lambda r, e, n=name, m=times: float(np.clip(m * e[n], 0.01, 0.4))))
        for proto in PROTOCOLS:
            values = [e[name] for r, e in tasks if r["proto"] == proto]
            print(f"    {proto}: estimate {min(values):.3f}-{max(values):.3f}")
    for ds in sorted({r["ds"] for r, _ in tasks}):
        for proto in PROTOCOLS:
            sel = [r for r, _ in tasks if r["ds"] == ds and r["proto"] == proto]
            if sel:
                print(f"{ds} {proto}: trim 0.01 {np.mean([r['t0.01'] for r in sel]):.4f}, "
                      f"0.3 {np.mean([r['t0.3'] for r in sel]):.4f}")


if __name__ == "__main__":
    main()
