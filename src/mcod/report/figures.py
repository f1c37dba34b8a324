"""The pictures of the HTML report, each returned as PNG bytes.

Plots use matplotlib's object API (``Figure`` renders with Agg; pyplot and its global
backend are never touched). Thumbnails are drawn with Pillow: small images are enlarged
by an integer factor with nearest-neighbour sampling, so pixels stay crisp.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

__all__ = ["feature_map", "loss_curves", "roc_pr_curves", "score_histogram", "thumbnail"]

DPI = 110
STAR_SIZE = 320  # memory items' marker area, points^2
LABEL_FONT = 9  # memory items' labels, points
INLIER_COLOUR = "#4c78a8"
OUTLIER_COLOUR = "#e45756"
THRESHOLD_COLOUR = "#d62728"


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def _style(ax) -> None:
    ax.grid(alpha=0.3, linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)


def loss_curves(history: Sequence[dict[str, float]]) -> bytes | None:
    """One small panel per loss term (their scales differ a lot), mean loss per epoch."""
    names = list(dict.fromkeys(name for epoch in history for name in epoch))
    if not names:
        return None
    fig = Figure(figsize=(2.3 * len(names) + 0.4, 2.2), layout="constrained")
    epochs = np.arange(1, len(history) + 1)
    for k, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), k + 1)
        values = [epoch.get(name, np.nan) for epoch in history]
        ax.plot(epochs, values, color=f"C{k}", marker="o" if len(epochs) <= 40 else None, ms=3)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        ax.tick_params(labelsize=8)
        _style(ax)
    return _png(fig)


def score_histogram(scores: np.ndarray, threshold: float, truth: np.ndarray | None = None) -> bytes:
    """Histogram of the scores with the threshold; inliers vs outliers when truth is known."""
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax = fig.add_subplot()
    finite = np.isfinite(threshold)
    edges = np.histogram_bin_edges(
        np.append(scores, threshold) if finite else scores,
        bins=int(np.clip(np.sqrt(len(scores)) * 2, 10, 80)),
    )
    if truth is None:
        groups = [("samples", scores, INLIER_COLOUR)]
    else:
        inliers, outliers = scores[truth == 0], scores[truth == 1]
        groups = [
            (f"inliers ({len(inliers):,})", inliers, INLIER_COLOUR),
            (f"outliers ({len(outliers):,})", outliers, OUTLIER_COLOUR),
        ]
    alpha = 0.85 if truth is None else 0.6
    counts = np.concatenate(
        [ax.hist(v, edges.tolist(), color=c, alpha=alpha, label=label)[0] for label, v, c in groups]
    )
    nonzero = counts[counts > 0]
    if len(nonzero) and nonzero.max() / max(np.median(nonzero), 1) > 15:
        ax.set_yscale("log")
        ax.set_ylabel("samples (log scale)")
    else:
        ax.set_ylabel("samples")
    if finite:
        ax.axvspan(threshold, edges[-1], color=THRESHOLD_COLOUR, alpha=0.06, lw=0)
        label = f"threshold {threshold:.4g}"
        ax.axvline(threshold, color=THRESHOLD_COLOUR, ls="--", lw=1.5, label=label)
    ax.set_xlabel("outlier score (higher = more outlying)")
    ax.legend(fontsize=9, frameon=False)
    _style(ax)
    return _png(fig)


def _pca_2d(features: np.ndarray, items: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Project features (and memory items, in the same basis) on their top 2 principal axes.

    Eigenvectors of the d x d covariance: cheap for any N, and deterministic (each axis'
    sign is fixed so that its largest loading is positive).
    """
    mean = features.mean(axis=0)
    centred = features - mean
    _, vectors = np.linalg.eigh(centred.T @ centred)
    axes = np.zeros((features.shape[1], 2))
    top = vectors[:, ::-1][:, :2]
    axes[:, : top.shape[1]] = top
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), [0, 1]])
    axes *= np.where(signs == 0, 1.0, signs)
    return centred @ axes, None if items is None else (items - mean) @ axes


def _nearby_groups(stars: np.ndarray, everything: np.ndarray, share: float = 0.03) -> list:
    """Indices of the stars grouped when they lie within `share` of the plot's extent of
    each other, so that items at (almost) one place get one label ("2,5,7"), not a pile."""
    span = np.ptp(everything, axis=0)
    scaled = stars / np.where(span > 0, span, 1.0)
    groups: list[list[int]] = []
    for j, position in enumerate(scaled):
        for members in groups:
            if np.abs(scaled[members[0]] - position).max() <= share:
                members.append(j)
                break
        else:
            groups.append([j])
    return groups


def _overlap(box: np.ndarray, others: np.ndarray) -> float:
    """Total area where ``box`` (x0, y0, x1, y1) overlaps the boxes ``others`` (k x 4)."""
    if not len(others):
        return 0.0
    width = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    height = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    return float((np.clip(width, 0, None) * np.clip(height, 0, None)).sum())


def label_boxes(anchors: np.ndarray, sizes: np.ndarray, bounds: Sequence[float],
                avoid: np.ndarray) -> np.ndarray:
    """Boxes (x0, y0, x1, y1), in points, for labels of the given sizes (w, h) near their
    anchors: each placed, in order, at the first spot on rings of growing distance around
    its anchor where it overlaps no label placed before it and no box in ``avoid`` (the
    stars), inside ``bounds`` (x0, y0, x1, y1); where none is free, the spot of least
    overlap. So labels of nearby memory items do not cover each other."""
    angles = np.deg2rad([45, 135, 315, 225, 90, 270, 0, 180])
    placed: list[np.ndarray] = []
    for anchor, (w, h) in zip(anchors, sizes, strict=True):
        best, least = np.zeros(4), np.inf
        for gap in (4.0, 12.0, 22.0, 34.0, 48.0):
            for angle in angles:
                centre = anchor + [np.cos(angle) * (gap + w / 2), np.sin(angle) * (gap + h / 2)]
                box = np.concatenate([centre - [w / 2, h / 2], centre + [w / 2, h / 2]])
                outside = max(bounds[0] - box[0], bounds[1] - box[1], box[2] - bounds[2],
                              box[3] - bounds[3], 0.0)
                cost = (_overlap(box, np.array(placed).reshape(-1, 4)) + _overlap(box, avoid)
                        + outside * (w + h))
                if cost < least:
                    best, least = box, cost
                if cost == 0:
                    break
            if least == 0:
                break
        placed.append(best)
    return np.array(placed).reshape(-1, 4)


def _label_stars(fig: Figure, ax, stars: np.ndarray, groups: list[list[int]]) -> None:
    """Number the memory items' stars, each group's label where it covers no other label
    or star (see `label_boxes`), with a thin line to its star when set apart."""
    fig.draw_without_rendering()  # the layout and the axes' limits, as they will be drawn
    to_points = 72.0 / fig.dpi
    points = ax.transData.transform(stars) * to_points
    texts = [",".join(str(j) for j in members) for members in groups]
    pad = 0.3 * LABEL_FONT
    sizes = np.array([[0.62 * LABEL_FONT * len(t) + pad, 1.25 * LABEL_FONT + pad] for t in texts])
    anchors = points[[members[0] for members in groups]]
    radius = np.sqrt(STAR_SIZE) / 2
    avoid = np.hstack([points - radius, points + radius])
    legend = ax.get_legend()
    if legend is not None:
        avoid = np.vstack([avoid, legend.get_window_extent().extents * to_points])
    boxes = label_boxes(anchors, sizes, ax.bbox.extents * to_points, avoid)
    for text, anchor, box in zip(texts, anchors, boxes, strict=True):
        offset = (box[:2] + box[2:]) / 2 - anchor
        far = np.abs(offset).max() > radius + LABEL_FONT
        annotation = ax.annotate(
            text, tuple(anchor), xycoords="figure points", xytext=tuple(anchor + offset),
            textcoords="figure points", ha="center", va="center", fontsize=LABEL_FONT,
            fontweight="bold", zorder=4,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            arrowprops={"arrowstyle": "-", "lw": 0.6, "color": "#555"} if far else None,
        )
        annotation.set_in_layout(False)


def feature_map(
    features: np.ndarray,
    scores: np.ndarray,
    items: np.ndarray | None = None,
    truth: np.ndarray | None = None,
) -> bytes:
    """2-D PCA map of the features coloured by score, memory items as numbered stars."""
    stars = None if items is None else np.asarray(items, dtype=np.float64)
    points, stars = _pca_2d(np.asarray(features, dtype=np.float64), stars)
    order = np.argsort(scores, kind="stable")  # highest scores drawn last, on top
    fig = Figure(figsize=(7.5, 5.6), layout="constrained")
    ax = fig.add_subplot()
    size = 18 if len(points) < 3000 else 6
    x, y = points[order, 0], points[order, 1]
    dots = ax.scatter(x, y, c=scores[order], cmap="viridis", s=size, alpha=0.9, linewidths=0)
    if truth is not None and truth.any():
        marked = truth.astype(bool)
        ax.scatter(
            points[marked, 0],
            points[marked, 1],
            s=60,
            facecolors="none",
            edgecolors=OUTLIER_COLOUR,
            linewidths=1.2,
            label="true outliers",
        )
    if stars is not None:
        ax.scatter(
            stars[:, 0],
            stars[:, 1],
            marker="*",
            s=STAR_SIZE,
            c="#ffbf00",
            edgecolors="black",
            linewidths=0.9,
            label="memory items",
            zorder=3,
        )
    fig.colorbar(dots, ax=ax, label="outlier score", shrink=0.85)
    ax.set_xlabel("principal axis 1")
    ax.set_ylabel("principal axis 2")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=9, loc="best", framealpha=0.85)
    _style(ax)
    if stars is not None:
        _label_stars(fig, ax, stars, _nearby_groups(stars, np.vstack([points, stars])))
    return _png(fig)


def roc_pr_curves(scores: np.ndarray, truth: np.ndarray) -> bytes:
    """ROC and precision-recall curves side by side, AUROC / AP in the legends."""
    from sklearn.metrics import (
        average_precision_score,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    fig = Figure(figsize=(9, 3.8), layout="constrained")
    roc, pr = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    fpr, tpr, _ = roc_curve(truth, scores)
    auroc = roc_auc_score(truth, scores)
    roc.plot(fpr, tpr, color=OUTLIER_COLOUR, lw=2, label=f"AUROC {auroc:.4f}")
    roc.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="chance")
    roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    precision, recall, _ = precision_recall_curve(truth, scores)
    ap = average_precision_score(truth, scores)
    pr.step(recall, precision, where="post", color=INLIER_COLOUR, lw=2, label=f"AP {ap:.4f}")
    pr.axhline(truth.mean(), color="grey", ls=":", lw=1, label=f"chance {truth.mean():.3f}")
    pr.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    for ax in (roc, pr):
        ax.set(xlim=(0, 1), ylim=(0, 1.02))
        ax.legend(fontsize=9, loc="best", framealpha=0.85)
        _style(ax)
    return _png(fig)


def thumbnail(image: np.ndarray, size: int = 96) -> bytes:
    """PNG of one (C, H, W) image in [0, 1], about `size` px on its long side.

    Small images are enlarged by a whole factor with nearest-neighbour sampling (crisp
    pixels); large ones are reduced with Lanczos. One channel is drawn in grey.
    """
    pixels = (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)
    if pixels.shape[0] == 1:
        picture = Image.fromarray(pixels[0], mode="L")
    else:
        picture = Image.fromarray(np.ascontiguousarray(pixels[:3].transpose(1, 2, 0)), mode="RGB")
    width, height = picture.size
    longest = max(width, height)
    if longest < size:
        factor = max(1, size // longest)
        picture = picture.resize((width * factor, height * factor), Image.Resampling.NEAREST)
    elif longest > size:
        picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
