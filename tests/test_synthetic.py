"""The synthetic data generator: real challenge file formats, determinism, class mix, and the
physiological signature each label is meant to carry."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import soundfile
import wfdb
from scipy import signal

from models.formats.wfdb_ecg import LEADS
from models.synthetic.circor import (
    METADATA_KEYS,
    MURMUR_MIX,
    plan_murmur_folder,
    write_murmur_folder,
)
from models.synthetic.cli import main
from models.synthetic.ecg import SCORED_CODES, UNSCORED_CODES, wfdb_checksums, write_ecg_folder
from models.synthetic.pcg2016 import plan_2016_folder, write_2016_folder

PCG_FS = 4000
ECG_FS = 500
LOCATION_LINE = re.compile(r"(AV|PV|TV|MV|Phc) (\d+_\1(?:_\d)?)\.hea \2\.wav(?: \2\.tsv)?")
ECG_SIGNAL_LINE = re.compile(r"(\w+)\.mat 16\+24 1000/mV 16 0 (-?\d+) (-?\d+) 0 (\w+)")


def real_examples(kind: str) -> Path:
    """The real challenge files the kit is checked against, wherever this checkout keeps them."""
    root = Path(__file__).resolve().parents[1]
    for shared in (root / "shared", root.parent / "shared"):
        if (shared / "data" / kind).is_dir():
            return shared / "data" / kind
    pytest.skip(f"no real {kind} examples in this checkout")


def folder_digest(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


# ---------------------------------------------------------------------------------------------
# PCG
# ---------------------------------------------------------------------------------------------


def read_patient(path: Path) -> tuple[list[str], list[list[str]], list[tuple[str, str]]]:
    """Header fields, location lines (as fields) and ``(key, value)`` metadata of an ``ID.txt``."""
    lines = path.read_text().splitlines()
    header = lines[0].split()
    count = int(header[1])
    locations = [line.split() for line in lines[1 : 1 + count]]
    metadata = [tuple(line[1:].split(": ", 1)) for line in lines[1 + count :]]
    return header, locations, metadata


@pytest.fixture(scope="module")
def murmur_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("murmur")
    write_murmur_folder(folder, 24, seed=7)
    return folder


@pytest.fixture(scope="module")
def patients(murmur_folder: Path) -> dict[str, tuple]:
    return {path.stem: read_patient(path) for path in sorted(murmur_folder.glob("*.txt"))}


def recordings(patients: dict[str, tuple]) -> list[tuple[str, str, dict[str, str], bool]]:
    """``(stem, location, metadata, has_tsv)`` for every recording of every patient."""
    return [
        (fields[1][: -len(".hea")], fields[0], dict(metadata), len(fields) == 4)
        for _, locations, metadata in patients.values()
        for fields in locations
    ]


def state_power(folder: Path, stem: str) -> dict[int, float]:
    """Mean power of the samples the TSV marks as each state (1 S1, 2 systole, 3 S2, 4 diastole)."""
    samples, _ = soundfile.read(folder / f"{stem}.wav")
    rows = np.loadtxt(folder / f"{stem}.tsv", ndmin=2)
    power = {}
    for state in (1, 2, 3, 4):
        spans = rows[rows[:, 2] == state, :2]
        parts = [samples[round(start * PCG_FS) : round(end * PCG_FS)] for start, end in spans]
        power[state] = float(np.mean(np.concatenate(parts) ** 2))
    return power


def test_same_seed_writes_identical_murmur_bytes(tmp_path: Path) -> None:
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        write_murmur_folder(tmp_path / name, 3, seed=seed)
    first = folder_digest(tmp_path / "a")
    assert first == folder_digest(tmp_path / "b")
    assert first != folder_digest(tmp_path / "c")


def test_patient_files_have_the_challenge_layout(patients: dict[str, tuple]) -> None:
    for patient_id, (header, locations, metadata) in patients.items():
        assert header == [patient_id, str(len(locations)), "4000"]
        for fields in locations:
            assert LOCATION_LINE.fullmatch(" ".join(fields)), fields
            assert fields[1].startswith(f"{patient_id}_{fields[0]}")
        assert [key for key, _ in metadata] == list(METADATA_KEYS)


def test_metadata_keys_and_header_lines_match_real_files(patients: dict[str, tuple]) -> None:
    real = real_examples("circor")
    _, real_locations, real_metadata = read_patient(real / "50127.txt")
    assert [key for key, _ in real_metadata] == list(METADATA_KEYS)
    assert all(LOCATION_LINE.fullmatch(" ".join(fields)) for fields in real_locations)
    assert (real / "50127_AV.hea").read_bytes() == (
        b"50127_AV 1 4000 106624\r\n50127_AV.wav 16+44 1 16 0 0 0 0 AV\r\n"
    )


def test_metadata_values_are_consistent(patients: dict[str, tuple]) -> None:
    for _, locations, metadata in patients.values():
        meta = dict(metadata)
        assert meta["Age"] in {"Neonate", "Infant", "Child", "Adolescent", "nan"}
        assert meta["Sex"] in {"Female", "Male"}
        for key in ("Height", "Weight"):
            assert meta[key] == "nan" or float(meta[key]) > 0
        assert meta["Pregnancy status"] in {"True", "False"}
        if meta["Pregnancy status"] == "True":
            assert (meta["Sex"], meta["Age"]) == ("Female", "nan")
        assert meta["Outcome"] in {"Abnormal", "Normal"}
        assert meta["Campaign"] in {"CC2014", "CC2015"}
        systolic = [meta[f"Systolic murmur {part}"] for part in ("timing", "shape", "grading")]
        assert all(meta[f"Diastolic murmur {part}"] == "nan" for part in ("timing", "pitch"))
        if meta["Murmur"] == "Present":
            heard = meta["Murmur locations"].split("+")
            assert heard == sorted(heard)
            assert set(heard) <= {fields[0] for fields in locations}
            assert meta["Most audible location"] in heard
            assert "nan" not in systolic
        else:
            assert meta["Murmur locations"] == meta["Most audible location"] == "nan"
            assert systolic == ["nan"] * 3


def test_class_mix_and_outcome_follow_the_design() -> None:
    patients = plan_murmur_folder(400, seed=1)
    murmurs = Counter(patient.murmur for patient in patients)
    for name, share in MURMUR_MIX:
        assert abs(murmurs[name] - share * 400) < 1
    abnormal = {
        name: np.mean([p.outcome == "Abnormal" for p in patients if p.murmur == name])
        for name in murmurs
    }
    assert abnormal["Present"] > abnormal["Absent"] + 0.25
    tallest = {}
    for patient in patients:
        person = patient.demographics
        if person.height != "nan" and person.age != "nan":
            tallest.setdefault(person.age, []).append(float(person.height))
    medians = [np.median(tallest[age]) for age in ("Neonate", "Infant", "Child", "Adolescent")]
    assert medians == sorted(medians)


def test_small_folder_has_every_murmur_class(tmp_path: Path) -> None:
    write_murmur_folder(tmp_path, 5, seed=2)
    murmurs = Counter(dict(read_patient(path)[2])["Murmur"] for path in tmp_path.glob("*.txt"))
    assert murmurs == {"Present": 2, "Unknown": 1, "Absent": 2}


def test_folder_holds_the_real_quirks_and_nothing_else(
    murmur_folder: Path, patients: dict[str, tuple]
) -> None:
    entries = recordings(patients)
    missing_tsv = [stem for stem, _, _, has_tsv in entries if not has_tsv]
    repeated = [stem for stem, _, _, _ in entries if re.search(r"_[A-Z]+_[12]$", stem)]
    assert missing_tsv and repeated
    assert not any((murmur_folder / f"{stem}.tsv").exists() for stem in missing_tsv)
    named = {f"{patient_id}.txt" for patient_id in patients}
    for stem, _, _, has_tsv in entries:
        named |= {f"{stem}.hea", f"{stem}.wav"} | ({f"{stem}.tsv"} if has_tsv else set())
    assert {path.name for path in murmur_folder.iterdir()} == named


def test_recordings_read_back_with_soundfile_and_wfdb(
    murmur_folder: Path, patients: dict[str, tuple]
) -> None:
    for stem, location, _, _ in recordings(patients):
        info = soundfile.info(murmur_folder / f"{stem}.wav")
        assert (info.samplerate, info.channels, info.subtype) == (PCG_FS, 1, "PCM_16")
        assert 5.0 <= info.duration <= 20.0
        header = f"{stem} 1 4000 {info.frames}\r\n{stem}.wav 16+44 1 16 0 0 0 0 {location}\r\n"
        assert (murmur_folder / f"{stem}.hea").read_bytes() == header.encode()
        record = wfdb.rdrecord(str(murmur_folder / stem), physical=False)
        samples, _ = soundfile.read(murmur_folder / f"{stem}.wav", dtype="int16")
        assert record.sig_name == [location]
        np.testing.assert_array_equal(record.d_signal[:, 0], samples)


def test_segmentation_tiles_the_recording_in_heart_cycles(
    murmur_folder: Path, patients: dict[str, tuple]
) -> None:
    for stem, _, _, has_tsv in recordings(patients):
        if not has_tsv:
            continue
        rows = np.loadtxt(murmur_folder / f"{stem}.tsv", ndmin=2)
        duration = soundfile.info(murmur_folder / f"{stem}.wav").frames / PCG_FS
        assert rows[0, 0] == 0 and rows[-1, 1] == duration
        np.testing.assert_array_equal(rows[1:, 0], rows[:-1, 1])
        states = rows[:, 2].astype(int)
        assert states[0] == states[-1] == 0 and np.all(states[1:-1] > 0)
        np.testing.assert_array_equal(states[2:-1], states[1:-2] % 4 + 1)
        s1_rows = np.flatnonzero(states == 1)
        cycle = np.diff(rows[s1_rows, 0])
        assert np.all((60 / cycle > 65) & (60 / cycle < 150))
        complete = s1_rows[:-1]
        systolic_share = (rows[complete + 2, 0] - rows[complete, 0]) / cycle
        assert np.all((systolic_share > 0.3) & (systolic_share < 0.5))


def test_heart_sounds_stand_out_except_in_poor_recordings(
    murmur_folder: Path, patients: dict[str, tuple]
) -> None:
    contrast: dict[bool, list[float]] = {True: [], False: []}
    for stem, _, meta, has_tsv in recordings(patients):
        if has_tsv:
            power = state_power(murmur_folder, stem)
            contrast[meta["Murmur"] == "Unknown"].append(min(power[1], power[3]) / power[4])
    assert min(contrast[False]) > 10
    assert np.median(contrast[True]) < 3


def test_murmur_adds_systolic_energy_where_it_is_heard(
    murmur_folder: Path, patients: dict[str, tuple]
) -> None:
    ratios: dict[str, list[float]] = {"loudest": [], "silent": []}
    for stem, location, meta, has_tsv in recordings(patients):
        if not has_tsv or meta["Murmur"] == "Unknown":
            continue
        power = state_power(murmur_folder, stem)
        if location == meta["Most audible location"]:
            ratios["loudest"].append(power[2] / power[4])
        elif location not in meta["Murmur locations"].split("+"):
            ratios["silent"].append(power[2] / power[4])
    assert len(ratios["loudest"]) >= 5
    assert min(ratios["loudest"]) > 2
    assert max(ratios["silent"]) < 1.5


# ---------------------------------------------------------------------------------------------
# ECG
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ecg_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ecg")
    write_ecg_folder(folder, 80, seed=11)
    return folder


@pytest.fixture(scope="module")
def ecg_records(ecg_folder: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """Header lines and ``val`` of every record."""
    return {
        path.stem: (
            path.read_text().splitlines(),
            scipy.io.loadmat(path.with_suffix(".mat"))["val"],
        )
        for path in sorted(ecg_folder.glob("*.hea"))
    }


def dx_codes(lines: list[str]) -> list[str]:
    dx = [line for line in lines if re.match(r"# ?Dx: ", line)]
    return dx[0].split(": ", 1)[1].split(",")


def labels_of(lines: list[str]) -> set[str]:
    names = {code: name for name, code in {**SCORED_CODES, **UNSCORED_CODES}.items()}
    return {names[code] for code in dx_codes(lines)}


def qrs_detections(val: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """QRS locations from the 5–30 Hz energy summed over leads, and that energy."""
    band = signal.butter(2, [5, 30], "bandpass", fs=ECG_FS, output="sos")
    energy = np.abs(signal.sosfiltfilt(band, val / 1000, axis=1)).sum(axis=0)
    height = 0.4 * np.percentile(energy, 99.5)
    peaks, _ = signal.find_peaks(energy, height=height, distance=ECG_FS // 4)
    return peaks, energy


def median_beat(x: np.ndarray, peaks: np.ndarray, before: float, after: float) -> np.ndarray:
    """Median of the windows around each detected QRS (last axis = time)."""
    lead, lag = round(before * ECG_FS), round(after * ECG_FS)
    usable = peaks[(peaks >= lead) & (peaks + lag < x.shape[-1])]
    return np.median(np.stack([x[..., p - lead : p + lag] for p in usable]), axis=0)


def without_wander(val: np.ndarray) -> np.ndarray:
    highpass = signal.butter(2, 0.7, "highpass", fs=ECG_FS, output="sos")
    return signal.sosfiltfilt(highpass, val / 1000, axis=1)


def test_same_seed_writes_identical_ecg_bytes(tmp_path: Path) -> None:
    for name, seed in (("a", 9), ("b", 9), ("c", 10)):
        write_ecg_folder(tmp_path / name, 4, seed=seed)
    first = folder_digest(tmp_path / "a")
    assert first == folder_digest(tmp_path / "b")
    assert first != folder_digest(tmp_path / "c")


def test_ecg_headers_describe_their_signals(ecg_folder: Path, ecg_records: dict) -> None:
    for name, (lines, val) in ecg_records.items():
        assert lines[0] == f"{name} 12 500 5000"
        assert val.dtype == np.int16 and val.shape == (12, 5000)
        fields = [ECG_SIGNAL_LINE.fullmatch(line).groups() for line in lines[1:13]]
        assert [field[3] for field in fields] == list(LEADS)
        assert all(field[0] == name for field in fields)
        assert [int(field[1]) for field in fields] == val[:, 0].tolist()
        assert [int(field[2]) for field in fields] == wfdb_checksums(val)


def test_wfdb_reads_the_records_like_scipy(ecg_folder: Path, ecg_records: dict) -> None:
    for name, (_, val) in list(ecg_records.items())[:10]:
        header = wfdb.rdheader(str(ecg_folder / name))
        assert (header.fs, header.sig_len, header.sig_name) == (500, 5000, list(LEADS))
        assert header.fmt == ["16"] * 12 and header.byte_offset == [24] * 12
        assert header.adc_gain == [1000.0] * 12 and header.baseline == [0] * 12
        record = wfdb.rdrecord(str(ecg_folder / name), physical=False)
        np.testing.assert_array_equal(record.d_signal, val.T)


def test_checksum_rule_reproduces_real_headers() -> None:
    real = real_examples("ecg")
    for name in ("A0001", "E00001", "JS00001"):
        lines = (real / f"{name}.hea").read_text().splitlines()
        val = scipy.io.loadmat(real / f"{name}.mat")["val"]
        written = [ECG_SIGNAL_LINE.fullmatch(line).groups() for line in lines[1:13]]
        assert [int(field[2]) for field in written] == wfdb_checksums(val)
        assert [int(field[1]) for field in written] == val[:, 0].tolist()


def test_checksum_wraps_to_signed_16_bits() -> None:
    val = np.array([[32767, 1], [-32768, -1], [20000, 20000]], dtype=np.int16)
    assert wfdb_checksums(val) == [-32768, 32767, -25536]


def test_comment_lines_come_in_both_real_styles(ecg_records: dict) -> None:
    styles = Counter()
    for lines, _ in ecg_records.values():
        comments = lines[13:]
        mark = "# " if comments[0].startswith("# ") else "#"
        keys = [line[len(mark) :].split(": ")[0] for line in comments]
        assert keys == ["Age", "Sex", "Dx", "Rx", "Hx", "Sx"]
        assert all(line.startswith(mark) for line in comments)
        assert comments[0][len(mark) + 5 :].isdigit() or comments[0].endswith("NaN")
        styles[mark] += 1
    assert styles["#"] > styles["# "] > 0


def test_label_mix_has_every_class_multi_labels_and_unscored_codes(ecg_records: dict) -> None:
    labels = [labels_of(lines) for lines, _ in ecg_records.values()]
    counts = Counter(label for record in labels for label in record)
    assert all(counts[name] >= 6 for name in SCORED_CODES)
    assert sum(len(record & set(SCORED_CODES)) > 1 for record in labels) >= 15
    assert any(record & set(UNSCORED_CODES) for record in labels)
    rhythms = {"SR", "SB", "STach", "AF"}
    assert all(len(record & rhythms) == 1 for record in labels)


def test_limb_leads_obey_einthoven_and_goldberger(ecg_records: dict) -> None:
    for _, val in ecg_records.values():
        lead = dict(zip(LEADS, val.astype(float), strict=True))
        np.testing.assert_array_equal(lead["III"], lead["II"] - lead["I"])
        assert np.abs(lead["aVR"] + (lead["I"] + lead["II"]) / 2).max() <= 0.5
        assert np.abs(lead["aVL"] - (lead["I"] - lead["II"] / 2)).max() <= 0.5
        assert np.abs(lead["aVF"] - (lead["II"] - lead["I"] / 2)).max() <= 0.5


def test_heart_rate_and_regularity_follow_the_rhythm(ecg_records: dict) -> None:
    expected = {"SR": (60, 100), "SB": (30, 60), "STach": (100, 180), "AF": (50, 160)}
    for lines, val in ecg_records.values():
        rhythm = (labels_of(lines) & set(expected)).pop()
        peaks, _ = qrs_detections(val)
        intervals = np.diff(peaks) / ECG_FS
        low, high = expected[rhythm]
        assert low < 60 / intervals.mean() < high, rhythm
        variation = intervals.std() / intervals.mean()
        assert (variation > 0.08) if rhythm == "AF" else (variation < 0.05), rhythm


def test_first_degree_block_lengthens_pr(ecg_records: dict) -> None:
    """P peak to QRS in lead II's median beat, in sinus records slow enough to see P clear of T."""
    gaps: dict[bool, list[float]] = {True: [], False: []}
    for lines, val in ecg_records.values():
        labels = labels_of(lines)
        peaks, _ = qrs_detections(val)
        if labels & {"SR", "SB"} and 60 / np.diff(peaks / ECG_FS).mean() < 86:
            beat = median_beat(without_wander(val)[LEADS.index("II")], peaks, 0.4, 0.1)
            p_wave = np.argmax(beat[round(0.04 * ECG_FS) : round(0.34 * ECG_FS)])
            gaps["IAVB" in labels].append(0.36 - p_wave / ECG_FS)
    assert len(gaps[True]) >= 5 and len(gaps[False]) >= 5
    assert min(gaps[True]) > 0.2 > max(gaps[False])


def test_right_bundle_branch_block_widens_qrs_with_rsr_in_v1(ecg_records: dict) -> None:
    for lines, val in ecg_records.values():
        rbbb = "RBBB" in labels_of(lines)
        peaks, energy = qrs_detections(val)
        beat_energy = median_beat(energy, peaks, 0.15, 0.2)
        active = np.flatnonzero(beat_energy > 0.2 * beat_energy.max())
        width = (active[-1] - active[0]) / ECG_FS
        assert (width >= 0.12) if rbbb else (width < 0.12)
        v1 = median_beat(without_wander(val)[LEADS.index("V1")], peaks, 0.1, 0.15)
        bumps, shape = signal.find_peaks(v1, prominence=0.08, height=0.05)
        rsr = (
            len(bumps) >= 2
            and shape["prominences"][-1] > 0.3
            and v1[bumps[0] : bumps[-1]].min() < 0
        )
        assert rsr == rbbb


# ---------------------------------------------------------------------------------------------
# Command line and arguments
# ---------------------------------------------------------------------------------------------


def test_command_line_writes_folder_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ecg", str(tmp_path / "ecg"), "--records", "3", "--seed", "2"]) == 0
    assert main(["murmur", str(tmp_path / "pcg"), "--patients", "2"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("wrote 3 records (SR ")
    assert printed[1].startswith("wrote 2 patients, ")
    assert len(list((tmp_path / "ecg").glob("*.mat"))) == 3
    assert len(list((tmp_path / "pcg").glob("*.txt"))) == 2


@pytest.mark.parametrize(
    "argv", [["ecg", "out", "--records", "0"], ["murmur", "out", "--seed", "-1"]]
)
def test_command_line_rejects_bad_numbers(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        main(argv)


@pytest.mark.parametrize("write", [write_murmur_folder, write_ecg_folder])
def test_functions_reject_empty_or_unseeded_requests(write, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        write(tmp_path, 0)
    with pytest.raises(ValueError, match="non-negative"):
        write(tmp_path / "out", 2, seed=-3)
    assert not (tmp_path / "out").exists()


def test_2016_folder_format_labels_and_determinism(tmp_path: Path):
    from models.formats.audio import load_wav
    from models.formats.physionet2016 import find_2016_recordings, read_2016_reference

    write_2016_folder(tmp_path / "a", 10, seed=4)
    write_2016_folder(tmp_path / "b", 10, seed=4)
    reference = read_2016_reference(tmp_path / "a")
    recordings = find_2016_recordings(tmp_path / "a")
    assert (
        [path.stem for path in recordings] == list(reference) == [f"g{n:04d}" for n in range(1, 11)]
    )
    assert Counter(reference.values()) == {1: 5, -1: 5}
    for path in recordings:
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (2000, 1, "PCM_16")
    shares = {1: [], -1: []}
    for path in recordings:
        audio, frequency = load_wav(path)
        bins, power = signal.welch(audio, fs=frequency, nperseg=512)
        band = power[(bins >= 150) & (bins <= 400)].sum() / power[bins >= 20].sum()
        shares[reference[path.stem]].append(band)
    # Murmur noise (100-400 Hz) fills systole of abnormal recordings; low S2 tones do not.
    assert np.median(shares[1]) > 4 * np.median(shares[-1])


def test_2016_command_line(tmp_path: Path, capsys):
    assert main(["pcg2016", str(tmp_path), "--recordings", "4", "--seed", "2"]) == 0
    assert "4 recordings (Abnormal 2, Normal 2)" in capsys.readouterr().out
    assert [plan.abnormal for plan in plan_2016_folder(4, 2)].count(True) == 2
    assert (tmp_path / "REFERENCE.csv").read_text().count("\n") == 4
