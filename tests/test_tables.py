"""Tables (CSV / Parquet) for the command line: mcod.data.tables and `mcod detect data.csv`."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcod.cli.main import main
from mcod.data.inputs import InputError
from mcod.data.tables import (
    TableOptions,
    align_columns,
    apply_saved_options,
    is_table_path,
    read_table,
    write_table,
)

FAST = ["--epochs", "1", "--batch-size", "20", "--device", "cpu", "--quiet"]


def _frame(n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "id": [f"row{i}" for i in range(n)],
            "a": rng.normal(size=n),
            "b": rng.integers(0, 5, size=n),
            "flag": rng.random(n) < 0.5,
            "colour": rng.choice(["red", "green"], size=n),
        }
    )


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    _frame().to_csv(path, index=False)
    return path


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


# --------------------------------------------------------------------------- reading


def test_is_table_path():
    assert is_table_path("x.CSV") and is_table_path("x.parquet") and is_table_path("x.tsv")
    assert not is_table_path("x.npy") and not is_table_path("photos") and not is_table_path(None)


def test_read_csv_and_parquet_agree(tmp_path, csv_file):
    frame = _frame()
    frame.to_parquet(tmp_path / "data.parquet")
    a = read_table(csv_file, TableOptions(columns=["a", "b", "flag"], keep_text=True))
    b = read_table(tmp_path / "data.parquet", TableOptions(columns=["a", "b", "flag"]))
    assert a.X.shape == (30, 3) and a.X.dtype == np.float64
    assert a.columns == ["a", "b", "flag"] and a.ids is None and a.key_column == "index"
    np.testing.assert_allclose(a.X, b.X)
    np.testing.assert_allclose(a.X[:, 0], frame["a"].to_numpy())
    assert len(a.frame.columns) == 5  # the frame as read keeps every column


def test_only_clean_keeps_the_text_and_both_read_the_same_values(tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text('id,a,code,a\n007,1.50,1,x\n"0,8",2.0,2,\n009,3e0,X,y\n')
    kept = read_table(path, TableOptions(id_column="id", categorical="onehot", keep_text=True))
    lean = read_table(path, TableOptions(id_column="id", categorical="onehot"))
    assert lean.frame is None and lean.records is None  # no per-cell text for detect / score
    assert kept.records[1] == "007,1.50,1,x\n"
    assert list(kept.frame.iloc[1]) == ["0,8", "2.0", "2", ""]
    assert lean.ids == kept.ids == ["007", "0,8", "009"]
    assert lean.columns == kept.columns
    np.testing.assert_array_equal(lean.X, kept.X)
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("code\n1\n02\n")  # numeric here, categorical in the model
    as_text = read_table(numbers, TableOptions(text_columns=["code"], categorical="onehot"))
    assert as_text.columns == ["code=02", "code=1"]  # categories as written


def test_columns_order_and_id_column(csv_file):
    t = read_table(csv_file, TableOptions(columns=["b", "a"], id_column="id"))
    assert t.columns == ["b", "a"]
    assert t.ids[:2] == ["row0", "row1"] and t.key_column == "id"
    with pytest.raises(InputError, match="cannot also be in --columns"):
        read_table(csv_file, TableOptions(columns=["id", "a"], id_column="id"))


def test_categorical_refused_with_advice_or_onehot(csv_file):
    with pytest.raises(InputError) as info:
        read_table(csv_file)  # id and colour are text
    message = str(info.value)
    assert "'id'" in message and "'colour'" in message and "--categorical onehot" in message
    assert "--columns" in message
    t = read_table(csv_file, TableOptions(id_column="id", categorical="onehot"))
    assert t.columns == ["a", "b", "flag", "colour=green", "colour=red"]
    assert np.all(t.X[:, 3] + t.X[:, 4] == 1)


def test_missing_values_error_names_columns_and_counts(tmp_path):
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0, np.nan], "b": [1.0, 2.0, 3.0, 4.0],
                          "c": [np.nan, 0.0, 0.0, 10.0]})
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError) as info:
        read_table(path)
    message = str(info.value)
    assert "'a' (2)" in message and "'c' (1)" in message and "'b'" not in message
    assert "--fill-missing" in message
    assert read_table(path, TableOptions(fill_missing="mean")).X[1, 0] == 2.0
    assert read_table(path, TableOptions(fill_missing="median")).X[0, 2] == 0.0
    assert read_table(path, TableOptions(fill_missing="zero")).X[3, 0] == 0.0
    # gaps only in unused columns
    assert read_table(path, TableOptions(columns=["b"])).X.shape == (4, 1)
    filled = read_table(path, TableOptions(fill_missing="mean"))
    np.testing.assert_array_equal(filled.filled, frame.isna().to_numpy())  # what was a gap
    assert read_table(path, TableOptions(columns=["b"])).filled is None
    reordered = align_columns(filled, ["c", "b", "a"])
    np.testing.assert_array_equal(reordered.filled, frame[["c", "b", "a"]].isna().to_numpy())


def test_fill_values_are_recorded_and_a_models_values_override_the_files(tmp_path):
    path = tmp_path / "gaps.csv"
    pd.DataFrame({"a": [1.0, np.nan, 3.0, 10.0], "b": [1.0, 2.0, 3.0, 4.0]}).to_csv(path,
                                                                                 index=False)
    table = read_table(path, TableOptions(fill_missing="median"))
    assert table.options == {"columns": None, "id_column": None, "categorical": "refuse",
                             "fill_missing": "median", "fill_values": {"a": 3.0, "b": 2.5},
                             "categorical_columns": []}
    assert read_table(path, TableOptions(columns=["b"])).options["fill_values"] == {}  # "none"
    given = read_table(path, TableOptions(fill_missing="median", fill_values={"a": -7.0}))
    assert given.X[1, 0] == -7.0 and given.options["fill_values"] == {"a": -7.0, "b": 2.5}


def test_saved_options_fill_what_the_command_line_leaves_unset():
    saved = {"columns": ["a", "b"], "id_column": "id", "categorical": "onehot",
             "fill_missing": "median", "fill_values": {"a": 3.0}}
    options, taken = apply_saved_options(TableOptions(id_column="key"), saved)
    assert taken == ["--columns a,b", "--categorical onehot", "--fill-missing median"]
    assert options == TableOptions(columns=["a", "b"], id_column="key",  # given: kept
                                   categorical="onehot", fill_missing="median",
                                   fill_values={"a": 3.0}, text_columns=[])
    options, _ = apply_saved_options(TableOptions(fill_missing="zero"), saved)
    assert options.fill_values is None  # another fill mode: values from the new file
    defaults = {"columns": None, "id_column": None, "categorical": "refuse",
                "fill_missing": "none", "fill_values": {}}
    assert apply_saved_options(TableOptions(), defaults)[1] == []  # defaults not announced


def test_a_boolean_column_with_a_gap_counts_as_numbers(tmp_path):
    path = tmp_path / "flags.csv"
    path.write_text("a,flag\n1,True\n2,\n3,False\n")
    with pytest.raises(InputError, match="missing values in 1 column.*'flag' \\(1\\)"):
        read_table(path)
    np.testing.assert_array_equal(read_table(path, TableOptions(fill_missing="zero")).X,
                                  [[1, 1], [2, 0], [3, 0]])


def test_a_parquet_files_named_index_is_a_column_to_use_as_id(tmp_path):
    frame = _frame()
    frame.set_index("id").to_parquet(tmp_path / "indexed.parquet")  # the id kept as index
    table = read_table(tmp_path / "indexed.parquet",
                       TableOptions(columns=["a", "b"], id_column="id", keep_text=True))
    assert table.ids == list(frame["id"])
    assert "id" in table.frame.columns  # and written back with the kept rows
    frame.set_index("id").rename_axis("a").to_parquet(tmp_path / "clash.parquet")
    with pytest.raises(InputError, match=r"index is named like a column \('a'\)"):
        read_table(tmp_path / "clash.parquet")


def test_a_missing_id_is_empty_text_in_csv_and_parquet(tmp_path):
    frame = pd.DataFrame({"id": ["a", None, "c"], "x": [1.0, 2.0, 3.0]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.parquet"):
        assert read_table(tmp_path / name, TableOptions(id_column="id")).ids == ["a", "", "c"]


def test_infinite_values_name_their_column(tmp_path):
    path = tmp_path / "inf.csv"
    path.write_text("a,b\n1,2\n3,inf\n5,6\n")
    with pytest.raises(InputError, match="infinite values in column.*'b'"):
        read_table(path)


def test_a_missing_category_is_an_all_zero_row_without_fill(tmp_path):
    path = tmp_path / "cat.csv"
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "kind": ["a", None, "b"]}).to_csv(path, index=False)
    table = read_table(path, TableOptions(categorical="onehot"))
    assert table.columns == ["x", "kind=a", "kind=b"]
    np.testing.assert_array_equal(table.X, [[1, 1, 0], [2, 0, 0], [3, 0, 1]])


@pytest.mark.parametrize(
    ("content", "name", "error", "match"),
    [
        (None, "missing.csv", FileNotFoundError, "no such file"),
        (b"", "empty.csv", InputError, "empty file"),
        (b"a,b\n", "header.csv", InputError, "no rows"),
        (b"not parquet at all", "bad.parquet", InputError, "cannot read .* as Parquet"),
        (b"a,b\n1,2\n3,4,5,6\n", "ragged.csv", InputError, "cannot read .* as CSV"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, content, name, error, match):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=match):
        read_table(path)


def test_unknown_columns_are_named(csv_file):
    with pytest.raises(InputError, match="unknown column.*'zz'.*has 'id', 'a'"):
        read_table(csv_file, TableOptions(columns=["a", "zz"]))
    with pytest.raises(InputError, match="--id-column 'key' is not a column"):
        read_table(csv_file, TableOptions(id_column="key"))


def test_align_columns_matches_by_name(tmp_path):
    fitted = ["a", "b", "colour=green", "colour=red"]
    path = tmp_path / "new.csv"
    frame = pd.DataFrame({"colour": ["red", "red"], "b": [1.0, 2.0], "a": [3.0, 4.0]})
    frame.to_csv(path, index=False)  # columns reordered, and no green row
    table = read_table(path, TableOptions(categorical="onehot"))
    aligned = align_columns(table, fitted)
    np.testing.assert_array_equal(aligned.X, [[3, 1, 0, 1], [4, 2, 0, 1]])
    assert aligned.columns == fitted and aligned.ids == table.ids
    frame.assign(colour=["red", "blue"]).to_csv(path, index=False)
    with pytest.raises(InputError, match="not fitted on: 'colour=blue'"):
        align_columns(read_table(path, TableOptions(categorical="onehot")), fitted)
    frame.rename(columns={"a": "A"}).to_csv(path, index=False)
    with pytest.raises(InputError, match="lacks column.*: 'a'"):
        align_columns(read_table(path, TableOptions(categorical="onehot")), fitted)


def test_write_table_round_trip(tmp_path):
    frame = _frame(5)
    for name in ("out.csv", "out.parquet"):
        path = write_table(frame, tmp_path / name)
        back = pd.read_csv(path) if name.endswith(".csv") else pd.read_parquet(path)
        assert list(back.columns) == list(frame.columns) and len(back) == 5


# --------------------------------------------------------------------------- command line


def test_detect_csv_carries_id_column_into_scores(tmp_path, csv_file, capsys):
    out = tmp_path / "out"
    rc = main(["detect", str(csv_file), "--id-column", "id", "--columns", "a,b,flag",
               *FAST, "--out", str(out), "--top", "3"])  # fmt: skip
    assert rc == 0
    columns, rows = _read_csv(out / "scores.csv")
    assert columns == ["id", "score", "label", "rank"]
    assert [r["id"] for r in rows] == [f"row{i}" for i in range(30)]
    assert "  id" in capsys.readouterr().out  # the printed top table names the column too


def test_score_matches_a_saved_models_columns_by_name(tmp_path, csv_file):
    model, reordered = tmp_path / "m.pt", tmp_path / "reordered.csv"
    pd.read_csv(csv_file)[["b", "id", "a"]].to_csv(reordered, index=False)
    common = ["--id-column", "id", "--columns"]
    assert main(["detect", str(csv_file), *common, "a,b", *FAST, "--save-model", str(model)]) == 0
    for name, path, columns in (("same", csv_file, "a,b"), ("reordered", reordered, "b,a")):
        args = ["score", str(model), str(path), *common, columns, "--quiet"]
        assert main([*args, "--out", str(tmp_path / name)]) == 0
    same = _read_csv(tmp_path / "same" / "scores.csv")[1]
    reordered_scores = _read_csv(tmp_path / "reordered" / "scores.csv")[1]
    assert [r["score"] for r in same] == [r["score"] for r in reordered_scores]


def test_score_reads_new_tables_as_the_model_was_trained(tmp_path, capsys):
    """`score` without table options: the model's --columns, --id-column, --categorical and
    --fill-missing, gaps filled with the training rows' medians (not the new file's)."""
    train, new, model = tmp_path / "train.csv", tmp_path / "new.csv", tmp_path / "m.pt"
    frame = _frame(60)
    frame.loc[5, "a"] = np.nan
    frame.to_csv(train, index=False)
    median = float(frame["a"].median())
    batch = frame.iloc[:10][["colour", "b", "id", "a", "flag"]].copy()
    batch.loc[[0, 1, 2], "a"] = np.nan  # the new file's median of 'a' is not the model's
    batch.to_csv(new, index=False)
    options = ["--columns", "a,b,colour", "--id-column", "id", "--categorical", "onehot",
               "--fill-missing", "median"]
    assert main(["detect", str(train), *options, *FAST, "--save-model", str(model)]) == 0
    capsys.readouterr()
    assert main(["score", str(model), str(new), "--out", str(tmp_path / "new")]) == 0
    assert ("table options from the model: --columns a,b,colour --id-column id "
            "--categorical onehot --fill-missing median") in capsys.readouterr().out
    explicit = batch.assign(a=batch["a"].fillna(median))
    explicit.to_csv(tmp_path / "filled.csv", index=False)
    assert main(["score", str(model), str(tmp_path / "filled.csv"), "--quiet",
                 "--out", str(tmp_path / "filled")]) == 0
    scores = [_read_csv(tmp_path / name / "scores.csv")[1] for name in ("new", "filled")]
    assert [r["id"] for r in scores[0]] == [f"row{i}" for i in range(10)]
    assert [r["score"] for r in scores[0]] == [r["score"] for r in scores[1]]


def test_score_without_the_models_id_column_or_columns(tmp_path, capsys):
    model = tmp_path / "m.pt"
    frame = _frame(40)
    frame.to_csv(tmp_path / "train.csv", index=False)
    assert main(["detect", str(tmp_path / "train.csv"), "--id-column", "id", "--columns", "a,b",
                 *FAST, "--save-model", str(model)]) == 0
    frame.drop(columns="id").to_csv(tmp_path / "noid.csv", index=False)
    capsys.readouterr()
    assert main(["score", str(model), str(tmp_path / "noid.csv"), "--top", "1"]) == 0
    printed = capsys.readouterr().out
    assert "(no --id-column: the file lacks 'id'; rows are named by index)" in printed
    assert "  index" in printed
    frame.drop(columns="b").to_csv(tmp_path / "nob.csv", index=False)
    assert main(["score", str(model), str(tmp_path / "nob.csv")]) == 2
    assert "nob.csv lacks column(s) the model was fitted on: 'b'" in capsys.readouterr().err


def test_a_models_categorical_column_stays_categorical_when_new_values_look_numeric(tmp_path):
    frame = _frame(40).assign(code=["1", "2", "X", "2"] * 10)
    frame.to_csv(tmp_path / "train.csv", index=False)
    model = tmp_path / "m.pt"
    assert main(["detect", str(tmp_path / "train.csv"), "--id-column", "id", "--columns",
                 "a,code", "--categorical", "onehot", *FAST, "--save-model", str(model)]) == 0
    numeric = frame[frame["code"] != "X"]  # only 1 and 2: pandas reads them as numbers
    numeric.to_csv(tmp_path / "numeric.csv", index=False)
    frame.assign(code="").to_csv(tmp_path / "empty.csv", index=False)  # all missing
    for name in ("numeric", "empty", "train"):
        assert main(["score", str(model), str(tmp_path / f"{name}.csv"), "--quiet",
                     "--out", str(tmp_path / name)]) == 0
    scored = {name: {r["id"]: r["score"] for r in _read_csv(tmp_path / name / "scores.csv")[1]}
              for name in ("numeric", "train")}
    for i, score in scored["numeric"].items():  # up to float noise of the batch size
        assert float(score) == pytest.approx(float(scored["train"][i]), rel=1e-5)


def test_the_data_line_counts_the_columns_the_model_is_given(tmp_path, capsys):
    frame = _frame(40).assign(code=["1", "2", "X", "2"] * 10)
    frame.to_csv(tmp_path / "train.csv", index=False)
    model = tmp_path / "m.pt"
    assert main(["detect", str(tmp_path / "train.csv"), "--id-column", "id", "--columns",
                 "a,code", "--categorical", "onehot", *FAST, "--save-model", str(model)]) == 0
    frame[frame["code"] != "X"].to_csv(tmp_path / "no_x.csv", index=False)  # code=X absent
    capsys.readouterr()
    assert main(["score", str(model), str(tmp_path / "no_x.csv"), "--top", "1"]) == 0
    out = capsys.readouterr()
    data_line = next(line for line in (out.out + out.err).splitlines() if line.startswith("data:"))
    source = f"table {tmp_path / 'no_x.csv'}, rows named by 'id'"
    assert data_line == f"data: 30 rows of 4 columns, dtype float64 ({source})"


def test_score_report_names_columns_in_the_models_order(tmp_path):
    rng = np.random.default_rng(5)
    train = pd.DataFrame(rng.normal(size=(40, 3)), columns=["p", "q", "r"])
    train.to_csv(tmp_path / "pqr.csv", index=False)
    new = train[["r", "q", "p"]].copy()
    new.loc[0, "p"] = 50.0  # far out in p only
    new.to_csv(tmp_path / "rqp.csv", index=False)
    model, report = tmp_path / "m.pt", tmp_path / "rep"
    assert main(["detect", str(tmp_path / "pqr.csv"), *FAST, "--save-model", str(model)]) == 0
    assert main(["score", str(model), str(tmp_path / "rqp.csv"), "--quiet",
                 "--report", str(report)]) == 0
    page = (report / "index.html").read_text()
    first_row = page.split("<td>1</td><td>#0</td>", 1)[1].split("</tr>", 1)[0]  # rank 1
    assert "<b>p</b> = 50" in first_row
    z = (50 - train["p"].mean()) / train["p"].std(ddof=0)  # from the training rows
    assert f'<span class="z">z {z:+.1f}</span>' in first_row and "training mean" in page


def test_repeated_ids_are_warned_about(tmp_path, capsys):
    path = tmp_path / "dup.csv"
    _frame().assign(id=["same"] * 2 + [f"r{i}" for i in range(28)]).to_csv(path, index=False)
    assert main(["detect", str(path), "--id-column", "id", "--columns", "a,b", *FAST]) == 0
    assert "warning: --id-column 'id' repeats 1 value(s)" in capsys.readouterr().err


def test_detect_table_option_without_id_uses_index(tmp_path):
    path = tmp_path / "data.parquet"
    _frame().to_parquet(path)
    out = tmp_path / "out"
    rc = main(["detect", "--table", str(path), "--columns", "a,b", *FAST, "--out", str(out)])
    assert rc == 0
    columns, rows = _read_csv(out / "scores.csv")
    assert columns[0] == "index" and len(rows) == 30


def test_detect_table_errors_are_one_line(tmp_path, csv_file, capsys):
    assert main(["detect", str(csv_file), *FAST]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mcod: error: non-numeric column") and err.count("\n") == 1
    assert main(["detect", str(csv_file), "--columns", "nope", *FAST]) == 2
    assert "unknown column" in capsys.readouterr().err
    np.save(tmp_path / "x.npy", np.zeros((4, 2)))
    assert main(["detect", "--npy", str(tmp_path / "x.npy"), "--id-column", "id", *FAST]) == 2
    assert "--id-column applies only to tables" in capsys.readouterr().err
    assert main(["detect", str(csv_file), "--table", str(csv_file), *FAST]) == 2
    assert "not both" in capsys.readouterr().err


def test_a_name_with_a_newline_stays_on_its_line_in_the_printed_table(tmp_path, capsys):
    frame = _frame().assign(id=["two\nlines"] + [f"r{i}" for i in range(29)])
    frame.to_csv(tmp_path / "nl.csv", index=False)
    out = tmp_path / "out"
    assert main(["detect", str(tmp_path / "nl.csv"), "--id-column", "id", "--columns", "a,b",
                 *FAST, "--top", "30", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert sum(line.endswith("  'two\\nlines'") for line in printed) == 1
    assert "lines" not in printed
    assert "two\nlines" in {row["id"] for row in _read_csv(out / "scores.csv")[1]}


def test_the_report_marks_cells_that_fill_missing_filled(tmp_path):
    # row3's 'a' is a gap, which a zero fills far from the other a's (all near 10), so
    # that the report names it as a deviation, marked as filled
    frame = _frame().assign(a=lambda f: (f["a"] + 10).where(f.index != 3))
    frame.loc[3, "b"] = 50  # and row3 the top outlier, so that the page shows it
    frame.to_csv(tmp_path / "gap.csv", index=False)
    report = tmp_path / "rep"
    assert main(["detect", str(tmp_path / "gap.csv"), "--id-column", "id", "--columns", "a,b",
                 "--fill-missing", "zero", *FAST, "--top", "30", "--report", str(report)]) == 0
    page = (report / "index.html").read_text()
    assert "1 cell filled by --fill-missing" in page
    row3 = page.split("<td>row3</td>", 1)[1].split("</tr>", 1)[0]
    assert "<b>a</b> = 0 <i>filled</i>" in row3
