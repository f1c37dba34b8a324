"""How closely onnxruntime's scores of an exported model (`mcod export --onnx`) follow
mcod's own, for one model of each kind and the image models also with ``image_float64``
(`--float64`: float64 throughout) (issue 20, item 3): the largest absolute difference
(and it relative to the largest score), whether the rank order is the same and how many
pairs of samples change places. The rank order is the samples sorted by score from the most
outlying down, samples with exactly equal scores in index order (`ranking`). For scale, it
also prints how many pairs mcod scores exactly alike (duplicate rows) and whether the graph
does too, how close mcod's closest untied scores are, and how much mcod's own scores move
when it scores the samples 7 at a time (on the pretrained path the encoder's float32
convolutions round differently with the batch), and how fast each scores them on one
thread (onnxruntime's session; mcod's `decision_function`, encoding included).

- tables: the `tabular` config on an ODDS table (cardio unless --odds NAME; needs
  $MCOD_DATA_DIR/odds);
- images: the `scratch` config on sklearn's digits (digit 0 plus 10% other digits), then
  the `default` config (the frozen EfficientNet-Lite0) on the same digits, each in float32
  and with ``image_float64``.

The graph's input is prepared as its metadata says (images scaled to [0, 1] and resized
with antialiased bilinear, as mcod does; table rows as they are).

    OMP_NUM_THREADS=1 python benchmarks/onnx_agreement.py
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F

from mcod import MCOD, get_config
from mcod.data.datasets import load_odds
from mcod.export import export_onnx


def _digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    digits = load_digits()
    inliers = digits.images[digits.target == 0]
    others = digits.images[digits.target != 0]
    picked = np.random.default_rng(0).choice(len(others), len(inliers) // 9, replace=False)
    return np.concatenate([inliers, others[picked]]).astype(np.float32)  # values 0..16


def _image_input(images: np.ndarray, pixel_range: tuple[float, float], side: int,
                 channels: int) -> np.ndarray:
    low, high = pixel_range
    x = torch.from_numpy(np.clip((images - low) / (high - low), 0, 1).astype(np.float32))
    x = x[:, None].expand(-1, channels, -1, -1)
    return F.interpolate(x, size=(side, side), mode="bilinear", antialias=True).numpy()


def _compare(name: str, detector: MCOD, X: np.ndarray, x: np.ndarray, folder: Path) -> None:
    path = export_onnx(detector, folder / f"{name.split()[0]}.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0].name
    session.run(None, {feed: x[:7]})  # warm-up
    start = time.perf_counter()
    ours = session.run(None, {feed: x})[0]
    graph_rate = len(x) / (time.perf_counter() - start)
    start = time.perf_counter()
    scores = detector.decision_function(X)
    mcod_rate = len(X) / (time.perf_counter() - start)
    diff = np.abs(ours - scores).max()
    same = np.array_equal(ranking(ours), ranking(scores))
    swapped = swapped_pairs(scores, ours)
    widest = max((abs(scores[i] - scores[j]) for i, j in swapped), default=0.0)
    tied = _tied_pairs(scores)
    distinct = np.unique(scores)
    gap = np.diff(distinct).min() if len(distinct) > 1 else np.inf
    itself = np.concatenate([detector.decision_function(X[i:i + 7]) for i in range(0, len(X), 7)])
    print(f"{name}  n={len(X)}  ({path.stat().st_size / 2**20:.1f} MiB)\n"
          f"  max |onnx - mcod| {diff:.3g} ({diff / np.abs(scores).max():.2g} of the largest "
          f"score, {np.abs(scores).max():.3g})\n"
          f"  same rank order: {same}  pairs in another order: {len(swapped)}"
          + (f" (their mcod scores at most {widest:.3g} apart)" if swapped else "") + "\n"
          f"  exactly tied in mcod: {len(tied)} pairs, tied in onnx too: "
          f"{sum(ours[i] == ours[j] for i, j in tied)}; closest untied mcod scores "
          f"{gap:.3g} apart\n"
          f"  mcod against itself, scoring 7 samples at a time: max diff "
          f"{np.abs(itself - scores).max():.3g}\n"
          f"  samples/s on one thread: onnxruntime {graph_rate:,.0f}, mcod {mcod_rate:,.0f}")


def ranking(scores: np.ndarray) -> np.ndarray:
    """Sample indices from the most outlying down; equal scores in index order."""
    return np.argsort(-scores, kind="stable")


def swapped_pairs(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int]]:
    """The pairs i < j that `ranking` orders differently by ``a`` and by ``b``: i comes
    first where its score is higher or equal (so a tie in one and not the other counts only
    where the other puts j first). None = the same rank order."""
    first_a = a[:, None] >= a[None, :]
    first_b = b[:, None] >= b[None, :]
    i, j = np.nonzero(np.triu(first_a != first_b, k=1))
    return list(zip(i.tolist(), j.tolist(), strict=True))


def _tied_pairs(a: np.ndarray) -> list[tuple[int, int]]:
    i, j = np.nonzero(np.triu(a[:, None] == a[None, :], k=1))
    return list(zip(i.tolist(), j.tolist(), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--odds", default="cardio")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows, _ = load_odds(args.odds)
        fitted = MCOD(random_state=0, device="cpu").fit(rows)
        _compare(f"table:{args.odds}", fitted, rows, rows.astype(np.float64), Path(folder))
        digits = _digits()
        for name, channels in (("scratch", 1), ("default", 3)):
            for float64 in (False, True):
                config = get_config(name).replace(image_float64=float64)
                fitted = MCOD(config=config, random_state=0, device="cpu",
                              feature_cache=None).fit(digits)
                x = _image_input(digits, fitted.pixel_range_, fitted.config_.input_size,
                                 channels)
                _compare(f"images ({name}{', image_float64' * float64})", fitted, digits, x,
                         Path(folder))


if __name__ == "__main__":
    main()
