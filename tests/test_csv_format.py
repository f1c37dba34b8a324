"""A CSV's separator and decimal mark: sniffed (a European spreadsheet's ``a;b`` with
``1,5``), given with --sep / --decimal, and a misread file named as such, not in pandas'
tokenizer words."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcod.cli.main import main
from mcod.data.csv_format import CsvFormat, csv_format, parse_separator
from mcod.data.inputs import InputError
from mcod.data.tables import TableOptions, read_table, table_header

FAST = ["--epochs", "1", "--batch-size", "20", "--device", "cpu"]


def _frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n) * 1e3,
                         "z": rng.integers(0, 9, size=n)})


@pytest.fixture
def comma(tmp_path: Path) -> Path:
    path = tmp_path / "comma.csv"
    _frame().to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("sep", "decimal"), [(";", ","), (";", "."), ("\t", "."), ("|", ",")])
def test_a_files_separator_and_decimal_mark_are_sniffed(tmp_path, comma, sep, decimal):
    path = tmp_path / "other.csv"
    _frame().to_csv(path, index=False, sep=sep, decimal=decimal)
    assert csv_format(path) == CsvFormat(sep, decimal, sniffed=True)
    table = read_table(path)
    np.testing.assert_array_equal(table.X, read_table(comma).X)  # the same numbers
    assert table.columns == ["x", "y", "z"]


def test_the_usual_comma_and_a_tsv_are_read_as_before(tmp_path, comma):
    assert csv_format(comma) == CsvFormat(",", ".", sniffed=False)
    assert csv_format(comma).describe() == ""
    tsv = tmp_path / "t.tsv"
    _frame().to_csv(tsv, index=False, sep="\t")
    assert csv_format(tsv) == CsvFormat("\t", ".", sniffed=False)
    one = tmp_path / "one.csv"
    one.write_text("x\n1.5\n2\n")  # one column: nothing to sniff, the suffix's comma
    assert csv_format(one).sep == ","


def test_short_rows_and_r_style_headers_do_not_hide_the_separator(tmp_path):
    short = tmp_path / "short.csv"
    short.write_text("a;b;c\n" + "".join(f"{i};{i % 3};{i % 5}\n" for i in range(20)) + "7;1\n")
    assert csv_format(short).sep == ";"
    r_style = tmp_path / "r.csv"  # R's write.table: no header cell above the row names
    r_style.write_text("a;b\n" + "".join(f"r{i};{i % 6};{i % 4},5\n" for i in range(20)))
    assert csv_format(r_style) == CsvFormat(";", ",", sniffed=True)
    table = read_table(r_style)
    assert table.columns == ["a", "b"] and table.X[3].tolist() == [3.0, 3.5]


def test_thousands_separators_are_not_taken_for_decimal_commas(tmp_path):
    path = tmp_path / "thousands.csv"
    path.write_text("a;b\n" + "".join(f"1,{i:03d};{i % 7}\n" for i in range(20)))
    assert csv_format(path).decimal == "."  # 1,000 .. 1,019: ambiguous, not guessed
    with pytest.raises(InputError, match=r"'a' hold numbers with decimal commas: pass "
                                         r"--decimal ,"):
        read_table(path)
    assert read_table(path, TableOptions(decimal=",")).X[5, 0] == 1.005


def test_given_options_override_the_sniffing(tmp_path, comma):
    semi = tmp_path / "semi.csv"
    _frame().to_csv(semi, index=False, sep=";", decimal=",")
    assert csv_format(semi, sep=";", decimal=".") == CsvFormat(";", ".")
    assert csv_format(semi, sep=";") == CsvFormat(";", ",", sniffed=True)
    with pytest.raises(InputError, match=r"reads as one column 'x,y,z' with separator ';'; "
                                         r"pass --sep ','"):
        read_table(comma, TableOptions(sep=";"))
    with pytest.raises(InputError, match="cannot both be ','"):
        csv_format(comma, sep=",", decimal=",")
    with pytest.raises(InputError, match="apply only to CSV"):
        read_table(tmp_path / "t.parquet", TableOptions(sep=";"))
    assert parse_separator("tab") == parse_separator("\\t") == "\t"
    assert parse_separator(";") == ";"
    for bad in ("ab", "", "x", '"'):
        with pytest.raises(InputError, match="--sep must be one character"):
            parse_separator(bad)


def test_a_misread_file_is_named_as_such_not_in_pandas_words(tmp_path):
    semi = tmp_path / "semi.csv"
    _frame().to_csv(semi, index=False, sep=";", decimal=",")
    # split on commas, pandas takes the cut-off numbers for a row index of 3 levels
    with pytest.raises(InputError, match=r"its rows have more fields than its header "
                                         r"\(read with separator ','"):
        read_table(semi, TableOptions(sep=","))
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4,5,6\n")
    with pytest.raises(InputError) as info:
        read_table(ragged)
    message = str(info.value)
    assert "line 3 has 4 fields, the lines before it 2" in message and "--sep" in message
    assert "tokenizing" not in message and "C error" not in message


def test_the_command_line_says_how_it_read_the_file_and_scores_it_as_the_comma_file(
        tmp_path, comma, capsys):
    semi = tmp_path / "semi.csv"
    _frame().to_csv(semi, index=False, sep=";", decimal=",")
    for path in (comma, semi):
        assert main(["detect", str(path), *FAST, "--out", str(tmp_path / path.stem)]) == 0
    printed = capsys.readouterr().out
    assert f"(table {semi}, ';'-separated, decimal commas, sniffed: --sep and --decimal " \
           "override)" in printed
    assert f"(table {comma})" in printed
    scores = [(tmp_path / name / "scores.csv").read_text() for name in ("comma", "semi")]
    assert scores[0] == scores[1]
    assert main(["detect", str(comma), "--sep", "ab", *FAST]) == 2
    assert "mcod: error: --sep must be one character" in capsys.readouterr().err
    np.save(tmp_path / "x.npy", np.zeros((4, 2)))
    assert main(["detect", str(tmp_path / "x.npy"), "--decimal", ",", *FAST]) == 2
    assert "--decimal applies only to tables" in capsys.readouterr().err


def test_a_semicolon_model_scores_a_comma_file_and_clean_keeps_the_rows_as_written(tmp_path):
    semi, comma, model = tmp_path / "semi.csv", tmp_path / "comma.csv", tmp_path / "m.pt"
    frame = _frame().assign(id=[f"r{i}" for i in range(40)])
    frame.to_csv(semi, index=False, sep=";", decimal=",")
    frame.to_csv(comma, index=False)
    assert table_header(semi) == ["x", "y", "z", "id"]
    assert main(["detect", str(semi), "--id-column", "id", *FAST, "--quiet",
                 "--save-model", str(model), "--out", str(tmp_path / "d")]) == 0
    assert main(["score", str(model), str(comma), "--quiet", "--out", str(tmp_path / "s")]) == 0
    with (tmp_path / "d" / "scores.csv").open() as a, (tmp_path / "s" / "scores.csv").open() as b:
        detected, scored = list(csv.DictReader(a)), list(csv.DictReader(b))
    assert [r["id"] for r in detected] == [r["id"] for r in scored]
    for d, s in zip(detected, scored, strict=True):  # up to float noise of the batch size
        assert float(s["score"]) == pytest.approx(float(d["score"]), rel=1e-5)
    out = tmp_path / "clean"
    assert main(["clean", str(semi), "--id-column", "id", *FAST, "--quiet",
                 "--out", str(out)]) == 0
    lines = semi.read_text().splitlines(keepends=True)
    kept = (out / "inliers.csv").read_text().splitlines(keepends=True)
    assert kept[0] == lines[0] and set(kept) < set(lines) and len(kept) == 1 + 36
