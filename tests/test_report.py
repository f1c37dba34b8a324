"""The HTML report (`mcod detect --report DIR`): content, escaping, offline, in a browser."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from mcod import MCOD, __version__
from mcod.cli.main import main
from mcod.io.results import top_indices
from mcod.report import page as report_module
from mcod.report.page import (
    DEVIATION_Z,
    PROFILE_Z,
    RECALL,
    REPORT_FILE,
    TOP_CAP,
    TOP_LEAST,
    _embedded,
    _fmt,
    _random_rows,
    _Recall,
    _robust_scale,
    _z_text,
    render_report,
    write_report,
)

FAST = ["--epochs", "1", "--batch-size", "20", "--device", "cpu"]
IMAGE_HEADINGS = ("Summary", "Score distribution", "Top outliers", "Memory", "Feature map")
EVIL = "<script>alert(1)</script>"


def _images() -> tuple[np.ndarray, np.ndarray]:
    """40 dim random 8x8 images plus 4 bright ones (the planted outliers)."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 90, size=(44, 8, 8), dtype=np.uint8)
    X[40:] = rng.integers(200, 256, size=(4, 8, 8), dtype=np.uint8)
    return X, (np.arange(44) >= 40).astype(np.int64)


@pytest.fixture(scope="module")
def image_report(tmp_path_factory):
    """(detector, path of index.html, its text) for a tiny image model with true labels."""
    X, truth = _images()
    detector = MCOD(config="scratch", epochs=1, random_state=0, device="cpu").fit(X)
    names = [f"photos/{EVIL}/img{i:02d}.png" for i in range(len(X))]
    out = tmp_path_factory.mktemp("report") / "rep"
    source = f"test {EVIL}"
    path = write_report(out, detector, X, names=names, truth=truth, source=source, fit_seconds=1.5)
    return detector, path, path.read_text(encoding="utf-8")


def clone_with_config(detector, config):
    """A shallow copy of a fitted detector that reports another (schedule) config."""
    import copy

    other = copy.copy(detector)
    other.config_ = config
    return other


def _external_references(html: str) -> list[str]:
    """Every src=/href= that is not an inline data URI or an in-page anchor."""
    targets = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]*)""", html, flags=re.IGNORECASE)
    return [t for t in targets if not (t.startswith("data:") or t.startswith("#"))]


# --------------------------------------------------------------------------- images


def test_image_report_has_every_section_and_picture(image_report):
    detector, path, html = image_report
    assert path.name == REPORT_FILE and path.is_file()
    for heading in (*IMAGE_HEADINGS, "ROC and precision-recall"):
        assert f"{heading}" in html
    n_items = detector.memory_items_.shape[0]
    assert detector.labels_.sum() < TOP_LEAST  # so the top TOP_LEAST are shown
    # loss curves, histogram, top outliers, RECALL per memory item, map, ROC/PR
    expected = 1 + 1 + TOP_LEAST + n_items * RECALL + 1 + 1
    assert html.count("<img") == expected and html.count("<b>#") == TOP_LEAST
    assert "<td>images, each 8x8 grey (uint8)</td>" in html
    assert "AUROC" in html and "true outlier" in html
    assert "inst, the instance contrastive loss" in html  # the loss names are explained
    assert "after a warm-up" not in html  # one epoch: no warm-up to speak of
    config = detector.config_.replace(epochs=20, warmup_epochs=5)  # a default-like schedule
    warmed = render_report(clone_with_config(detector, config), _images()[0])
    assert "read, how far features are from what memory recalls" in warmed
    assert "on from epoch 6, after a warm-up" in warmed
    assert f"mcod {__version__}" in html
    assert not [p for p in path.parent.iterdir() if p.name != REPORT_FILE]  # no temp files


def test_a_report_on_new_images_that_are_all_flagged_shows_no_typical_ones(image_report):
    detector, _, _ = image_report
    new, _ = _images()
    scores = np.full(3, detector.threshold_ + 1.0)  # every scored image above the threshold
    html = render_report(detector, new[:3], scores=scores, model="m.pt")
    assert html.count("No unflagged samples to show.") == detector.memory_items_.shape[0]


def _flagged_scores(detector, n: int, flagged: int) -> np.ndarray:
    """n scores, the first ``flagged`` of them above the detector's threshold."""
    scores = np.linspace(detector.threshold_ - 1.0, detector.threshold_ - 2.0, n)
    scores[:flagged] = detector.threshold_ + np.linspace(2.0, 1.0, flagged)
    return scores


def test_the_top_outliers_are_every_flagged_one_up_to_the_cap(image_report, monkeypatch):
    detector, _, _ = image_report
    X, _ = _images()
    html = render_report(detector, X, scores=_flagged_scores(detector, 44, 30))
    assert html.count("<b>#") == 30 and "not shown" not in html
    html = render_report(detector, X, scores=_flagged_scores(detector, 44, 30), top=4)
    assert html.count("<b>#") == 4
    assert "26 more flagged samples not shown: the page shows the 4 highest" in html
    monkeypatch.setattr(report_module, "TOP_CAP", 12)
    html = render_report(detector, X, scores=_flagged_scores(detector, 44, 30))
    assert html.count("<b>#") == 12 and "18 more flagged samples not shown" in html
    assert "at most 12, unless told: <code>--report-top N</code>" in html
    html = render_report(detector, X, scores=_flagged_scores(detector, 44, 0))
    assert html.count("<b>#") == TOP_LEAST and "not shown" not in html  # the near misses


def test_report_top_is_an_option_whose_help_states_the_default(capsys):
    assert main(["detect", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert (f"--report-top N show the N highest-scoring samples in the report (default: every "
            f"flagged one, at least {TOP_LEAST} and at most {TOP_CAP})") in text


def test_thumbnails_link_to_their_files_relative_to_the_report(tmp_path):
    photos = tmp_path / "data" / "my photos"
    photos.mkdir(parents=True)
    X, _ = _images()
    files = []
    for i, image in enumerate(X):
        files.append(photos / f"img #{i:02d}.png")  # a space and a '#' to be quoted
        Image.fromarray(image).save(files[-1])
    detector = MCOD(config="scratch", epochs=1, random_state=0, device="cpu").fit(X)
    out = tmp_path / "reports" / "rep"
    path = write_report(out, detector, X, files=files, names=[str(f) for f in files])
    html = path.read_text(encoding="utf-8")
    links = re.findall(r'<a href="([^"]*)"><img', html)
    assert len(links) == html.count("<img") - 3  # every thumbnail: all but loss, histogram, map
    assert all(link.startswith("../../data/my%20photos/img%20%23") for link in links)
    assert {(out / unquote(link)).resolve() for link in links} <= {f.resolve() for f in files}
    assert "Click a picture to open its file." in html
    assert all(src.startswith("data:") for src in re.findall(r'src="([^"]*)"', html))
    with contextlib.redirect_stdout(io.StringIO()):  # the command line links a folder's too
        assert main(["detect", str(photos), *FAST, "--quiet", "--report", str(out)]) == 0
    links = re.findall(r'<a href="([^"]*)"><img', path.read_text(encoding="utf-8"))
    assert links and {(out / unquote(link)).resolve() for link in links} <= set(files)


def test_report_is_self_contained(image_report):
    _, _, html = image_report
    assert _external_references(html) == []
    assert "http://" not in html and "https://" not in html
    assert "@import" not in html and "url(" not in html


def test_user_strings_are_escaped(image_report):
    _, _, html = image_report
    assert "<script" not in html.lower()  # the page has no scripts at all
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_report_for_other_data_scores_it(image_report, tmp_path):
    """Data other than the training set (as `mcod score` passes) is scored, not mixed up."""
    detector, _, _ = image_report
    X, _ = _images()
    path = write_report(tmp_path, detector, X[:30])
    html = path.read_text(encoding="utf-8")
    facts = dict(re.findall(r"<tr><th>([^<]*)</th><td>([^<]*)</td></tr>", html))
    scores = detector.decision_function(X[:30])
    flagged = int((scores > detector.threshold_).sum())
    assert facts["samples"] == "30"  # the new data, not the 44 trained on
    assert facts["flagged as outliers"] == f"{flagged} ({flagged / 30:.1%})"
    assert facts["score range"] == f"{_fmt(scores.min())} to {_fmt(scores.max())}"
    top = scores.max()
    assert _fmt(top) in html  # the top outlier shown is the new data's, not the training set's
    assert _fmt(detector.decision_scores_.max()) not in html


# --------------------------------------------------------------------------- tables


def test_table_report_shows_deviating_columns(tmp_path):
    rng = np.random.default_rng(0)
    T = rng.normal(size=(60, 5))
    T[7, 3] = 25.0  # one wild value
    detector = MCOD(epochs=1, random_state=0, device="cpu").fit(T)
    assert detector.input_kind_ == "table"
    columns = ["alpha", "beta", "gamma", f"delta {EVIL}", "eps"]
    ids = [f"row-{i}" for i in range(60)]
    path = write_report(tmp_path, detector, T, names=ids, columns=columns, top=60)
    html = path.read_text(encoding="utf-8")
    for heading in IMAGE_HEADINGS:
        assert heading in html
    assert "deviation 1" in html and "robust z-score" in html
    row7 = re.search(r"<td>row-7</td>.*?</tr>", html, flags=re.DOTALL)
    assert row7 is not None
    first_deviation = re.search(r"<b>(.*?)</b>", row7.group(0))
    assert first_deviation is not None
    assert first_deviation.group(1) == "delta &lt;script&gt;alert(1)&lt;/script&gt;"
    assert "most typical rows" in html
    start = html.index("most typical rows")
    memory_table = html[start : html.index("</table>", start)]
    assert memory_table.count("<tr>") == detector.memory_items_.shape[0]
    for i in np.flatnonzero(detector.labels_):  # flagged rows never stand for normal data
        assert f"row-{i} (" not in memory_table
    assert "5 networks, scores averaged" in html  # the tabular config's ensemble is named
    assert "<td>table of 5 columns</td>" in html
    assert "per epoch, over the 5 networks" in html
    assert html.count("memory and features of the first of the networks") == 2  # memory, map
    assert "<script" not in html.lower()
    assert _external_references(html) == []
    filled = np.zeros(T.shape, bool)
    filled[7, 3] = True  # as if --fill-missing had put the wild value there
    html = render_report(detector, T, names=ids, columns=columns, filled=filled, top=60)
    assert "1 cell filled by --fill-missing" in html
    row7 = re.search(r"<td>row-7</td>.*?</tr>", html, flags=re.DOTALL).group(0)
    assert row7.count("<i>filled</i>") == 1 and "= 25 <i>filled</i>" in row7


def test_table_deviations_name_only_the_columns_past_the_bar():
    rng = np.random.default_rng(0)
    T = rng.normal(size=(60, 5))
    T[7, 3] = 25.0
    T[11, [0, 2]] = [-9.0, 6.0]
    detector = MCOD(epochs=1, random_state=0, device="cpu").fit(T)
    columns = ["a", "b", "c", "d", "e"]
    html = render_report(detector, T, names=[f"row-{i}" for i in range(60)], columns=columns,
                         top=60)
    median, scale = _robust_scale(T)
    z = (T - median) / scale
    nones = 0
    for i in range(60):
        row = re.search(rf"<td>row-{i}</td>.*?</tr>", html, flags=re.DOTALL).group(0)
        named = re.findall(r"<b>(.*?)</b>", row)
        order = np.argsort(-np.abs(z[i]), kind="stable")[:3]
        assert named == [columns[j] for j in order if abs(z[i, j]) >= DEVIATION_Z], i
        nones += not named
        assert (not named) == (f"none stand out (every |z| &lt; {DEVIATION_Z:g})" in row)
    assert nones > 40  # random rows: most have no column that stands out
    assert re.findall(r"<b>(.*?)</b>", html[html.index("<td>row-11</td>"):])[:2] == ["a", "c"]
    assert f"A column is named when |z| &ge; {DEVIATION_Z:g}" in html


def test_a_memory_items_profile_names_the_columns_where_its_rows_differ():
    from mcod.report.page import _Page

    rng = np.random.default_rng(0)
    T = rng.normal(size=(80, 4))
    T[:15, 0] += 8.0  # a small group apart in column a
    detector = MCOD(epochs=1, random_state=0, device="cpu").fit(T)
    page = _Page(detector, T, detector.decision_scores_, None, None, list("abcd"), None)
    group = page._profile(np.arange(15))
    assert re.findall(r"<b>(.*?)</b>", group) == ["a"]
    median = np.median(T[:, 0])
    assert f"<b>a</b> {_fmt(np.median(T[:15, 0]))} vs {_fmt(median)} " in group
    rest = page._profile(np.arange(15, 80))
    assert rest == f'<span class="none">none stand out (every |z| &lt; {PROFILE_Z:g})</span>'
    assert page._profile(np.zeros(0, dtype=np.int64)) == "no unflagged rows"
    html = render_report(detector, T, columns=list("abcd"))
    memory = html[html.index("<th>profile: its rows' median vs all rows'</th>"):]
    memory = memory[: memory.index("</table>")]
    items = detector.memory_items_.shape[0]
    assert memory.count("<tr>") == items
    assert memory.count("<td>") + memory.count("<td ") == 4 * items  # with a profile each


def test_the_report_writes_image_sizes_as_width_by_height():
    from mcod.report.page import _Page

    X, _ = _images()
    detector = MCOD(config="scratch", epochs=1, random_state=0, device="cpu").fit(X)
    wide = np.zeros((3, 10, 12), np.uint8)  # 10 rows of 12 pixels
    for layout in (wide, wide[..., None].repeat(3, axis=3), wide[:, None].repeat(3, axis=1)):
        page = _Page(detector, layout, np.zeros(3), None, None, None, None)
        colour = "grey" if layout.ndim == 3 else "RGB"
        assert f"<td>images, each 12x10 {colour} (uint8)</td>" in page.summary(None, None, None)


def test_a_report_on_new_rows_scores_them_even_when_as_many_as_the_training_rows():
    T = np.random.default_rng(0).normal(size=(40, 3))
    detector = MCOD(epochs=1, random_state=0, device="cpu").fit(T)
    assert detector.config_.batch_size == 5  # the batch used on 40 rows, not the config's 128
    html = render_report(detector, T + 50.0)  # 40 new rows, far from the training ones
    new = detector.decision_function(T + 50.0)
    assert f"{_fmt(new.min())} to {_fmt(new.max())}" in html and "batch 5," in html


def test_thumbnails_keep_the_training_images_scale():
    from mcod.report.page import _Page

    X, _ = _images()
    detector = MCOD(config="scratch", epochs=1, random_state=0, device="cpu").fit(
        X.astype(np.float32))
    dark = np.full((2, 8, 8), 0.5, np.float32)  # nearly black on the training 0..255 scale
    dark[:, 0, 0] = 0.0
    page = _Page(detector, dark, np.zeros(2), None, None, None, None)
    with pytest.warns(UserWarning, match="span 0..0.5"):  # and said to be off the scale
        assert page._images([0, 1]).max() < 0.05  # drawn dark, not stretched to white


def _recalled(attention: np.ndarray, flagged: np.ndarray, shown: int, blocks: int) -> _Recall:
    """A `_Recall` fed ``attention`` (features: the sample's index) in ``blocks`` runs."""
    recall = _Recall(attention.shape[1], 1, shown)
    for part in np.array_split(np.arange(len(attention)), blocks):
        features = part[:, None].astype(np.float32)
        recall.add(int(part[0]), features, attention[part], flagged[part])
    return recall


def test_memory_recall_leaves_out_flagged_samples():
    attention = np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8], [0.3, 0.7]])
    flagged = np.array([True, False, False, False, False])  # sample 0 points at item 0
    recall = _recalled(attention, flagged, shown=2, blocks=1)
    assert [b.tolist() for b in recall.best] == [[2, 1], [3, 4]]
    assert recall.counts.tolist() == [3, 2]  # usage counts every sample, flagged or not
    assert _recalled(attention, ~flagged, shown=5, blocks=1).best[1].tolist() == [0]


@pytest.mark.parametrize("blocks", [2, 7, 40])
def test_memory_recall_in_blocks_is_that_of_all_samples_at_once(blocks):
    rng = np.random.default_rng(1)
    attention = rng.integers(0, 4, size=(40, 3)).astype(np.float32)  # many ties
    flagged = rng.random(40) < 0.2
    whole = _recalled(attention, flagged, shown=5, blocks=1)
    split = _recalled(attention, flagged, shown=5, blocks=blocks)
    assert split.counts.tolist() == whole.counts.tolist()
    for j in range(3):  # the unflagged, highest attention first, earlier first on ties
        normal = np.flatnonzero(~flagged)
        expected = normal[np.lexsort((normal, -attention[normal, j]))][:5]
        assert split.best[j].tolist() == whole.best[j].tolist() == expected.tolist()
        assert split.attention[j].tolist() == attention[expected, j].tolist()
        assert split.features[j][:, 0].tolist() == expected.tolist()  # their own features
    index, features = split.recalled()
    assert features[:, 0].tolist() == index.tolist() and len(set(index)) == len(index)


def test_robust_scale_finds_the_wild_value():
    table = np.tile(np.arange(10.0)[:, None], (1, 3))
    table[4, 1] = 1000.0
    table[:, 2] = 5.0  # constant column: no division by zero
    median, scale = _robust_scale(table)
    z = (table - median) / scale
    assert np.isfinite(z).all()
    assert np.unravel_index(np.abs(z).argmax(), z.shape) == (4, 1)
    assert (z[:, 2] == 0).all()


def test_random_rows_are_all_rows_up_to_the_size_then_a_seeded_draw():
    assert _random_rows(5, 5).tolist() == [0, 1, 2, 3, 4]
    drawn = _random_rows(1000, 20)
    assert len(set(drawn)) == 20 and (np.diff(drawn) > 0).all() and drawn.max() < 1000
    assert _random_rows(1000, 20).tolist() == drawn.tolist()


# --------------------------------------------------------------------------- bounded memory


def test_small_data_is_reported_from_every_sample(image_report):
    """Below MAP_SAMPLES the block-wise pass gives what embedding everything at once gives."""
    detector, _, _ = image_report
    X, _ = _images()
    flagged = detector.labels_.astype(bool)
    features, attention = detector.embed(X)
    recall, (index, mapped) = _embedded(detector, X, flagged, _random_rows(44, 20_000), RECALL)
    assert index.tolist() == list(range(44)) and np.array_equal(mapped, features)
    assert recall.counts.tolist() == np.bincount(attention.argmax(axis=1), minlength=10).tolist()
    normal = np.flatnonzero(~flagged)
    for j, best in enumerate(recall.best):
        expected = normal[np.argsort(-attention[normal, j], kind="stable")][:RECALL]
        assert best.tolist() == expected.tolist()


def test_past_the_sample_cap_the_map_says_so_and_keeps_the_top_outliers(image_report,
                                                                        monkeypatch):
    detector, _, html = image_report
    X, truth = _images()
    assert "samples: a random" not in html  # 44 samples: all of them on the map
    mapped = {}

    def spy(features, scores, items=None, truth=None):
        mapped.update(scores=scores, truth=truth)
        return b"png"

    monkeypatch.setattr(report_module, "MAP_SAMPLES", 10)
    monkeypatch.setattr(report_module.figures, "feature_map", spy)
    scores = detector.decision_scores_
    html = render_report(detector, X, truth=truth, top=6)
    shown = len(mapped["scores"])
    assert 10 + 6 <= shown < 44
    assert f"Shown: {shown:,} of 44 samples: a random 10 of the 44 samples (seeded)" in html
    assert set(scores[top_indices(scores, 6)]) <= set(mapped["scores"])
    assert html.count("<b>#") == 6  # the top outliers are listed in full
    assert mapped["truth"].sum() == 4  # the planted outliers score highest: all on the map


def test_table_z_scores_past_the_sample_cap_come_from_the_drawn_rows(monkeypatch):
    T = np.random.default_rng(0).normal(size=(60, 5))
    T[7, 3] = 25.0
    detector = MCOD(epochs=1, random_state=0, device="cpu").fit(T)
    full = render_report(detector, T, top=60)
    median = np.median(T[:, 3])  # every row's median and IQR: the definition, for 60 rows
    q75, q25 = np.percentile(T[:, 3], [75, 25])
    assert f"z {_z_text((25.0 - median) / ((q75 - q25) / 1.349))}</span>" in full
    monkeypatch.setattr(report_module, "MAP_SAMPLES", 30)
    html = render_report(detector, T, names=[f"row-{i}" for i in range(60)], top=60)
    assert "median and IQR of a random 30 of the 60 rows (seeded)" in html
    drawn = T[_random_rows(60, 30), 3]
    q75, q25 = np.percentile(drawn, [75, 25])
    assert f"z {_z_text((25.0 - np.median(drawn)) / ((q75 - q25) / 1.349))}</span>" in html
    assert html.count("<tr><td>") >= 60  # every row still listed, each with its deviations


# --------------------------------------------------------------------------- command line


def test_cli_detect_and_score_write_reports(tmp_path):
    X, _ = _images()
    np.save(tmp_path / "x.npy", X)
    model = tmp_path / "model.pt"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        npy, report = str(tmp_path / "x.npy"), str(tmp_path / "rep")
        rc = main(["detect", "--npy", npy, *FAST, "--save-model", str(model), "--report", report,
                   "--report-top", "3"])
    assert rc == 0
    html = (tmp_path / "rep" / REPORT_FILE).read_text(encoding="utf-8")
    assert "Top outliers" in html and "training time" in html
    assert html.count("<b>#") == 3 and '<a href="#' in html  # in-page links only:
    assert not re.findall(r'<a href="[^#]', html)  # an array has no files to link to
    assert f"writing report to {tmp_path / 'rep' / REPORT_FILE}" in out.getvalue()
    assert f"wrote {tmp_path / 'rep' / REPORT_FILE}" in out.getvalue()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["score", str(model), "--npy", npy, "--quiet", "--report", report + "2"])
    assert rc == 0
    scored = (tmp_path / "rep2" / REPORT_FILE).read_text(encoding="utf-8")
    assert "Feature map" in scored and "training time" not in scored
    assert f"{model}, saved earlier: the data is scored with its threshold" in scored
    assert "Training loss per epoch (when the saved model was trained)" in scored
    assert "saved earlier" not in html


def test_memory_star_labels_cover_neither_each_other_nor_the_stars():
    from mcod.report.figures import STAR_SIZE, _overlap, label_boxes

    rng = np.random.default_rng(0)
    anchors = 200 + rng.normal(scale=12.0, size=(12, 2))  # a crowd of stars, in points
    sizes = np.array([[6.0 * (1 + j % 3), 11.0] for j in range(12)])
    radius = np.sqrt(STAR_SIZE) / 2
    stars = np.hstack([anchors - radius, anchors + radius])
    bounds = (0.0, 0.0, 500.0, 400.0)
    boxes = label_boxes(anchors, sizes, bounds, stars)
    assert np.allclose(boxes[:, 2:] - boxes[:, :2], sizes)
    for k, box in enumerate(boxes):
        assert _overlap(box, np.delete(boxes, k, axis=0)) == 0
        assert _overlap(box, stars) == 0
        assert np.abs((box[:2] + box[2:]) / 2 - anchors[k]).max() < 80  # near its star
        assert box[0] >= 0 and box[1] >= 0 and box[2] <= 500 and box[3] <= 400
    crowded = label_boxes(anchors, sizes, (190.0, 190.0, 210.0, 210.0), stars)
    assert len(crowded) == 12  # no free spot: the least overlapping, not a failure


# --------------------------------------------------------------------------- browser

PAGE_PROBLEMS = ("Uncaught", "Failed to load resource", "net::ERR_")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium(image_report, tmp_path):
    _, path, _ = image_report
    shot = tmp_path / "shot.png"
    url = path.resolve().as_uri()
    command = [
        "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
        "--window-size=1200,2000", "--hide-scrollbars", "--enable-logging=stderr", "--v=1", url,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert shot.is_file(), result.stderr[-2000:]
    log = result.stderr.splitlines()
    console = [line for line in log if "CONSOLE" in line or "Uncaught" in line]
    problems = [line for line in console if any(p in line for p in PAGE_PROBLEMS)]
    assert problems == [], problems
    # Only the page itself is read from disk: every picture is inline.
    marker = "FileURLLoader::Start:"
    loaded = [line.split(marker)[1].strip() for line in log if marker in line]
    assert all(u == url for u in loaded), loaded
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[:2] == (2000, 1200)
    non_white = (pixels < 245).any(axis=2).mean()
    colours = len(np.unique(pixels.reshape(-1, 3)[::7], axis=0))
    assert non_white > 0.05 and colours > 50, (non_white, colours)
