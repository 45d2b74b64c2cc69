"""ECG headers and signals: every real record, lead selection and the bad cases."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import wfdb

from models.core.errors import DataError
from models.core.paths import read_text
from models.core.progress import quiet
from models.formats.wfdb_ecg import (
    LEADS,
    find_records,
    load_signal,
    parse_dx,
    parse_header,
    physical_signal,
    read_header,
    select_leads,
    to_physical,
)
from models.tasks import ecg
from tests.conftest import record_count


def test_every_real_record_loads_with_the_header_shape_and_rate(ecg_folder: Path) -> None:
    paths = find_records(ecg_folder)
    assert len(paths) == 255
    rates = Counter()
    for path in paths:
        header = read_header(path)
        signal = load_signal(path, header)
        assert header.record == path.stem and header.leads == LEADS
        assert signal.shape == (12, header.num_samples) and signal.dtype == np.float32
        assert header.gains == (1000.0,) * 12
        rates[header.frequency] += 1
    assert rates == {500.0: 245, 1000.0: 10}
    record_count("ECG records", len(paths))


def test_signals_equal_wfdb_physical_units(ecg_folder: Path) -> None:
    for name in ["A0001", "E00271", "HR00001", "JS00001", "S0001"]:
        path = ecg_folder / f"{name}.hea"
        if not path.exists():
            continue
        reference = wfdb.rdrecord(str(path.with_suffix(""))).p_signal.T
        np.testing.assert_allclose(load_signal(path), reference, atol=1e-6)


def test_dx_counts_match_the_manifest(ecg_folder: Path) -> None:
    codes, spaced = Counter(), 0
    for path in find_records(ecg_folder):
        header = read_header(path)
        dx, was_spaced = parse_dx(read_text(path).splitlines())
        assert list(header.dx) == dx and dx
        codes.update(set(dx))
        spaced += was_spaced
    assert spaced == 57
    assert len(codes) == 56
    assert codes["426783006"] == 72 and codes["426177001"] == 43 and codes["164889003"] == 14
    assert codes["59118001"] == 12 and codes["270492004"] == 8


def test_age_and_sex_are_typed(ecg_folder: Path) -> None:
    header = read_header(ecg_folder / "A0001.hea")
    assert (header.age, header.sex, header.dx) == (74.0, "Male", ("59118001",))
    nan_age = parse_header("X 1 500 10\nX.mat 16+24 1000/mV 16 0 0 0 0 I\n# Age: NaN\n# Sex: ?\n")
    assert np.isnan(nan_age.age) and nan_age.sex is None and nan_age.dx == ()


def test_to_physical_uses_gain_and_baseline() -> None:
    header = parse_header(
        "R 2 500 3\nR.mat 16+24 500/mV 16 0 0 0 0 I\nR.mat 16+24 1000(10)/mV 16 0 10 0 0 II\n"
    )
    digital = np.array([[500, -500, 0], [1010, 10, -990]], dtype=np.int16)
    np.testing.assert_allclose(to_physical(digital, header), [[1, -1, 0], [1, 0, -1]])


def test_select_leads_reorders_by_name_and_fills_only_when_asked() -> None:
    signal = np.arange(6, dtype=np.float32).reshape(3, 2)
    chosen = select_leads(signal, ("I", "II", "V2"), ("V2", "i"))
    np.testing.assert_array_equal(chosen, [[4, 5], [0, 1]])
    with pytest.raises(DataError, match=r"leads \['aVR'\] are not in the record"):
        select_leads(signal, ("I", "II", "V2"), ("I", "aVR"))
    filled = select_leads(signal, ("I", "II", "V2"), ("I", "aVR"), fill_missing=True)
    np.testing.assert_array_equal(filled, [[0, 1], [0, 0]])


def copy_record(ecg_folder: Path, name: str, folder: Path) -> Path:
    for suffix in (".hea", ".mat"):
        shutil.copy(ecg_folder / f"{name}{suffix}", folder / f"{name}{suffix}")
    return folder / f"{name}.hea"


def test_sample_count_disagreement_names_the_signal(ecg_folder: Path, tmp_path: Path) -> None:
    path = copy_record(ecg_folder, "A0002", tmp_path)
    path.write_text(path.read_text().replace("A0002 12 500 5000", "A0002 12 500 6000", 1))
    with pytest.raises(
        DataError,
        match=r"A0002\.mat: signal is 12 leads x 5000 samples but the "
        r"header says 12 x 6000",
    ):
        load_signal(path)


def test_mat_without_val_is_refused(ecg_folder: Path, tmp_path: Path) -> None:
    path = copy_record(ecg_folder, "A0002", tmp_path)
    scipy.io.savemat(tmp_path / "A0002.mat", {"data": np.zeros((12, 5000), np.int16)}, format="4")
    with pytest.raises(DataError, match=r"A0002\.mat: MATLAB file has no 'val' matrix"):
        load_signal(path)


def test_truncated_mat_is_refused(ecg_folder: Path, tmp_path: Path) -> None:
    path = copy_record(ecg_folder, "A0002", tmp_path)
    mat = tmp_path / "A0002.mat"
    mat.write_bytes(mat.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"A0002\.mat: unreadable MATLAB file"):
        load_signal(path)


def test_signal_file_path_with_folders_is_refused(ecg_folder: Path, tmp_path: Path) -> None:
    path = copy_record(ecg_folder, "A0002", tmp_path)
    path.write_text(path.read_text().replace("A0002.mat", "../A0002.mat"))
    with pytest.raises(DataError, match=r"A0002\.hea: invalid WFDB header"):
        load_signal(path)


@pytest.mark.parametrize(
    "text",
    ["", "R 12 500\n", "R two 500 10\n", "R 2 500 10\nR.mat 16+24 1000/mV 16 0 0 0 0 I\n"],
)
def test_malformed_headers_are_data_errors(text: str) -> None:
    with pytest.raises(DataError, match=r"^bad\.hea: "):
        parse_header(text, source="bad.hea")


def test_generated_records_load_through_the_kit(ecg_demo: Path) -> None:
    paths = find_records(ecg_demo)
    assert len(paths) == 40
    spaced = 0
    for path in paths:
        header = read_header(path)
        signal = load_signal(path, header)
        assert signal.shape == (12, header.num_samples) and header.frequency == 500
        assert header.dx and np.isfinite(header.age)
        spaced += parse_dx(read_text(path).splitlines())[1]
        np.testing.assert_allclose(signal[2], signal[1] - signal[0], atol=2e-3)
    assert spaced >= 1


def test_records_are_found_by_header_name_alone(ecg_folder: Path, tmp_path: Path) -> None:
    copy_record(ecg_folder, "A0002", tmp_path)
    copy_record(ecg_folder, "A0001", tmp_path)
    (tmp_path / "A0001.mat").unlink()  # a header without its signal is still an item
    shutil.copy(ecg_folder / "A0003.hea", tmp_path / "A0003.HEA")
    (tmp_path / "1234_AV.hea").write_text("1234_AV 1 4000 8000\n1234_AV.wav 16 1 16 0 0 0 0 AV\n")
    (tmp_path / "1234_AV.wav").write_bytes(b"")  # a heart-sound header, not an ECG
    (tmp_path / ".A0004.hea").write_text("")
    found = [path.name for path in find_records(tmp_path)]
    assert found == ["A0001.hea", "A0002.hea", "A0003.HEA"]
    with pytest.raises(DataError, match=r"A0001\.hea: signal file 'A0001\.mat' does not exist"):
        load_signal(tmp_path / "A0001.hea")


def test_a_header_naming_another_record_is_refused(ecg_folder: Path, tmp_path: Path) -> None:
    path = copy_record(ecg_folder, "A0002", tmp_path)
    copy = tmp_path / "A0009.hea"
    copy.write_text(path.read_text())
    with pytest.raises(DataError, match=r"A0009\.hea: record line names 'A0002', not 'A0009'"):
        read_header(copy)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("A0002 12 500 ", "A0002 12 10 "), r"implausible sampling rate 10 Hz for ECG"),
        (("1000/mV", "0/mV"), r"gain 0 for lead I, II, .*, V6: wfdb would read it as 200/mV"),
        (("1000/mV", "0.01/mV"), r"A0002\.mat: lead .* swings .* check the gains in A0002\.hea"),
        ((" I\n", " left arm\n"), None),
    ],
    ids=["rate", "zero gain", "tiny gain", "one lead renamed"],
)
def test_implausible_headers_are_refused(
    ecg_folder: Path, tmp_path: Path, change: tuple[str, str], reason: str | None
) -> None:
    path = copy_record(ecg_folder, "A0002", tmp_path)
    path.write_text(path.read_text().replace(*change))
    if reason is None:
        assert load_signal(path).shape == (12, 5000)
        return
    with pytest.raises(DataError, match=reason):
        load_signal(path)


def test_signals_without_an_ecg_are_refused(ecg_folder: Path, tmp_path: Path) -> None:
    path = copy_record(ecg_folder, "A0002", tmp_path)
    val = scipy.io.loadmat(tmp_path / "A0002.mat")["val"]
    val[:11] = 7
    scipy.io.savemat(tmp_path / "A0002.mat", {"val": val}, format="4")
    assert load_signal(path).shape == (12, 5000)  # one live lead is an ECG
    val[11] = 7
    scipy.io.savemat(tmp_path / "A0002.mat", {"val": val}, format="4")
    with pytest.raises(DataError, match=r"A0002\.mat: every lead is constant: no ECG to classify"):
        load_signal(path)
    unknown = "\n".join(f"A0002.mat 16+24 1000/mV 16 0 0 0 0 X{lead}" for lead in range(12))
    text = "A0002 12 500 5000\n" + unknown + "\n"
    with pytest.raises(DataError, match=r"^R\.hea: no lead is named .* \(found X0, X1, "):
        physical_signal(val, parse_header(text, source="R.hea"), "A0002.mat")


def test_training_refuses_a_record_by_name(ecg_folder: Path, tmp_path: Path) -> None:
    """The cache prepares only records that read cleanly, and names a missing signal file."""
    path = copy_record(ecg_folder, "A0002", tmp_path)
    copy_record(ecg_folder, "A0001", tmp_path)
    (tmp_path / "A0000.hea").write_text(path.read_text())
    with pytest.raises(DataError, match=r"A0000\.hea: record line names 'A0002'"):
        ecg.cache_records(tmp_path, ecg.EcgConfig(), quiet)
    (tmp_path / "A0000.hea").unlink()
    (tmp_path / "A0001.mat").unlink()
    with pytest.raises(DataError, match=r"A0001\.hea: signal file 'A0001\.mat' does not exist"):
        ecg.cache_records(tmp_path, ecg.EcgConfig(), quiet)
