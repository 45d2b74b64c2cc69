"""Output files: written as the official templates write them, read as each year's scorer reads."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from models.core.errors import DataError
from models.formats.outputs import (
    read_2016_outputs,
    read_ecg_outputs,
    read_outputs,
    read_patient_outputs,
    write_outputs,
)
from models.formats.scoring_tables import load_ecg_scoring

PATIENT_CLASSES = ["Present", "Unknown", "Absent", "Abnormal", "Normal"]
AF, AFL, CRBBB, RBBB, NSR = "164889003", "164890007", "713427006", "59118001", "426783006"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_bytes(text.encode())
    return path


def patient_rows(folder: Path, *texts: str):
    paths = [write(folder, f"{number}.csv", text) for number, text in enumerate(texts)]
    return read_patient_outputs(paths)


def ecg_rows(folder: Path, year: int, *texts: str):
    scoring = load_ecg_scoring(year)
    paths = [write(folder, f"R{number}.csv", text) for number, text in enumerate(texts)]
    table, malformed = read_ecg_outputs(paths, scoring)
    return scoring, table, malformed


def test_write_outputs_byte_for_byte(tmp_path: Path):
    path = tmp_path / "1234.csv"
    probabilities = np.array([0.71, 0.18, 0.11, 0.83, 0.17], dtype=np.float32)
    write_outputs(path, "1234", PATIENT_CLASSES, np.array([1, 0, 0, 1, 0]), probabilities)
    assert path.read_bytes() == (
        b"#1234\nPresent,Unknown,Absent,Abnormal,Normal\n1,0,0,1,0\n0.71,0.18,0.11,0.83,0.17\n"
    )


def test_write_outputs_of_a_failed_item_and_read_back(tmp_path: Path):
    path = tmp_path / "A0001.csv"
    write_outputs(path, "A0001", [], [], [])
    assert path.read_bytes() == b"#A0001\n\n\n\n"
    assert read_outputs(path) == ("A0001", [], [], [])


def test_write_outputs_refuses_lists_of_different_lengths(tmp_path: Path):
    with pytest.raises(ValueError, match="2 classes, 1 labels"):
        write_outputs(tmp_path / "x.csv", "x", ["a", "b"], [1], [0.5, 0.5])


def test_read_outputs_round_trip(tmp_path: Path):
    path = tmp_path / "1.csv"
    write_outputs(
        path, "1", PATIENT_CLASSES, [True, False, False, True, False], [0.5, 0.25, 0.25, 0.75, 0.25]
    )
    assert read_outputs(path) == (
        "1",
        PATIENT_CLASSES,
        [True, False, False, True, False],
        [0.5, 0.25, 0.25, 0.75, 0.25],
    )


def test_read_outputs_of_a_truncated_file_is_an_error(tmp_path: Path):
    with pytest.raises(DataError, match="four lines"):
        read_outputs(write(tmp_path, "1.csv", "#1\nPresent\n"))


# 2022


def test_patient_columns_in_any_order_and_case_with_missing_ones(tmp_path: Path):
    murmur, outcome, malformed = patient_rows(
        tmp_path, "#1\n normal ,ABSENT,present,Abnormal\n0,1,0,1\n0.2,0.7,0.1,0.8\n"
    )
    assert malformed == []
    assert murmur.binary.tolist() == [[False, False, True]]
    assert murmur.probabilities.tolist() == [[0.1, 0.0, 0.7]]  # Unknown absent: 0
    assert outcome.binary.tolist() == [[True, False]]
    assert outcome.probabilities.tolist() == [[0.8, 0.2]]


def test_patient_values_quoted_nan_inf_and_truthy_words(tmp_path: Path):
    murmur, outcome, _ = patient_rows(
        tmp_path,
        "#1\nPresent,Unknown,Absent,Abnormal,Normal\n\"1\",'T',1.0,true,2\n"
        '"0.5",nan,inf,-inf,abc\n',
        "#2\nPresent,Unknown,Absent,Abnormal,Normal\nt,True,False,yes,0\n1,1,1,1,1\n",
    )
    assert murmur.binary.tolist() == [[True, True, True], [True, True, False]]
    assert outcome.binary.tolist() == [[True, False], [False, False]]
    assert murmur.probabilities[0].tolist() == [0.5, 0.0, math.inf]
    assert outcome.probabilities[0].tolist() == [-math.inf, 0.0]


def test_patient_class_names_in_quotes_do_not_match(tmp_path: Path):
    # The 2022 scorer strips quotes from values but compares class names as written.
    murmur, _, _ = patient_rows(tmp_path, '#1\n"Present",Unknown\n1,1\n0.9,0.8\n')
    assert murmur.binary.tolist() == [[False, True, False]]
    assert murmur.probabilities.tolist() == [[0.0, 0.8, 0.0]]


def test_patient_class_named_twice_takes_the_last_column(tmp_path: Path):
    murmur, _, _ = patient_rows(tmp_path, "#1\nPresent,Absent,present\n1,0,0\n0.9,0.5,0.3\n")
    assert murmur.binary.tolist() == [[False, False, False]]
    assert murmur.probabilities.tolist() == [[0.3, 0.0, 0.5]]


def test_failed_patient_file_is_all_negative_without_warning(tmp_path: Path):
    murmur, outcome, malformed = patient_rows(tmp_path, "#1\n\n\n\n")
    assert malformed == []
    assert not murmur.binary.any() and not outcome.probabilities.any()


def test_truncated_patient_files_count_as_malformed(tmp_path: Path):
    murmur, _, malformed = patient_rows(
        tmp_path,
        "#1\nPresent,Unknown,Absent\n1,0,0\n",
        "#2\nPresent,Unknown,Absent\n1,0\n0.9,0.1,0.0\n",
        "#3\nPresent,Unknown,Absent\n1,0,0,1\n0.5,0.25,0.25,9\n",
    )
    assert [Path(item.path).name for item in malformed] == ["0.csv", "1.csv"]
    assert "four lines" in malformed[0].problem and "no label" in malformed[1].problem
    assert murmur.binary.tolist() == [[False] * 3, [False] * 3, [True, False, False]]


def test_patient_lines_are_read_by_position_with_any_line_end(tmp_path: Path):
    murmur, _, malformed = patient_rows(
        tmp_path,
        "#1\r\nPresent,Unknown,Absent\r\n0,1,0\r\n0.1,0.8,0.1\r\n",
        "#2\n# a comment takes the place of the class line\nPresent,Unknown\n1,0\n0.9,0.1\n",
    )
    assert [(Path(item.path).name, item.problem) for item in malformed] == [
        ("1.csv", "its class line names none of the classes")
    ]
    assert murmur.binary.tolist() == [[False, True, False], [False, False, False]]


def test_rows_follow_the_paths_across_class_lines(tmp_path: Path):
    murmur, _, _ = patient_rows(
        tmp_path,
        "#1\nPresent,Unknown,Absent\n1,0,0\n0.7,0.2,0.1\n",
        "#2\nAbsent,Present\n1,0\n0.6,0.4\n",
        "#3\nPresent,Unknown,Absent\n0,1,0\n0.1,0.8,0.1\n",
    )
    assert murmur.probabilities.tolist() == [[0.7, 0.2, 0.1], [0.4, 0.0, 0.6], [0.1, 0.8, 0.1]]


def test_unreadable_output_file_is_an_error_naming_it(tmp_path: Path):
    (tmp_path / "1.csv").mkdir()
    os.mkfifo(tmp_path / "2.csv")  # opened without blocking: refused, never waited on
    os.symlink(tmp_path / "3.csv", tmp_path / "4.csv")
    os.symlink(tmp_path / "4.csv", tmp_path / "3.csv")
    for name, problem in [
        ("1.csv", "not a regular file"),
        ("2.csv", "not a regular file"),
        ("3.csv", "cannot read .Too many levels of symbolic links"),
    ]:
        with pytest.raises(DataError, match=rf"{name}: {problem}"):
            read_patient_outputs([tmp_path / name])


def test_output_file_that_is_not_utf8_is_malformed(tmp_path: Path):
    text = "#1\nPresent,Unknown,Absent\n1,0,0\n0.9,0.1,0.0\n"
    (tmp_path / "1.csv").write_bytes(text.encode("utf-16"))
    (tmp_path / "2.csv").write_bytes(bytes(range(128, 256)))
    murmur, _, malformed = read_patient_outputs([tmp_path / "1.csv", tmp_path / "2.csv"])
    assert [item.problem for item in malformed] == ["not UTF-8 text (byte 0)"] * 2
    assert not murmur.binary.any()


# 2021


def test_ecg_2021_equivalent_codes_joined_codes_and_unscored_codes(tmp_path: Path):
    scoring, table, malformed = ecg_rows(
        tmp_path,
        2021,
        f"#R0\n{RBBB},251173003,{AF}|{AFL},{NSR}\n1,1,1,0\n0.9,0.8,0.7,0.1\n",
    )
    assert malformed == []
    row = {code: number for number, code in enumerate(scoring.codes)}
    assert np.flatnonzero(table.binary[0]).tolist() == sorted([row[CRBBB], row[AF], row[AFL]])
    assert table.probabilities[0, row[CRBBB]] == 0.9
    assert table.probabilities[0, row[AF]] == table.probabilities[0, row[AFL]] == 0.7
    assert table.probabilities[0, row[NSR]] == 0.1


def test_ecg_2021_class_named_twice_is_positive_if_any_and_averaged(tmp_path: Path):
    scoring, table, _ = ecg_rows(
        tmp_path,
        2021,
        f"#R0\n{CRBBB},{RBBB}\n0,1.0\n0.25,nan\n",
        f"#R1\n{CRBBB},{RBBB}\n0,0\n0.2,0.4\n",
    )
    column = scoring.class_of(CRBBB)
    assert table.binary[:, column].tolist() == [True, False]
    assert table.probabilities[:, column].tolist() == [0.125, (0.2 + 0.4) / 2]


def test_ecg_2021_non_finite_probabilities_count_as_zero(tmp_path: Path):
    scoring, table, _ = ecg_rows(tmp_path, 2021, f"#R0\n{AF},{AFL},{NSR}\nT,0,1\ninf,-inf,nan\n")
    assert not table.probabilities.any()
    assert table.binary[0, scoring.class_of(AF)] and table.binary[0, scoring.class_of(NSR)]


def test_ecg_2021_trailing_empty_line_and_malformed_files(tmp_path: Path):
    scoring, table, malformed = ecg_rows(
        tmp_path,
        2021,
        f"#R0\n{AF}\n1\n0.5\n\n",
        f"#R1\n{AF},{NSR}\n1\n0.5\n",
        f"#R2\n{AF}\n1\n",
    )
    assert table.binary[:, scoring.class_of(AF)].tolist() == [True, False, False]
    assert [Path(item.path).name for item in malformed] == ["R1.csv", "R2.csv"]


# 2020


def test_ecg_2020_skips_comments_and_blank_lines(tmp_path: Path):
    scoring, table, malformed = ecg_rows(
        tmp_path, 2020, f"#R0\n\n# model v2\n{AF},{NSR}\n\n1,0\n  # late comment\n0.75,0.5\n"
    )
    assert malformed == []
    assert table.binary[0, scoring.class_of(AF)]
    assert table.probabilities[0, scoring.class_of(NSR)] == 0.5


def test_ecg_2020_lines_of_different_field_count_make_the_record_negative(tmp_path: Path):
    _, table, malformed = ecg_rows(tmp_path, 2020, f"#R0\n{AF},{NSR}\n1,0\n0.9,0.1,0.3\n")
    assert not table.binary.any() and not table.probabilities.any()
    assert malformed[0].path.endswith("R0.csv")
    assert malformed[0].problem == "its lines differ in field count"


def test_ecg_2020_value_rules(tmp_path: Path):
    scoring, table, _ = ecg_rows(
        tmp_path,
        2020,
        f"#R0\n{AF},{AFL},{CRBBB},{RBBB},{NSR},{AF}|{AFL}\n1.0,t,0,0,1,1\n"
        "0.5,inf,nan,0.4,nan,0.9\n",
        f"#R1\n{CRBBB},{RBBB}\n0,0\nnan,nan\n",
    )
    row = {code: number for number, code in enumerate(scoring.codes)}
    assert not table.binary[0, row[AF]]  # 2020 wants the text '1'
    assert table.binary[0, row[AFL]] and table.binary[0, row[NSR]]
    assert table.probabilities[0, row[AFL]] == math.inf  # 2020 keeps infinity
    assert table.probabilities[0, row[CRBBB]] == 0.4  # nan left out of the mean
    assert table.probabilities[0, row[NSR]] == 0.0  # nan alone becomes 0
    assert table.probabilities[0, row[AF]] == 0.5  # 'a|b' names no 2020 class
    assert table.probabilities[1, row[CRBBB]] == 0.0


def test_2016_outputs_by_class_name_with_failed_and_malformed_files(tmp_path: Path):
    written = tmp_path / "a0001.csv"
    write_outputs(written, "a0001", ["Abnormal", "Normal"], [0, 1], [0.25, 0.75])
    paths = [
        written,
        write(tmp_path, "a0002.csv", "#a0002\n normal ,ABNORMAL\n1,0\n0.9,0.1\n"),
        write(tmp_path, "a0003.csv", "#a0003\n\n\n\n"),
        write(tmp_path, "a0004.csv", "#a0004\nAbnormal,Normal\n"),
    ]
    table, malformed = read_2016_outputs(paths)
    np.testing.assert_array_equal(table.binary, [[0, 1], [0, 1], [0, 0], [0, 0]])
    np.testing.assert_allclose(table.probabilities, [[0.25, 0.75], [0.1, 0.9], [0, 0], [0, 0]])
    assert [item.path for item in malformed] == [str(paths[3])]
