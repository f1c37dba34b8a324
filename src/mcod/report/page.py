"""A self-contained HTML report on a fitted detector: ``mcod detect --report DIR``.

``write_report`` writes ``DIR/index.html``: one file with every picture embedded as a
base64 PNG data URI and inline CSS, so it opens offline and can be mailed or archived as
is. Nothing is fetched from the network; the only links are those of image thumbnails to
their files, relative to the report's folder. Sections: summary (with the loss curves),
score histogram, top outliers (every flagged sample up to TOP_CAP; thumbnails, or for
tables the columns that deviate), memory (what each item recalls: what mcod learned as
normal; for tables, the columns where its rows differ from all rows), a 2-D feature map,
and, when true labels are known (demo, benchmarks), ROC and precision-recall curves. Every
string that comes from the user (paths, ids, column names, the data source) is
HTML-escaped. Counts are written with thousands separators, image sizes as width x height.

Memory stays bounded as the data grows: samples are embedded EMBED_BLOCK at a time, and
only what the page shows is kept (per memory item its sample count and the samples it
recalls best, as running top-k; the features of at most MAP_SAMPLES randomly drawn samples
plus those shown elsewhere). Past MAP_SAMPLES samples the feature map and the tables'
robust z-scores use that seeded draw and say so; below it the page uses every sample.
"""

from __future__ import annotations

import base64
import datetime as _dt
import os
import warnings
from collections.abc import Iterator, Sequence
from functools import cached_property
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import torch

from mcod import __version__
from mcod.data.inputs import DataWarning, as_image_batch, as_table, image_size_text, is_frame
from mcod.detector import SCORE_BATCH
from mcod.io.atomic import write_atomic
from mcod.io.results import counted, top_indices
from mcod.nn.memory import top_item_counts
from mcod.report import figures as figures

__all__ = ["REPORT_FILE", "is_report", "render_report", "write_report"]

REPORT_FILE = "index.html"
TITLE = "<title>mcod report</title>"  # in every report's first bytes: how one is told apart
# Outliers shown unless told (`top`): every flagged sample, at least TOP_LEAST (so that the
# near misses are seen when few are flagged) and at most TOP_CAP (each thumbnail adds a few
# KB to the page); a note counts the flagged ones left out.
TOP_CAP = 200
TOP_LEAST = 10
RECALL = 8  # samples shown per memory item (images)
TYPICAL_ROWS = 3  # row ids shown per memory item (tables)
PROFILE_ROWS = 100  # rows an item recalls best that its column profile is the median of
DEVIATING = 3  # most deviating columns shown per top row and per memory item (tables)
# Columns named as deviating: a top row's value at least DEVIATION_Z robust sds from the
# column's median (in a normal column, 1 value in 370 lies that far), and a memory item's
# rows' median at least PROFILE_Z from all rows' (a median of many rows moves much less
# than one value does). Below the bar a column is not named: "none stand out".
DEVIATION_Z = 3.0
PROFILE_Z = 1.0
NAME_CHARS = 42  # longer names are shortened on the page (full name on hover)
# The feature map and the tables' column medians / IQRs use at most this many samples,
# drawn at random with SAMPLE_SEED (the same data gives the same page), when there are more.
MAP_SAMPLES = 20_000
SAMPLE_SEED = 0
# Samples embedded at a time: whole scoring batches, so that each sample's features are
# those of one pass over all the data (the network sees the same batches).
EMBED_BLOCK = 16 * SCORE_BATCH


def write_report(
    out_dir: str | os.PathLike[str],
    detector,
    X: np.ndarray,
    files: Sequence[str | os.PathLike[str]] | None = None,
    **options: Any,
) -> Path:
    """Write ``out_dir/index.html`` (``out_dir`` is created; the file replaced atomically).

    ``files``: each sample's image file, which its thumbnails link to (relative to
    ``out_dir``, so that the links work wherever the report and the data are opened
    from). ``options`` are those of ``render_report``.
    """
    out = Path(out_dir).expanduser()
    links = None if files is None else [relative_link(file, out) for file in files]
    page = render_report(detector, X, links=links, **options)
    out.mkdir(parents=True, exist_ok=True)
    return write_atomic(out / REPORT_FILE, lambda handle: handle.write(page))


def relative_link(file: str | os.PathLike[str], folder: Path) -> str:
    """The href of ``file`` in a page in ``folder``: a relative, %-quoted path (a file URI
    where there is none, as across Windows drives)."""
    target = os.path.abspath(Path(file).expanduser())
    try:
        return quote(Path(os.path.relpath(target, os.path.abspath(folder))).as_posix())
    except ValueError:
        return Path(target).as_uri()


def is_report(path: str | os.PathLike[str]) -> bool:
    """Whether the file at ``path`` is a report mcod wrote (its head holds the title), so
    that ``--report DIR`` replaces its own page but not a user's ``index.html``."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return TITLE.encode("ascii") in head


def render_report(
    detector,
    X: np.ndarray,
    *,
    scores: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    truth: np.ndarray | None = None,
    columns: Sequence[str] | None = None,
    filled: np.ndarray | None = None,
    source: str | None = None,
    fit_seconds: float | None = None,
    model: str | None = None,
    top: int | None = None,
    links: Sequence[str] | None = None,
) -> str:
    """The report as one HTML string.

    ``X`` is the data as given to ``fit`` / ``decision_function``; ``scores`` (pass
    ``decision_scores_`` for the training data) are computed from X when not given.
    ``names``: one per sample (image paths, row ids; default: the index). ``truth``
    (1 = outlier) only colours the plots and adds ROC / PR curves; ``columns`` names the
    columns of a table, ``filled`` (N x D, True where --fill-missing filled a gap) marks
    cells that are not data. ``model``: the saved model's file, when the data is new data
    it scores (``mcod score``). ``top``: how many of the highest scores to show (default:
    the flagged ones, see TOP_CAP). ``links``: one href per sample, for its thumbnails.
    """
    original, X = X, np.asarray(X)
    if scores is None:  # scored here, never guessed to be the training scores
        scores = detector.decision_function(_as_fitted(detector, original))
    scores = np.asarray(scores, dtype=np.float64)
    for given, what in ((names, "names"), (links, "links")):
        if given is not None and len(given) != len(scores):
            raise ValueError(f"{len(given):,} {what} for {len(scores):,} samples")
    if top is not None and top < 0:
        raise ValueError(f"top must be at least 0, not {top}")
    if truth is not None:
        truth = np.asarray(truth).astype(np.int64)
        if truth.shape != scores.shape:
            raise ValueError(f"truth {truth.shape} does not match scores {scores.shape}")
    page = _Page(detector, X, scores, names, truth, columns, filled, links)
    shown = top_indices(scores, page.default_top() if top is None else top)
    with warnings.catch_warnings():  # X was scored (and warned about) already: read quietly
        warnings.simplefilter("ignore", DataWarning)
        recall, mapped = _embedded(detector, original, page.flagged,
                                   np.union1d(page.drawn, shown), page.recall_kept,
                                   page.recall_shown)
        sections = [
            ("summary", "Summary", page.summary(source, fit_seconds, model)),
            ("scores", "Score distribution", page.histogram()),
            ("top", "Top outliers", page.top_outliers(shown, new_data=model is not None)),
            ("memory", "Memory: what mcod learned as normal", page.memory(recall)),
            ("map", "Feature map", page.feature_map(*mapped)),
        ]
    if truth is not None and 0 < truth.sum() < len(truth):
        sections.append(("truth", "Ground truth: ROC and precision-recall", page.curves()))
    return _document(sections, source)


def _as_fitted(detector, X: Any) -> Any:
    """A table's values under the model's column names when it was fitted on named
    columns (X holds them in that order), so that the model takes them without a warning."""
    names = getattr(detector, "feature_names_in_", None)
    if names is None or hasattr(X, "columns"):
        return X
    import pandas as pd

    return pd.DataFrame(np.asarray(X), columns=names)


def _blocks(detector, X: Any) -> Iterator[tuple[int, Any]]:
    """(first index, samples) of X in runs of EMBED_BLOCK samples, each as the model takes
    it: embedding a run at a time never holds all N samples' features."""
    for start in range(0, len(X), EMBED_BLOCK):
        rows = X.iloc[start:start + EMBED_BLOCK] if is_frame(X) else X[start:start + EMBED_BLOCK]
        yield start, _as_fitted(detector, rows)


class _Recall:
    """What the memory section needs of every sample's attention, gathered a block of
    samples at a time: per item, how many samples attend most to it, and the unflagged
    samples it recalls best (highest attention; ties: the earlier sample), with their
    attention and features, as a running top ``shown`` (for tables more than the page
    names: a column profile is the median of PROFILE_ROWS).

    Attention compares directions, so a far-out sample can point straight at an item; the
    section shows what the item stands for as normal, so flagged samples are left out.
    """

    def __init__(self, n_items: int, dim: int, shown: int) -> None:
        self.shown = shown
        self.counts = np.zeros(n_items, dtype=np.int64)
        self.best = [np.zeros(0, dtype=np.int64)] * n_items
        self.attention = [np.zeros(0, dtype=np.float32)] * n_items
        self.features = [np.zeros((0, dim), dtype=np.float32)] * n_items

    def add(self, start: int, features: np.ndarray, attention: np.ndarray,
            flagged: np.ndarray) -> None:
        """Take in the samples start, start + 1, ... (after every earlier one)."""
        self.counts += top_item_counts(torch.from_numpy(attention), len(self.counts)).numpy()
        normal = np.flatnonzero(~flagged)
        # each item's best of this block; any of the best overall is among them
        local = np.argsort(-attention[normal], axis=0, kind="stable")[: self.shown]
        for j in range(len(self.counts)):
            rows = normal[local[:, j]]
            # earlier samples first, so that the stable sort keeps them first on ties
            values = np.concatenate([self.attention[j], attention[rows, j]])
            keep = np.argsort(-values, kind="stable")[: self.shown]
            self.best[j] = np.concatenate([self.best[j], start + rows])[keep]
            self.attention[j] = values[keep]
            self.features[j] = np.concatenate([self.features[j], features[rows]])[keep]

    def recalled(self, first: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(indices, features) of every sample among the ``first`` (default: all) some
        item recalls best, each once."""
        best = np.concatenate([b[:first] for b in self.best])
        features = np.concatenate([f[:first] for f in self.features])
        index, at = np.unique(best, return_index=True)
        return index, features[at]


def _embedded(
    detector, X: Any, flagged: np.ndarray, kept: np.ndarray, recall_kept: int,
    shown: int | None = None,
) -> tuple[_Recall, tuple[np.ndarray, np.ndarray]]:
    """One pass over X, EMBED_BLOCK samples at a time: the memory section's `_Recall` (of
    the ``recall_kept`` best per item), and (indices, features) of the samples on the
    feature map: those in ``kept`` (sorted) and the ``shown`` (default: all) each item
    recalls best, in the order of X."""
    items = detector.memory_items_
    recall = _Recall(len(items), items.shape[1], recall_kept)
    features = np.empty((len(kept), items.shape[1]), dtype=np.float32)
    for start, block in _blocks(detector, X):
        block_features, attention = detector.embed(block)
        stop = start + len(block_features)
        recall.add(start, block_features, attention, flagged[start:stop])
        lo, hi = np.searchsorted(kept, [start, stop])
        features[lo:hi] = block_features[kept[lo:hi] - start]
    index, recalled = recall.recalled(shown)
    extra = ~np.isin(index, kept)
    index = np.concatenate([kept, index[extra]])
    order = np.argsort(index, kind="stable")
    return recall, (index[order], np.concatenate([features, recalled[extra]])[order])


def _random_rows(n: int, size: int) -> np.ndarray:
    """All n indices when n <= size, else ``size`` of them drawn without replacement with
    SAMPLE_SEED; sorted."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(SAMPLE_SEED).choice(n, size, replace=False))


# --------------------------------------------------------------------------- page parts


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _img(png: bytes, alt: str, css: str = "", title: str = "") -> str:
    attributes = f' class="{css}"' if css else ""
    attributes += f' title="{escape(title)}"' if title else ""
    return f'<img src="{_data_uri(png)}" alt="{escape(alt)}"{attributes}>'


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else "\u2026" + name[-(NAME_CHARS - 1) :]


def _z_text(z: float) -> str:
    return f"{z:+.1f}" if abs(z) < 1e4 else f"{z:+.2g}"


def _robust_scale(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column median and IQR / 1.349 of the rows given (std where the IQR is 0; 1 where
    both are), for robust z-scores (value - median) / scale. The report passes a seeded
    random MAP_SAMPLES of the rows when there are more (exact below that): quantiles of
    20,000 rows are within about 1% of a column's spread of all rows' (a median's
    standard error is 1.25 sd / sqrt(n)), and holding them costs the same for any N."""
    median = np.median(table, axis=0)
    q75, q25 = np.percentile(table, [75, 25], axis=0)
    scale = (q75 - q25) / 1.349
    scale = np.where(scale > 0, scale, table.std(axis=0))
    return median, np.where(scale > 0, scale, 1.0)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _standing_out(z: np.ndarray, bar: float, most: int) -> np.ndarray:
    """Indices of the (at most ``most``) largest |z| that reach ``bar``, largest first
    (ties: the earlier column)."""
    order = np.argsort(-np.abs(z), kind="stable")[:most]
    return order[np.abs(z[order]) >= bar]


class _Page:
    """The HTML of each section, from one detector and the data it scored."""

    def __init__(self, detector, X, scores, names, truth, columns, filled, links=None) -> None:
        self.detector, self.X, self.scores, self.truth = detector, X, scores, truth
        self.names, self.filled, self.links = names, filled, links
        self.threshold = float(detector.threshold_)
        self.flagged = scores > self.threshold
        self.is_table = detector.input_kind_ == "table"
        self.recall_shown = TYPICAL_ROWS if self.is_table else RECALL
        self.recall_kept = PROFILE_ROWS if self.is_table else RECALL
        self.drawn = _random_rows(len(scores), MAP_SAMPLES)  # for the map and the tables' z
        if self.is_table:
            n_columns = X.shape[1]
            given = [str(c) for c in columns] if columns is not None else []
            # the table's own names, unless missing or not one a column
            self.columns = (given if len(given) == n_columns
                            else [f"column {j}" for j in range(n_columns)])

    # ----------------------------------------------------------------- helpers

    def name(self, i: int) -> str:
        return f"#{i}" if self.names is None else str(self.names[i])

    def default_top(self) -> int:
        """How many top outliers to show unless told: see TOP_CAP."""
        return min(max(int(self.flagged.sum()), TOP_LEAST), TOP_CAP)

    @cached_property
    def robust_scale(self) -> tuple[np.ndarray, np.ndarray]:
        """The table's column medians and robust sds, from the `drawn` rows."""
        return _robust_scale(as_table(self.X[self.drawn], min_samples=1))

    def _images(self, index: np.ndarray) -> np.ndarray:
        """(n, C, H, W) in [0, 1] of the given samples, scaled as the detector scales them
        (by the training images' range: a dark image stays dark)."""
        return as_image_batch(self.X[np.asarray(index)], min_samples=1,
                              value_range=self.detector.pixel_range_)

    def _thumbs(self, index: Sequence[int] | np.ndarray, size: int,
                captions: Sequence[str]) -> str:
        """A grid of thumbnails of the given samples, each over its caption (HTML); none
        for none (a memory item recalls no unflagged sample when all are flagged)."""
        if len(index) == 0:
            return '<p class="note">No unflagged samples to show.</p>'
        pictures = self._images(np.asarray(index))
        cards = []
        for i, picture, caption in zip(index, pictures, captions, strict=True):
            css = "flag" if self.flagged[i] else ""
            name = self.name(i)
            image = _img(figures.thumbnail(picture, size), name, css, title=name)
            if self.links is not None:
                image = f'<a href="{escape(self.links[i])}">{image}</a>'
            cards.append(
                f'<figure class="thumb">{image}<figcaption>{caption}</figcaption></figure>'
            )
        return '<div class="grid">' + "".join(cards) + "</div>"

    # ----------------------------------------------------------------- sections

    def summary(self, source: str | None, fit_seconds: float | None, model: str | None) -> str:
        d, n = self.detector, len(self.scores)
        columns = self.X.shape[-1]
        config = d.config_
        facts = [
            ("samples", f"{n:,}"),
            ("input", f"table of {counted(columns, 'column')}" if self.is_table
             else f"images, each {image_size_text(self.X)} ({self.X.dtype})"),
            (
                "configuration",
                f"{config.name} ({counted(config.epochs, 'epoch')}, "
                f"batch {config.batch_size}, "
                f"{config.n_memory} memory items"
                + (f"; {config.members} networks, scores averaged" if config.members > 1 else "")
                + ")",
            ),
            *([("score", f"whitened distance to the {1 - config.reference_trim:.0%} of the "
                         "training samples the memory trusts most"
                         + ("; with the distance to the nearest training sample and LOF"
                            if config.local_terms else ""))]
              if config.reference_trim else []),
            ("contamination", f"{d.contamination:g}"),
            ("threshold", _fmt(self.threshold)),
            ("flagged as outliers", f"{int(self.flagged.sum()):,} ({self.flagged.mean():.1%})"),
            ("score range", f"{_fmt(self.scores.min())} to {_fmt(self.scores.max())}"),
            ("device", str(getattr(d, "device_", "?"))),
        ]
        if self.filled is not None:
            facts.append(("missing values", f"{counted(int(self.filled.sum()), 'cell')} "
                                            "filled by --fill-missing, marked 'filled' where "
                                            "shown"))
        if fit_seconds is not None:
            facts.append(("training time", f"{fit_seconds:.1f} s"))
        if model:
            facts.insert(0, ("model", f"{model}, saved earlier: the data is scored with its "
                                      "threshold, not trained on"))
        if source:
            facts.insert(0, ("data", source))
        if self.truth is not None and 0 < self.truth.sum() < n:
            from sklearn.metrics import average_precision_score, roc_auc_score

            auroc = roc_auc_score(self.truth, self.scores)
            ap = average_precision_score(self.truth, self.scores)
            facts.append(
                (
                    "vs. true labels",
                    f"AUROC {auroc:.4f}, AP {ap:.4f} "
                    f"({counted(int(self.truth.sum()), 'true outlier')})",
                )
            )
        rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts)
        html = f'<table class="facts">{rows}</table>'
        history = getattr(d, "history_", None) or []
        curves = figures.loss_curves(history)
        if curves is not None:
            over = f", over the {config.members} networks" if config.members > 1 else ""
            when = " (when the saved model was trained)" if model else ""
            html += (
                f"<h3>Training loss per epoch{when}</h3>{_img(curves, 'training loss curves')}"
                f'<p class="note">Mean of each loss term per epoch{over}: inst, the '
                "instance contrastive loss (two views of a sample agree); clu, the cluster "
                "contrastive loss over memory assignments; bal, the balance of memory usage; "
                "read, how far features are from what memory recalls (the score's basis"
                + (f"; on from epoch {config.warmup_epochs + 1}, after a warm-up"
                   if config.warmup_epochs else "")
                + ").</p>"
            )
        return html

    def histogram(self) -> str:
        png = figures.score_histogram(self.scores, self.threshold, self.truth)
        note = (
            "Samples right of the dashed threshold are flagged as outliers "
            f"(the top {self.detector.contamination:g} share of the training scores)."
        )
        if self.truth is not None:
            note += " Colours show the true labels, which were not used for training."
        return _img(png, "score histogram") + f'<p class="note">{escape(note)}</p>'

    def top_outliers(self, index: np.ndarray, new_data: bool = False) -> str:
        """The samples at ``index`` (the highest scores, highest first). ``new_data``: rows
        scored by a saved model, whose deviations are measured from its training rows (a
        few new rows say little about each other)."""
        if len(index) == 0:
            return '<p class="note">No samples.</p>'
        left_out = int(self.flagged.sum() - self.flagged[index].sum())
        more = (f'<p class="note">{counted(left_out, "more flagged sample")} not shown: the '
                f"page shows the {len(index):,} highest scores (every flagged sample, at "
                f"most {TOP_CAP:,}, unless told: <code>--report-top N</code>).</p>"
                if left_out else "")
        if self.is_table:
            return self._top_rows(index, new_data) + more
        captions = []
        for rank, i in enumerate(index, start=1):
            name = self.name(i)
            caption = (
                f"<b>#{rank}</b> score {_fmt(self.scores[i])}<br>"
                f'<span class="name" title="{escape(name)}">{escape(_short(name))}</span>'
            )
            if self.truth is not None:
                true = "out" if self.truth[i] else "in"
                caption += f'<br><span class="badge {true}">true {true}lier</span>'
            captions.append(caption)
        note = (
            "The highest-scoring samples, most outlying first; a red frame marks a "
            "score above the threshold."
            + (" Click a picture to open its file." if self.links is not None else "")
        )
        return f'<p class="note">{note}</p>' + self._thumbs(index, 96, captions) + more

    def _top_rows(self, index: np.ndarray, new_data: bool) -> str:
        """The rows at ``index`` with the columns that deviate (|z| >= DEVIATION_Z); only
        these rows' z-scores are computed (the robust ones' medians and IQRs from `drawn`)."""
        table = as_table(self.X[index], min_samples=1)
        if new_data:
            with np.errstate(over="ignore"):  # z as the model standardises, not clipped
                z = self.detector.preprocessor_.z_scores(table)
            basis = ("z = (value &minus; training mean) / training sd: how far it lies from "
                     "the rows the model was trained on.")
        else:
            median, scale = self.robust_scale
            z = (table - median) / scale
            basis = "z = (value &minus; column median) / (IQR / 1.349), a robust z-score"
            basis += (f" (median and IQR of {self._drawn_share('rows')})."
                      if self._subsampled() else ".")
        width = min(DEVIATING, table.shape[1])
        head = "".join(f"<th>deviation {k + 1}</th>" for k in range(width))
        header = f"<tr><th>rank</th><th>row</th><th>score</th>{head}"
        header += "<th>true label</th></tr>" if self.truth is not None else "</tr>"
        rows = []
        for rank, (i, row, row_z) in enumerate(zip(index, table, z, strict=True), start=1):
            cells = [
                f"<td>{rank:,}</td>",
                f"<td>{escape(self.name(i))}</td>",
                f'<td class="{"flag" if self.flagged[i] else ""}">{_fmt(self.scores[i])}</td>',
            ]
            deviating = _standing_out(row_z, DEVIATION_Z, width)
            for j in deviating:
                filled = self.filled is not None and self.filled[i, j]
                cells.append(
                    f"<td><b>{escape(self.columns[j])}</b> = {_fmt(row[j])}"
                    + (" <i>filled</i>" if filled else "")
                    + f'<br><span class="z">z {_z_text(row_z[j])}</span></td>'
                )
            if not len(deviating):
                cells.append(f'<td colspan="{width}" class="none">none stand out (every '
                             f"|z| &lt; {DEVIATION_Z:g})</td>")
            else:
                cells.append("<td></td>" * (width - len(deviating)))
            if self.truth is not None:
                cells.append(f"<td>{'outlier' if self.truth[i] else 'inlier'}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        note = (
            f"The highest-scoring rows with the columns that deviate, most first: {basis} "
            f"A column is named when |z| &ge; {DEVIATION_Z:g} (in a normal column 1 value in "
            "370 lies that far); a row where none does is unusual in how its values go "
            "together, not in one of them. Red scores are above the threshold."
        )
        return f'<p class="note">{note}</p><table class="data">{header}{"".join(rows)}</table>'

    def memory(self, recall: _Recall) -> str:
        """Every memory item by usage, with the samples it recalls best (over all samples);
        for tables, with its column profile."""
        n = len(self.scores)
        usage = recall.counts / n
        order = np.argsort(-usage, kind="stable")
        note = (
            "Each memory item is a prototype of normal data. Usage is the share of "
            "samples whose strongest attention goes to the item; the samples shown are "
            "the unflagged ones it recalls best (highest attention), i.e. what it stands for."
        )
        if self.is_table:
            note += (
                f" Its profile: the columns where the median of the {PROFILE_ROWS:,} "
                "unflagged rows it recalls best (fewer where fewer are unflagged) lies "
                f"furthest from all rows' median, when |z| &ge; {PROFILE_Z:g}, z in robust "
                "sds of all rows as above; below that, none stand out."
            )
        parts = [f'<p class="note">{note}{self._first_network_only()}</p>']
        if self.is_table:
            parts.append(
                '<table class="data"><tr><th>item</th><th>usage</th>'
                "<th>most typical rows (attention)</th>"
                "<th>profile: its rows' median vs all rows'</th></tr>"
            )
        for j in order:
            best, attention = recall.best[j], recall.attention[j]
            bar = (
                f'<span class="bar"><span style="width:{usage[j] * 100:.1f}%"></span></span>'
                f"{usage[j]:.1%}"
            )
            if self.is_table:
                rows = ", ".join(f"{escape(self.name(i))} ({a:.2f})"
                                 for i, a in zip(best[:TYPICAL_ROWS], attention, strict=False))
                parts.append(f"<tr><td>{j}</td><td>{bar}</td><td>{rows}</td>"
                             f"<td>{self._profile(best)}</td></tr>")
                continue
            captions = [f"{a:.2f}" for a in attention]
            parts.append(
                f'<div class="item"><div class="itemhead"><b>item {j}</b>{bar}'
                f'<span class="count">{counted(int(round(usage[j] * n)), "sample")}</span></div>'
                f"{self._thumbs(best, 56, captions)}</div>"
            )
        if self.is_table:
            parts.append("</table>")
        return "".join(parts)

    def _profile(self, rows: np.ndarray) -> str:
        """The columns where the median of ``rows`` (a memory item's) stands out from all
        rows' median, by at least PROFILE_Z robust sds (HTML)."""
        if len(rows) == 0:
            return "no unflagged rows"
        median, scale = self.robust_scale
        typical = np.median(as_table(self.X[np.sort(rows)], min_samples=1), axis=0)
        z = (typical - median) / scale
        standing = _standing_out(z, PROFILE_Z, DEVIATING)
        if not len(standing):
            return f'<span class="none">none stand out (every |z| &lt; {PROFILE_Z:g})</span>'
        return "<br>".join(
            f"<b>{escape(self.columns[j])}</b> {_fmt(typical[j])} vs {_fmt(median[j])} "
            f'<span class="z">z {_z_text(z[j])}</span>' for j in standing)

    def feature_map(self, index: np.ndarray, features: np.ndarray) -> str:
        """The map of the samples at ``index`` (all, or the drawn ones with those shown in
        the sections above), whose ``features`` these are."""
        truth = None if self.truth is None else self.truth[index]
        png = figures.feature_map(features, self.scores[index], self.detector.memory_items_,
                                  truth)
        note = (
            "The features the score is measured in, projected on their two principal "
            "axes (PCA); colour is the outlier score, stars are the memory items "
            "(numbered as above)."
        )
        if self._subsampled():
            note += (f" Shown: {len(index):,} of {len(self.scores):,} samples: "
                     f"{self._drawn_share('samples')} and every one shown above (the top "
                     "outliers and what each memory item recalls best).")
        return _img(png, "feature map") + f'<p class="note">{note}{self._first_network_only()}</p>'

    def _subsampled(self) -> bool:
        """Whether `drawn` holds only some of the samples (there are over MAP_SAMPLES)."""
        return len(self.drawn) < len(self.scores)

    def _drawn_share(self, noun: str) -> str:
        """'a random 20,000 of the 1,000,000 rows (seeded)': what `drawn` is."""
        return f"a random {len(self.drawn):,} of the {len(self.scores):,} {noun} (seeded)"

    def _first_network_only(self) -> str:
        """A note for models of several networks: memory and features are the first's."""
        if self.detector.config_.members == 1:
            return ""
        return (
            " Shown: the memory and features of the first of the networks whose scores"
            " are averaged."
        )

    def curves(self) -> str:
        png = figures.roc_pr_curves(self.scores, self.truth)
        note = "How well the score ranks the true outliers first (labels never used to train)."
        return _img(png, "ROC and precision-recall curves") + f'<p class="note">{note}</p>'


# --------------------------------------------------------------------------- document

CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #222; background: #f4f5f7; margin: 0; }
header { background: #1f2d3d; color: #fff; padding: 18px 32px; }
header h1 { margin: 0; font-size: 24px; }
header p { margin: 4px 0 0; color: #c8d1dc; font-size: 13px; }
nav { background: #fff; border-bottom: 1px solid #dde1e6; padding: 8px 32px;
      position: sticky; top: 0; z-index: 1; }
nav a { color: #1f5fa8; margin-right: 18px; text-decoration: none; font-size: 14px; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 24px 40px; }
section { background: #fff; border: 1px solid #dde1e6; border-radius: 8px;
          margin: 18px 0; padding: 12px 24px 20px; }
h2 { font-size: 20px; margin: 8px 0 12px; border-bottom: 2px solid #e8ebef; padding-bottom: 6px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
img { max-width: 100%; }
.note { color: #555; font-size: 13.5px; margin: 6px 0 12px; }
table.facts th { text-align: left; font-weight: 600; padding: 3px 24px 3px 0; color: #444;
                 vertical-align: top; white-space: nowrap; }
table.facts td { padding: 3px 0; }
table.data { border-collapse: collapse; font-size: 13.5px; }
table.data th, table.data td { border: 1px solid #dde1e6; padding: 4px 10px; text-align: left;
                               vertical-align: top; }
table.data th { background: #f0f2f5; }
td.flag { color: #c62828; font-weight: 600; }
.z { color: #777; font-size: 12px; }
.none { color: #777; font-style: italic; }
.grid { display: flex; flex-wrap: wrap; gap: 10px; }
.thumb { margin: 0; text-align: center; font-size: 12px; line-height: 1.3; }
.thumb img { image-rendering: pixelated; display: block; margin: 0 auto 3px;
             border: 3px solid #d9dde2; border-radius: 3px; }
.thumb img.flag { border-color: #e45756; }
.grid .thumb { width: 112px; }
.item .grid .thumb { width: auto; }
.name { color: #555; word-break: break-all; }
.badge { display: inline-block; margin-top: 2px; padding: 0 6px; border-radius: 8px;
         font-size: 11px; }
.badge.out { background: #fde2e1; color: #b71c1c; }
.badge.in { background: #e3edf8; color: #1f4e80; }
.item { border-top: 1px solid #eef0f3; padding: 10px 0; }
.itemhead { display: flex; align-items: center; gap: 12px; margin-bottom: 6px; }
.count { color: #777; font-size: 13px; }
.bar { display: inline-block; width: 120px; height: 10px; background: #e8ebef;
       border-radius: 5px; overflow: hidden; vertical-align: middle; margin-right: 6px; }
.bar span { display: block; height: 100%; background: #4c78a8; }
footer { color: #888; font-size: 12px; text-align: center; padding: 0 0 24px; }
"""


def _document(sections: list[tuple[str, str, str]], source: str | None) -> str:
    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    subtitle = f"mcod {__version__} &middot; {now}"
    if source:
        subtitle += f" &middot; {escape(source)}"
    nav = "".join(
        f'<a href="#{anchor}">{escape(title.split(":")[0])}</a>' for anchor, title, _ in sections
    )
    body = "".join(
        f'<section id="{anchor}"><h2>{escape(title)}</h2>{html}</section>'
        for anchor, title, html in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"{TITLE}\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>mcod outlier report</h1><p>{subtitle}</p></header>\n"
        f"<nav>{nav}</nav>\n<main>\n{body}\n</main>\n"
        f"<footer>Written by mcod {__version__}; self-contained, works offline.</footer>\n"
        "</body>\n</html>\n"
    )
