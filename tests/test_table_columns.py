"""Columns that name rows instead of describing them: a row index is left out of the
features with a warning, a text id is suggested as --id-column, and one-hot encodings
that give rows a column each, or too many columns, are refused."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcod.cli.main import main
from mcod.data.inputs import DataWarning, InputError
from mcod.data.table_columns import MAX_ONEHOT_COLUMNS, index_columns
from mcod.data.tables import TableOptions, read_table

FAST = ["--epochs", "1", "--batch-size", "20", "--device", "cpu", "--quiet"]


def _frame(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n),
                         "z": rng.integers(0, 9, size=n)})


def _quietly(path: Path, options: TableOptions | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning expected
        return read_table(path, options or TableOptions())


def _scores(path: Path) -> list[str]:
    with path.open() as handle:
        return [row["score"] for row in csv.DictReader(handle)]


def test_pandas_default_index_is_left_out_with_a_warning_naming_the_fix(tmp_path):
    frame = _frame()
    indexed, plain = tmp_path / "indexed.csv", tmp_path / "plain.csv"
    frame.to_csv(indexed)  # pandas' default: the index as an unnamed first column
    frame.to_csv(plain, index=False)
    with pytest.warns(DataWarning) as caught:
        table = read_table(indexed)
    message = str(caught[0].message)
    assert message.startswith("left out of the features as a row index: 'Unnamed: 0' "
                              "(pandas' unnamed index")
    assert "--id-column 'Unnamed: 0'" in message and "--keep-index-columns" in message
    assert table.columns == ["x", "y", "z"] and table.options["index_columns"] == ["Unnamed: 0"]
    np.testing.assert_array_equal(table.X, _quietly(plain).X)
    assert "index_columns" not in _quietly(plain).options  # as in older models: none
    kept = _quietly(indexed, TableOptions(index_columns=[]))  # --keep-index-columns
    assert kept.columns == ["Unnamed: 0", "x", "y", "z"]
    chosen = _quietly(indexed, TableOptions(columns=["Unnamed: 0", "x"]))  # chosen: kept
    assert chosen.columns == ["Unnamed: 0", "x"]
    named = _quietly(indexed, TableOptions(id_column="Unnamed: 0"))
    assert named.columns == ["x", "y", "z"] and named.ids[:2] == ["0", "1"]
    subset = tmp_path / "subset.csv"
    frame.iloc[[3, 9, 4]].to_csv(subset)  # a filtered frame: unique, not counting
    with pytest.warns(DataWarning, match="'Unnamed: 0'"):
        assert read_table(subset).columns == ["x", "y", "z"]


@pytest.mark.parametrize(("name", "values", "why"), [
    ("row_id", np.arange(1, 41), "it counts 1..N in file order"),
    ("t", np.arange(40), "it counts 0..N-1 in file order"),
    ("customer_id", np.random.default_rng(1).permutation(40) + 1000,
     "named like an id, a different integer in every row"),
    ("Index", np.random.default_rng(2).permutation(40), "named like an id"),
])
def test_integer_columns_that_index_rows_are_found(name, values, why):
    frame = _frame().assign(**{name: values})
    assert list(index_columns(frame, list(frame.columns))) == [name]
    assert why in index_columns(frame, list(frame.columns))[name]


@pytest.mark.parametrize(("name", "values"), [
    ("customer_id", np.arange(40) % 7),  # an id's name, but repeated: a group
    ("count", np.random.default_rng(3).permutation(40)),  # unique, not counting, no id name
    ("t", np.arange(40.0)),  # floats: a measurement
    ("id", np.arange(10)),  # too few rows to tell (the pandas name alone is told from 2)
    ("flag", np.arange(40) % 2 == 0),
])
def test_features_that_merely_look_orderly_are_kept(name, values):
    n = len(values)
    frame = _frame(n).assign(**{name: values})
    assert index_columns(frame, list(frame.columns)) == {}


def test_a_table_of_indexes_alone_is_refused(tmp_path):
    path = tmp_path / "ids.csv"
    pd.DataFrame({"id": np.arange(30)}).to_csv(path, index=False)
    with pytest.raises(InputError, match="every column .* is a row index .*--keep-index-columns"):
        read_table(path)


def test_detect_scores_a_file_with_its_index_as_without_it_and_score_leaves_it_out(
        tmp_path, capsys):
    frame = _frame()
    frame.loc[7, "x"] = 9.0
    frame.sort_values("x").to_csv(tmp_path / "sorted.csv")  # an index that follows x
    frame.sort_values("x").to_csv(tmp_path / "plain.csv", index=False)
    model = tmp_path / "m.pt"
    assert main(["detect", str(tmp_path / "sorted.csv"), *FAST, "--save-model", str(model),
                 "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert err.startswith("mcod: warning: left out of the features as a row index: "
                          "'Unnamed: 0'") and err.count("\n") == 1
    assert main(["detect", str(tmp_path / "plain.csv"), *FAST, "--out", str(tmp_path / "b")]) == 0
    assert _scores(tmp_path / "a" / "scores.csv") == _scores(tmp_path / "b" / "scores.csv")
    frame.iloc[5:15].to_csv(tmp_path / "new.csv")  # index 5..14: the model's choice holds
    assert main(["score", str(model), str(tmp_path / "new.csv"), "--out",
                 str(tmp_path / "s")]) == 0
    printed = capsys.readouterr()
    assert "(row indexes left out: 'Unnamed: 0')" in printed.out
    assert "warning" not in printed.err
    assert len(_scores(tmp_path / "s" / "scores.csv")) == 10
    kept = tmp_path / "kept.pt"
    assert main(["detect", str(tmp_path / "sorted.csv"), *FAST, "--keep-index-columns",
                 "--save-model", str(kept)]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["score", str(kept), str(tmp_path / "new.csv")]) == 0  # kept as a feature


def test_a_text_id_is_suggested_as_id_column_not_onehot(tmp_path, capsys):
    path = tmp_path / "named.csv"
    _frame().assign(name=[f"user{i}" for i in range(40)]).to_csv(path, index=False)
    with pytest.raises(InputError) as info:
        read_table(path)
    message = str(info.value)
    assert "'name' has a different value in nearly every row, so it names rows: pass " \
           "--id-column name" in message and "onehot" not in message
    mixed = tmp_path / "mixed.csv"
    frame = _frame().assign(**{"user name": [f"u{i}" for i in range(40)]},
                            kind=["a", "b"] * 20)
    frame.to_csv(mixed, index=False)
    with pytest.raises(InputError) as info:
        read_table(mixed)
    message = str(info.value)
    assert "pass --id-column 'user name'" in message  # as typed in a shell
    assert "--categorical onehot to encode 'kind'" in message
    assert main(["detect", str(mixed), "--id-column", "user name", "--categorical", "onehot",
                 *FAST]) == 0


def test_onehot_that_gives_rows_a_column_each_or_too_many_columns_is_refused(tmp_path):
    path = tmp_path / "named.csv"
    _frame().assign(name=[f"user{i}" for i in range(40)]).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"would give 'name' .* nearly one column per row "
                                         r"\(40 values in 40 rows\).*--id-column name"):
        read_table(path, TableOptions(categorical="onehot"))
    rng = np.random.default_rng(4)
    wide = tmp_path / "wide.csv"
    n = 2000  # 250 + 100 values, each seen in several rows: no id, but 350 columns
    pd.DataFrame({"x": rng.normal(size=n), "city": [f"c{i % 250}" for i in range(n)],
                  "shop": [f"s{i % 100}" for i in range(n)]}).to_csv(wide, index=False)
    with pytest.raises(InputError) as info:
        read_table(wide, TableOptions(categorical="onehot"))
    message = str(info.value)
    assert f"would add 350 columns to {wide}, more than {MAX_ONEHOT_COLUMNS}" in message
    assert "'city' (250), 'shop' (100)" in message and "--columns" in message
    assert read_table(wide, TableOptions(categorical="onehot", columns=["x", "shop"])).X.shape \
        == (n, 101)
