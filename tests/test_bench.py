"""Tests for the benchmark harness (mcod.bench): metrics, results file, tasks, report, runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mcod.bench import detectors as det
from mcod.bench.metrics import all_metrics, ap_in, ap_out, auroc
from mcod.bench.protocols import build_tasks
from mcod.bench.report import NO_RUNS, RELEASE_NOT_RUN, mixed_settings, write_report
from mcod.bench.results import append_result, completed_keys, load_all, read_results, run_key
from mcod.cli.bench import main as bench_main
from mcod.config import DEFAULT

# --------------------------------------------------------------------------- metrics


def test_metrics_perfect_and_inverted():
    y = np.array([0, 0, 1])
    perfect = np.array([0.1, 0.2, 0.3])
    assert all_metrics(y, perfect) == {"auroc": 1.0, "ap_out": 1.0, "ap_in": 1.0}
    inverted = perfect[::-1].copy()
    assert auroc(y, inverted) == 0.0
    assert ap_out(y, inverted) == pytest.approx(1 / 3)  # the outlier is ranked last
    assert ap_in(y, inverted) == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_ap_in_is_ap_out_with_roles_swapped():
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.2).astype(int)
    s = rng.normal(size=200) + y
    assert ap_in(y, s) == pytest.approx(ap_out(1 - y, -s))
    assert ap_in(y, s) != pytest.approx(ap_out(y, s))


def test_metrics_reject_nan_scores():
    with pytest.raises(ValueError, match="NaN"):
        auroc(np.array([0, 1]), np.array([0.0, np.nan]))


# --------------------------------------------------------------------------- results file


def _rec(**kw):
    base = {"protocol": "uod", "dataset": "mnist", "class": 0, "rho": 0.1, "seed": 0,
            "max_n": None, "detector": "iforest", "tag": "", "family": "baseline",
            "quick": False, "auroc": 0.8, "ap_out": 0.4, "ap_in": 0.97, "fit_s": 1.0,
            "score_s": 0.1, "score_img_per_s": 1e4, "n_fit": 100, "epochs": None,
            "train_img_per_s": None, "peak_rss_mb": 300.0, "base_rss_mb": 250.0, "n": 111,
            "n_out": 11}
    base.update(kw)
    return base


def test_results_append_resume_and_truncated_line(tmp_path):
    path = tmp_path / "r.jsonl"
    assert completed_keys(path) == set()
    append_result(path, _rec(seed=0))
    append_result(path, _rec(seed=1))
    assert completed_keys(path) == {run_key(_rec(seed=0)), run_key(_rec(seed=1))}
    with open(path, "a") as f:  # a crash mid-write
        f.write('{"protocol": "uod", "dataset": "mn')
    assert len(read_results(path)) == 2
    append_result(path, _rec(seed=2))  # lands on its own line
    assert [r["seed"] for r in read_results(path)] == [0, 1, 2]
    assert run_key(_rec(rho=0.1)) == run_key(_rec(rho=0.30000000000000004 - 0.2))
    assert run_key(_rec(quick=True)) != run_key(_rec())  # a smoke run is not the real one
    assert run_key({k: v for k, v in _rec().items() if k != "quick"}) == run_key(_rec())


def test_load_all_dedups_by_key(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    append_result(a, _rec(auroc=0.1))
    append_result(b, _rec(auroc=0.9))
    append_result(b, _rec(detector="knn"))
    recs = load_all([str(tmp_path / "*.jsonl")])
    assert len(recs) == 2
    assert {r["auroc"] for r in recs if r["detector"] == "iforest"} == {0.9}


# --------------------------------------------------------------------------- tasks


def _fake_labels():
    labels = np.repeat(np.arange(10), 100)
    split = np.tile(np.array(["train"] * 50 + ["test"] * 50), 10)
    return labels, split


def test_uod_tasks():
    labels, split = _fake_labels()
    tasks = build_tasks("uod", "fake", labels, split, range(10), [0.1, 0.2], [0, 1, 2])
    assert len(tasks) == 10 * 2 * 3
    t = tasks[0]
    assert t.score_idx is None and len(t.fit_idx) == len(t.y)
    assert (t.y == 0).sum() == 100 and t.n_out == 11  # floor(100 * 0.1 / 0.9)
    assert np.all(labels[t.fit_idx[t.y == 0]] == t.inlier_class)
    assert np.all(labels[t.fit_idx[t.y == 1]] != t.inlier_class)
    assert tasks[3].n_out == 25  # rho 0.2


def test_oneclass_tasks_and_subsampling():
    labels, split = _fake_labels()
    tasks = build_tasks("oneclass", "fake", labels, split, [3], [0.1], [0])
    (t,) = tasks
    assert len(t.fit_idx) == 50 and np.all(labels[t.fit_idx] == 3)
    assert np.all(split[t.fit_idx] == "train") and np.all(split[t.score_idx] == "test")
    assert len(t.y) == 55 and t.n_out == 5
    (small,) = build_tasks("uod", "fake", labels, split, [3], [0.1], [0], max_n=30)
    assert len(small.y) <= 30 and small.n_out == 3
    (again,) = build_tasks("uod", "fake", labels, split, [3], [0.1], [0], max_n=30)
    assert np.array_equal(small.fit_idx, again.fit_idx)  # deterministic


# --------------------------------------------------------------------------- detectors


def test_pca_baseline_copes_with_constant_pixels():
    rng = np.random.default_rng(0)
    images = np.zeros((60, 8, 8), np.uint8)  # border pixels always 0
    images[:, 2:6, 2:6] = rng.integers(0, 256, size=(60, 4, 4))
    spec = det.get("pca")
    x = det.prepare_input(spec, images)
    est = spec.build(0, True).fit(x)
    assert np.isfinite(est.decision_scores_).all()
    assert np.isfinite(est.decision_function(x[:5])).all()
    const = det.PCAReconstruction().fit(np.ones((10, 4)))
    assert np.all(const.decision_scores_ == 0)


def test_detector_groups_and_ablations():
    assert det.resolve(["baselines"]) == list(det.BASELINES)
    assert det.resolve(["knn", "all"])[0] == "knn"
    with pytest.raises(ValueError, match="unknown detector"):
        det.resolve(["nope"])
    assert det.get("mcod-no-cluster").build(0, True).config.cluster_weight == 0.0
    with pytest.raises(ValueError, match="ablation 'typo'"):
        det.get("mcod-typo", {"typo": {"not_a_field": 1}}).build(0, True)


# --------------------------------------------------------------------------- report


def test_report_renders_tables_and_figures(tmp_path):
    path = tmp_path / "results" / "uod.jsonl"
    for c in (0, 1):
        for s in (0, 1):
            append_result(path, _rec(**{"class": c, "seed": s, "detector": "iforest",
                                        "auroc": 0.8 + 0.01 * c}))
            append_result(path, _rec(**{"class": c, "seed": s, "detector": "mcod-default",
                                        "family": "mcod", "auroc": 0.9, "epochs": 20,
                                        "train_img_per_s": 500.0}))
    append_result(path, _rec(detector="knn", quick=True, auroc=0.1))  # quick: not counted
    out = write_report([str(tmp_path / "results" / "*.jsonl")], tmp_path / "RESULTS.md")
    text = out.read_text()
    assert "mcod-default" in text and "iforest" in text and "knn" not in text.split("## 5")[0]
    assert "0.900 ± 0.000 (4)" in text
    assert "iforest (best baseline)" in text
    assert text.count(NO_RUNS) == 5  # sweep, one-class, ablations, odds, cuts
    assert "0.751" in text and "quoted" in text
    assert RELEASE_NOT_RUN not in text  # no one-class runs at all: part 3 says only NO_RUNS
    assert "mcod bench run --config benchmarks/configs/part1_uod.toml" in text
    assert (tmp_path / "figures" / "per_class_mnist.png").stat().st_size > 1000


def test_part3_says_when_the_release_has_not_run(tmp_path):
    path = tmp_path / "oneclass.jsonl"
    append_result(path, _rec(protocol="oneclass", detector="mcod-default", family="mcod"))
    part3 = write_report([str(path)], tmp_path / "R.md").read_text().split("## 3.")[1]
    assert RELEASE_NOT_RUN in part3.split("## 4.")[0]
    append_result(path, _rec(protocol="oneclass", detector="mcod-release", family="mcod"))
    part3 = write_report([str(path)], tmp_path / "R.md").read_text().split("## 3.")[1]
    assert RELEASE_NOT_RUN not in part3.split("## 4.")[0]


def test_ablations_stay_out_of_part_1(tmp_path):
    path = tmp_path / "uod.jsonl"
    append_result(path, _rec(detector="mcod-default", family="mcod", auroc=0.9))
    append_result(path, _rec(detector="mcod-no-read", family="ablation", auroc=0.99))
    text = write_report([str(path)], tmp_path / "R.md").read_text()
    part1, part4 = text.split("## 2.")[0], text.split("## 4.")[1].split("## 5.")[0]
    assert "mcod-no-read" not in part1 and "**0.900 ± 0.000 (1)**" in part1
    assert "mcod-no-read" in part4
    append_result(path, _rec(detector="mcod-default", family="mcod", dataset="cifar10"))
    text = write_report([str(path)], tmp_path / "R.md").read_text()
    assert "cifar10" not in text.split("## 4.")[1].split("## 5.")[0]  # no ablation there


def test_rho_sweep_compares_only_detectors_run_at_several_rhos(tmp_path):
    path = tmp_path / "uod.jsonl"
    for rho, mcod_auroc in ((0.1, 0.9), (0.2, 0.8)):
        append_result(path, _rec(detector="mcod-default", family="mcod", rho=rho,
                                 auroc=mcod_auroc))
        append_result(path, _rec(detector="iforest", rho=rho, auroc=mcod_auroc - 0.1))
    append_result(path, _rec(detector="pca", auroc=0.99))  # rho 0.1 only: not in the sweep
    text = write_report([str(path)], tmp_path / "R.md").read_text()
    part2 = text.split("## 2.")[1].split("## 3.")[0]
    assert "| ρ | mcod-default | iforest |" in part2 and "pca" not in part2
    assert "| 0.2 | 0.800 ± 0.000 (1) | 0.700 ± 0.000 (1) |" in part2
    assert (tmp_path / "figures" / "auroc_vs_rho_mnist.png").stat().st_size > 1000


def test_rho_sweep_keeps_mcod_default_with_runs_at_one_rho_only(tmp_path):
    path = tmp_path / "uod.jsonl"
    for rho in (0.1, 0.2):
        append_result(path, _rec(detector="iforest", rho=rho, auroc=0.7))
    append_result(path, _rec(detector="mcod-default", family="mcod", auroc=0.9))
    part2 = write_report([str(path)], tmp_path / "R.md").read_text().split("## 2.")[1]
    assert "| ρ | mcod-default | iforest |" in part2
    assert "| 0.2 | – | 0.700 ± 0.000 (1) |" in part2


def test_part_5_shows_same_run_throughput_against_release(tmp_path):
    path = tmp_path / "throughput.jsonl"
    for name, speed in (("mcod-release", 50.0), ("mcod-default", 600.0)):
        append_result(path, {"protocol": "throughput", "dataset": "random 64x28x28",
                             "detector": name, "epochs": 1, "threads": 1, "device": "cpu",
                             "train_img_per_s": speed, "score_img_per_s": 2 * speed})
    text = write_report([str(path)], tmp_path / "R.md").read_text()
    part5 = text.split("## 5.")[1].split("## 6.")[0]
    assert "| random 64x28x28 | mcod-default | 1 | 1 | cpu | 600 | 1,200 | 12.0 |" in part5
    assert "| random 64x28x28 | mcod-release | 1 | 1 | cpu | 50 | 100 | 1.0 |" in part5


def test_report_warns_when_one_name_mixes_settings(tmp_path):
    path = tmp_path / "uod.jsonl"
    base = {"read_trim": 0.2, "epochs": 20, "warmup_epochs": 5}
    append_result(path, _rec(detector="mcod-default", config=base))
    append_result(path, _rec(detector="mcod-default", seed=1, config={**base, "epochs": 35}))
    append_result(path, _rec(detector="iforest"))  # baselines record no config
    assert mixed_settings(load_all([path])) == {}  # epochs follow the data size: same settings
    # a field added later, at the value the older runs behaved as, is the same setting
    append_result(path, _rec(detector="mcod-default", seed=3, config={**base, "score": "read"}))
    assert mixed_settings(load_all([path])) == {}
    append_result(path, _rec(detector="mcod-default", seed=2, config={**base, "read_trim": 0.0}))
    assert mixed_settings(load_all([path])) == {"mcod-default": 2}
    text = write_report([str(path)], tmp_path / "R.md").read_text()
    assert "Warning" in text and "mcod-default (2 configurations)" in text


def test_mcod_runs_record_their_configuration(tmp_path):
    results = tmp_path / "r.jsonl"
    args = ["run", "--quick", "--datasets", "digits", "--classes", "0",
            "--detectors", "mcod-default", "--results", str(results), "--in-process"]
    assert bench_main(args) == 0
    (record,) = [json.loads(line) for line in results.read_text().splitlines()]
    assert record["config"]["name"] == "default"
    assert record["config"]["read_trim"] == DEFAULT.read_trim
    assert record["config"]["epochs"] == record["epochs"]


def test_report_with_no_results(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    out = write_report([str(tmp_path / "empty.jsonl")], tmp_path / "R.md")
    assert out.read_text().count(NO_RUNS) == 7
    with pytest.raises(FileNotFoundError, match="no results file found at .*typo.jsonl"):
        write_report([str(tmp_path / "typo.jsonl")], tmp_path / "R2.md")
    assert not (tmp_path / "R2.md").exists()


# --------------------------------------------------------------------------- end to end


def test_quick_run_on_digits_writes_and_resumes(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    args = ["run", "--quick", "--datasets", "digits", "--classes", "0",
            "--detectors", "iforest,knn", "--results", str(results), "--isolate"]
    assert bench_main(args) == 0
    lines = results.read_text().splitlines()
    assert len(lines) == 2
    recs = [json.loads(line) for line in lines]
    assert {r["detector"] for r in recs} == {"iforest", "knn"}
    for r in recs:
        assert r["quick"] and r["dataset"] == "digits" and r["class"] == 0
        assert 0.5 < r["auroc"] <= 1.0 and r["n_out"] == 19
        assert r["memory_mode"] == "fresh-process" and r["peak_rss_mb"] >= r["base_rss_mb"] > 0
    assert bench_main(args) == 0
    assert len(results.read_text().splitlines()) == 2
    assert "0 to run" in capsys.readouterr().out


def test_config_file_and_cli_precedence(tmp_path, capsys):
    from mcod.bench.options import resolve_run_options

    cfg = tmp_path / "c.toml"
    cfg.write_text('datasets = ["digits"]\nclasses = "0-2"\nseeds = [0, 1]\n'
                   'detectors = ["baselines"]\n[ablations]\nno-cluster = { erase = false }\n')
    opts = resolve_run_options({"config": str(cfg), "seeds": "5", "quick": None})
    assert opts["datasets"] == ["digits"] and opts["classes"] == [0, 1, 2]
    assert opts["seeds"] == [5] and opts["isolate"] is True
    assert opts["ablations"] == {"no-cluster": {"erase": False}}
    bad = tmp_path / "bad.toml"
    bad.write_text("colour = 1\n")
    assert bench_main(["run", "--config", str(bad)]) == 2
    for option, value, message in (("--max-n", "5", "max-n must be at least 100"),
                                   ("--threads", "0", "threads must be at least 1")):
        assert bench_main(["run", "--datasets", "digits", option, value, "--dry-run"]) == 2
        assert message in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text("seeds = [0, 1\n")
    with pytest.raises(ValueError, match="broken.toml is not valid TOML"):
        resolve_run_options({"config": str(broken), "quick": None})


def test_register_on_a_foreign_parser():
    import argparse

    from mcod.cli.bench import register

    parser = argparse.ArgumentParser(prog="mcod")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "list"])
    assert args.func(args) == 0
    assert Path(det.__file__).name == "detectors.py"


# --------------------------------------------------------------------------- ODDS (tables)


def test_odds_tasks_fit_all_rows_and_subsample_big_sets():
    from mcod.bench.protocols import build_odds_tasks

    y = np.zeros(50, np.int64)
    y[::10] = 1
    tasks = build_odds_tasks("toy", y, [0, 1])
    assert [t.seed for t in tasks] == [0, 1]
    t = tasks[0]
    assert t.protocol == "odds" and t.score_idx is None and t.max_n is None
    assert np.array_equal(t.fit_idx, np.arange(50)) and np.array_equal(t.y, y)
    assert t.key_fields()["class"] is None and t.key_fields()["rho"] is None
    big = np.zeros(1000, np.int64)
    big[:5] = 1  # where the outliers sit has no say in the draw
    a, b = build_odds_tasks("big", big, [0, 1], max_n=100)
    again, _ = build_odds_tasks("big", big[::-1].copy(), [0, 1], max_n=100)
    assert len(a.y) == 100 and a.max_n == 100 and np.all(np.diff(a.fit_idx) > 0)
    assert np.array_equal(a.fit_idx, again.fit_idx)  # labels unused: same rows
    assert not np.array_equal(a.fit_idx, b.fit_idx)  # another seed, another subsample
    assert np.array_equal(a.y, big[a.fit_idx])


def test_table_detectors_and_standardised_input():
    assert det.resolve(["odds"]) == ["mcod-tabular", *det.TABLE_BASELINES]
    X = np.random.default_rng(0).normal(5.0, 3.0, size=(40, 3))
    X[:, 2] = 7.0  # a constant feature
    x = det.prepare_input(det.get("copod"), X)
    np.testing.assert_allclose(x[:, :2].mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(x[:, :2].std(axis=0), 1, atol=1e-5)
    assert np.all(x[:, 2] == 0)
    new = X[:5] + 3.0  # rows to score: standardised by the fit rows' mean and sd
    scored = det.prepare_input(det.get("copod"), new, fitted_on=X)
    np.testing.assert_allclose(scored[:, :2], x[:5, :2] + 3.0 / X[:, :2].std(axis=0), rtol=1e-5)
    with pytest.raises(ValueError, match="does not take tables"):
        det.prepare_input(det.get("mcod-default"), X)
    with pytest.raises(ValueError, match="does not take images"):
        det.prepare_input(det.get("mcod-tabular"), np.zeros((4, 8, 8), np.uint8))
    for name in ("hbos", "copod"):
        est = det.get(name).build(0, True).fit(x)
        assert np.isfinite(est.decision_scores_).all()


def test_average_ranks_and_mean_ranks():
    from mcod.bench.report import average_ranks, mean_ranks

    assert average_ranks({"a": 0.9, "b": 0.8, "c": 0.8, "d": 0.5}) == {
        "a": 1.0, "b": 2.5, "c": 2.5, "d": 4.0}
    cells = {
        "s1": {"x": 0.9, "y": 0.8, "z": 0.7},
        "s2": {"x": 0.6, "y": 0.6, "z": 0.9},
        "s3": {"x": 0.5, "y": 0.9},  # z missing: not used for ranks
    }
    ranks, used = mean_ranks(cells, ["x", "y", "z"])
    assert used == ["s1", "s2"]
    assert ranks == {"x": (1 + 2.5) / 2, "y": (2 + 2.5) / 2, "z": (3 + 1) / 2}


def test_wins_ties_losses_against_iforest():
    from mcod.bench.report import wins_ties_losses

    cells = {
        "a": {"iforest": 0.80, "knn": 0.90},  # win
        "b": {"iforest": 0.80, "knn": 0.804},  # tie: |Δ| < 0.005
        "c": {"iforest": 0.80, "knn": 0.7949},  # loss
        "d": {"iforest": 0.80, "knn": 0.7951},  # tie
        "e": {"knn": 0.99},  # no iforest run: not counted
    }
    assert wins_ties_losses(cells, "knn") == (1, 2, 1)
    assert wins_ties_losses(cells, "knn", tie=0.0) == (2, 0, 2)


def test_paired_p_value_is_the_exact_signed_rank_test():
    from mcod.bench.report import paired_p_value

    gains = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06]
    cells = {f"s{i}": {"iforest": 0.5, "knn": 0.5 + g} for i, g in enumerate(gains)}
    cells["equal"] = {"iforest": 0.7, "knn": 0.7}  # a zero difference carries no sign
    cells["alone"] = {"knn": 0.1}  # no iforest run: not counted
    # all six signs positive: P(W+ = 21) = 1 / 2^6 under the null, doubled for two sides
    assert paired_p_value(cells, "knn") == pytest.approx(2 / 2**6)
    cells["s5"]["knn"] = 0.44  # the largest difference now negative: W+ = 15, W- = 6
    # P(W- <= 6) = #{subsets of 1..6 summing to at most 6} / 64 = 14 / 64, doubled
    assert paired_p_value(cells, "knn") == pytest.approx(2 * 14 / 64)
    assert math.isnan(paired_p_value({"a": {"iforest": 0.5, "knn": 0.5}}, "knn"))


def test_report_odds_section(tmp_path):
    path = tmp_path / "odds.jsonl"
    for seed in (0, 1):
        for ds, base in (("wine", 0.7), ("glass", 0.6)):
            for detector, delta in (("iforest", 0.0), ("knn", 0.1), ("mcod-tabular", -0.1)):
                append_result(path, _rec(protocol="odds", dataset=ds, seed=seed,
                                         detector=detector, auroc=base + delta, ap_out=0.3,
                                         **{"class": None, "rho": None}))
    text = write_report([str(path)], tmp_path / "RESULTS.md").read_text()
    part6 = text.split("## 6.")[1]
    assert "benchmarks/configs/part6_odds.toml" in part6
    assert "| wine | 0.600 | 0.700 | **0.800** |" in part6  # mcod-tabular, iforest, knn
    assert "| knn | 1.00 |" in part6 and "| 2/0/0 |" in part6 and "| 0/0/2 |" in part6
    assert text.count(NO_RUNS) == 6  # parts 1-5 and 7 have no runs
    assert "subsample" not in part6  # no set was cut
    assert f"mcod bench report --results {path} --out {tmp_path / 'RESULTS.md'}`" in text
    append_result(path, _rec(protocol="odds", dataset="cardio", seed=0, detector="knn",
                             max_n=300, quick=True, **{"class": None, "rho": None}))
    text = write_report([str(path)], tmp_path / "R.md", include_quick=True).read_text()
    assert "Sets above 300 rows are a uniform random subsample" in text and ": cardio." in text
    assert "**Includes quick runs**" in text and "--include-quick`" in text
    assert "1 quick (`--quick`) runs are left out" in write_report(
        [str(path)], tmp_path / "R3.md").read_text()
    with pytest.raises(FileNotFoundError, match="no results file found at .*typo.jsonl"):
        write_report([str(path), str(tmp_path / "typo.jsonl")], tmp_path / "R4.md")


def test_in_process_flag_wins_over_the_default():
    from mcod.bench.options import resolve_run_options

    assert resolve_run_options({"isolate": False})["isolate"] is False
    assert resolve_run_options({"isolate": None})["isolate"] is True


def test_bench_help_has_examples_and_the_quick_one_plans_runs(capsys, tmp_path):
    from mcod.cli.bench import RUN_EXAMPLES
    from mcod.cli.main import main

    for command in (["bench"], ["bench", "run"], ["bench", "report"]):
        assert main([*command, "--help"]) == 0
        assert "examples:" in capsys.readouterr().out
    quick = RUN_EXAMPLES.splitlines()[0].split("#")[0].split()[1:]  # the digits smoke run
    quick[quick.index("/tmp/quick.jsonl")] = str(tmp_path / "quick.jsonl")
    assert main([*quick, "--dry-run"]) == 0
    assert "would run digits uod" in capsys.readouterr().out
    for command in RUN_EXAMPLES.replace("\\\n", " ").splitlines():  # ad-hoc runs never
        assert "--config" in command or "--results" in command  # append to the recorded ones


def test_bad_run_lists_name_the_option(capsys):
    from mcod.cli.main import main

    assert main(["bench", "run", "--classes", "a", "--dry-run"]) == 2
    assert "--classes must be a comma list of integers" in capsys.readouterr().err
    assert main(["bench", "run", "--rhos", "x", "--dry-run"]) == 2
    assert "--rhos must be a comma list of numbers" in capsys.readouterr().err
    for option, value, message in (("--seeds", "-1", "--seeds must be in 0..2**32 - 1"),
                                   ("--rhos", "0.7", "--rhos must be in (0, 0.5]"),
                                   ("--classes", "9-0", "--classes lists nothing")):
        assert main(["bench", "run", option, value, "--dry-run"]) == 2
        assert message in capsys.readouterr().err


@pytest.fixture()
def spy_encoder(tmp_path, monkeypatch):
    """A stand-in image encoder (mean colour per channel) that counts the images it
    encodes, used wherever the bench would load the pretrained one; a fresh feature cache."""
    import torch
    from torch import nn

    import mcod.bench.on_features
    import mcod.nn.pretrained
    from mcod.nn.encoders import ImageEncoder

    class Spy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.seen = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.seen += len(x)
            return x.mean(dim=(2, 3))

    encoder = ImageEncoder(Spy(), "spy", pooled=True)
    monkeypatch.setattr(mcod.nn.pretrained, "encoder_for", lambda spec, float64=False: encoder)
    monkeypatch.setattr(mcod.bench.on_features, "encoder_for", lambda spec: encoder)
    monkeypatch.setenv("MCOD_FEATURE_CACHE", str(tmp_path / "features"))
    return encoder


@pytest.mark.parametrize("detector", ["knn-pretrained", "mcod-default"])
def test_pretrained_tasks_encode_only_images_no_earlier_task_did(spy_encoder, detector):
    """The feature cache keys each image, so a task of another class (the same images,
    drawn otherwise) runs the encoder on its unseen images alone."""
    from mcod.bench.worker import run_job

    labels = np.repeat(np.arange(10), 60)
    images = np.random.default_rng(0).integers(0, 256, (len(labels), 8, 8, 3), dtype=np.uint8)
    seen: set[int] = set()
    for task in build_tasks("uod", "fake", labels, None, [0, 1], [0.1], [0]):
        before, fitted = spy_encoder.net.seen, set(task.fit_idx.tolist())
        run_job({"detector": detector, "seed": 0, "quick": True, "y": task.y,
                 "fit_images": images[task.fit_idx], "score_images": None})
        assert spy_encoder.net.seen - before == len(fitted - seen)
        seen |= fitted
    assert spy_encoder.net.seen < 2 * len(task.fit_idx)  # the second task found some images


def test_bench_encodes_a_dataset_once_before_its_pretrained_runs(spy_encoder, tmp_path):
    """One extraction per dataset: every image a pending run reads is encoded up front,
    each once, and the runs themselves then encode nothing."""
    from mcod.bench.runner import run_bench

    messages: list[str] = []
    summary = run_bench(datasets=["digits"], protocol="uod", rhos=[0.1], classes=[0, 1],
                        seeds=[0], detectors=["knn-pretrained", "iforest-pretrained"],
                        results=tmp_path / "r.jsonl", quick=True, isolate=False,
                        log=messages.append)
    assert summary.done == 4 and not summary.failed
    encoded = [m for m in messages if m.startswith("bench: encoded")]
    runs = [m for m in messages if m.startswith("[")]
    assert encoded and messages.index(encoded[-1]) < messages.index(runs[0])
    total = int(encoded[-1].split(" of ")[1].split()[0].replace(",", ""))
    assert spy_encoder.net.seen == total  # no image twice, none during the runs


def test_cold_feature_runs_each_encode_their_images_and_leave_the_cache_alone(spy_encoder):
    """--cold-features (part 5's cost): a run encodes its images into an empty cache of its
    own, every time, and the shared cache setting is as it was afterwards."""
    import os

    from mcod.bench.worker import run_job

    images = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    job = {"detector": "knn-pretrained", "seed": 0, "quick": True, "score_images": None,
           "y": np.r_[np.zeros(36), np.ones(4)], "fit_images": images, "cold_features": True}
    shared = os.environ["MCOD_FEATURE_CACHE"]
    for runs in (1, 2):
        assert run_job(job)["cold_features"] is True
        assert spy_encoder.net.seen >= runs * len(images)  # nothing found from the last run
        assert os.environ["MCOD_FEATURE_CACHE"] == shared
    assert not os.path.exists(shared)  # the shared cache was never written


def test_an_interrupted_mcod_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    from mcod.bench import runner
    from mcod.nn import checkpoint as ck

    def run(results: Path) -> dict:
        args = ["run", "--quick", "--datasets", "digits", "--classes", "0", "--detectors",
                "mcod-scratch", "--results", str(results), "--in-process"]
        bench_main(args)
        return json.loads(results.read_text()) if results.exists() else {}

    whole = run(tmp_path / "whole.jsonl")
    monkeypatch.setattr(runner, "CHECKPOINT_EVERY", 0.0)
    write, writes = ck.FitCheckpoints.write, []

    def crash_after_the_third(self: ck.FitCheckpoints, *args: object) -> None:
        write(self, *args)
        writes.append(1)
        if len(writes) == 3:
            raise RuntimeError("crash")

    results = tmp_path / "r.jsonl"
    with monkeypatch.context() as patch:
        patch.setattr(ck.FitCheckpoints, "write", crash_after_the_third)
        assert run(results) == {}  # the run failed; its checkpoint is kept
    (folder,) = (tmp_path / "r.jsonl.checkpoints").iterdir()
    assert (folder / ck.CHECKPOINT_FILE).exists()
    resumed = run(results)
    assert resumed["resumed"] and not whole["resumed"]
    assert resumed["auroc"] == whole["auroc"] and resumed["ap_out"] == whole["ap_out"]
    assert list((tmp_path / "r.jsonl.checkpoints").iterdir()) == []


def test_report_part7_tables_the_label_free_cuts_best_f1_first(tmp_path):
    """benchmarks/cuts.py's records (tag "cuts", no AP) reach RESULTS.md part 7, one table
    per split, each cut's mean F1, precision, recall and flagged / true count."""
    path = tmp_path / "r.jsonl"

    def cut(flagged: int, hits: int, n_out: int = 10) -> dict:
        precision, recall = hits / flagged, hits / n_out
        return {"flagged": flagged, "precision": precision, "recall": recall,
                "f1": 2 * precision * recall / (precision + recall)}

    for seed, (a, b) in enumerate([((20, 10), (10, 5)), ((10, 10), (5, 5))]):
        append_result(path, {"protocol": "odds", "dataset": "wbc", "class": None, "rho": None,
                             "seed": seed, "detector": "mcod-tabular", "tag": "cuts",
                             "quick": False, "split": "dev", "auroc": 0.9, "n_out": 10,
                             "cuts": {"share-0.1": cut(*a), "karch": cut(*b)}})
    text = write_report([path], tmp_path / "RESULTS.md").read_text()
    part7 = text.split("## 7.")[1]
    assert "Development: digits (mcod-scratch) + ODDS dev half (mcod-tabular) (2 tasks)" in part7
    # share-0.1: F1 (2/3 + 1) / 2 = 0.833, flagged / true 2.0 and 1.0 -> median 1.50
    # karch: precision (0.5 + 1) / 2, recall 0.5, F1 (0.5 + 2/3) / 2 = 0.583
    rows = [line for line in part7.splitlines() if line.startswith("| share") or
            line.startswith("| karch")]
    assert rows == ["| share-0.1 | 0.833 | 0.750 | 1.000 | 1.50 (1.25-1.75) |  |",
                    "| karch | 0.583 | 0.750 | 0.500 | 0.75 (0.62-0.88) |  |"]
    assert "## 1." in text and NO_RUNS in text.split("## 7.")[0]  # no accuracy run counted
