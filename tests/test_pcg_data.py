"""Patient files and recordings: every real CirCor patient, plus the quirks and the bad cases."""

from __future__ import annotations

import math
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile

from models.core.errors import DataError, check_samples
from models.core.progress import quiet
from models.formats.audio import HEART_SOUND, load_wav
from models.formats.circor import (
    MURMUR_CLASSES,
    find_patient_files,
    load_recordings,
    load_segmentation,
    parse_patient_text,
    read_patient,
)
from models.formats.physionet2016 import (
    PCG2016_REFERENCE,
    find_2016_recordings,
    read_2016_reference,
)
from models.tasks import murmur
from tests.conftest import record_count

PATIENT_TEXT = """1234 3 4000
AV 1234_AV.hea 1234_AV.wav 1234_AV.tsv
MV 1234_MV_1.hea 1234_MV_1.wav
MV 1234_MV_2.hea 1234_MV_2.wav 1234_MV_2.tsv
#Age: Child
#Sex: Female
#Height: 123.0
#Weight: nan
#Pregnancy status: False
#Murmur: Present
#Murmur locations: AV+MV
#Outcome: Abnormal
"""


def test_every_real_patient_parses_with_the_manifest_counts(circor: Path) -> None:
    patients = [read_patient(path) for path in find_patient_files(circor)]
    assert len(patients) == 201
    assert Counter(p.murmur for p in patients) == {"Present": 82, "Unknown": 68, "Absent": 51}
    assert Counter(p.outcome for p in patients) == {"Abnormal": 111, "Normal": 90}
    assert Counter((p.murmur, p.outcome) for p in patients)[("Absent", "Abnormal")] == 15
    locations = Counter(location for p in patients for location in p.locations)
    assert locations == {"AV": 159, "MV": 180, "PV": 144, "TV": 134}
    ages = Counter(p.age for p in patients)
    assert ages == {"Child": 136, "Infant": 41, "Adolescent": 11, None: 11, "Neonate": 2}
    assert all(p.frequency == 4000 for p in patients)


def test_every_real_recording_loads_with_its_header_length(circor: Path) -> None:
    total, seconds = 0, 0.0
    for path in find_patient_files(circor):
        patient = read_patient(path)
        recordings = load_recordings(circor, patient)
        assert len(recordings) == len(patient.recordings)
        for entry, audio in zip(patient.recordings, recordings, strict=True):
            declared = int((circor / entry.header).read_text().split()[3])
            assert audio.dtype == np.float32 and audio.shape == (declared,)
            assert np.abs(audio).max() <= 1.0
            assert load_segmentation(circor, patient, entry).shape[1] == 3
            total, seconds = total + 1, seconds + len(audio) / patient.frequency
    assert total == 617
    assert 3.8 < seconds / 3600 < 4.0
    record_count("CirCor patients", 201)
    record_count("CirCor recordings", total)


def test_repeated_locations_and_the_odd_segmentation_survive(circor: Path) -> None:
    patient = read_patient(circor / "50782.txt")
    assert patient.locations == ["AV", "AV", "PV", "TV", "MV", "MV"]
    assert patient.age is None and math.isnan(patient.height) and patient.pregnant is True
    mv_1 = patient.recordings[4]
    assert mv_1.wav == "50782_MV_1.wav"
    assert load_segmentation(circor, patient, mv_1).tolist() == [[0.0, 0.0, 28.0]]
    states = load_segmentation(circor, patient, patient.recordings[0])[:, 2]
    assert set(states) <= {0.0, 1.0, 2.0, 3.0, 4.0}


def test_location_line_without_tsv_and_typed_metadata() -> None:
    patient = parse_patient_text(PATIENT_TEXT)
    assert [entry.tsv for entry in patient.recordings] == ["1234_AV.tsv", None, "1234_MV_2.tsv"]
    assert (patient.age, patient.sex, patient.height) == ("Child", "Female", 123.0)
    assert math.isnan(patient.weight) and patient.pregnant is False
    assert patient.murmur == "Present" and patient.murmur_locations == ("AV", "MV")
    assert patient.outcome == "Abnormal"


def test_test_data_without_labels_parses() -> None:
    text = "\n".join(
        line for line in PATIENT_TEXT.splitlines() if "Murmur" not in line and "Outcome" not in line
    )
    patient = parse_patient_text(text)
    assert patient.murmur is None and patient.outcome is None


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("#Height: 123.0", "#Height: tall"), "#Height must be a number"),
        (("#Murmur: Present", "#Murmur: Maybe"), "#Murmur must be one of"),
        (("1234 3 4000", "1234 three 4000"), "line 1 must be"),
        (("1234 3 4000", "1234 5 4000"), "announces 5 recordings"),
        (("#Age: Child", "Age Child"), "metadata line must be"),
    ],
)
def test_bad_patient_text_names_the_file(change: tuple[str, str], problem: str) -> None:
    with pytest.raises(DataError, match=problem) as caught:
        parse_patient_text(PATIENT_TEXT.replace(*change), source="folder/1234.txt")
    assert str(caught.value).startswith("folder/1234.txt: ")


def copy_patient(circor: Path, patient_id: str, folder: Path) -> Path:
    for path in circor.glob(f"{patient_id}*"):
        shutil.copy(path, folder / path.name)
    return folder / f"{patient_id}.txt"


def test_missing_wav_names_patient_and_recording(circor: Path, tmp_path: Path) -> None:
    path = copy_patient(circor, "50127", tmp_path)
    (tmp_path / "50127_AV.wav").unlink()
    with pytest.raises(DataError, match=r"50127\.txt: recording '50127_AV\.wav' does not exist"):
        load_recordings(tmp_path, read_patient(path))


def test_truncated_wav_is_caught_against_its_header(circor: Path, tmp_path: Path) -> None:
    path = copy_patient(circor, "50127", tmp_path)
    wav = tmp_path / "50127_AV.wav"
    wav.write_bytes(wav.read_bytes()[: 44 + 2000])
    with pytest.raises(DataError, match=r"50127_AV\.hea: says \d+ samples but"):
        load_recordings(tmp_path, read_patient(path))


def test_unreadable_wav_names_the_wav(circor: Path, tmp_path: Path) -> None:
    path = copy_patient(circor, "50127", tmp_path)
    (tmp_path / "50127_AV.wav").write_bytes(b"RIFF\x00\x00not audio at all")
    with pytest.raises(DataError, match=r"50127_AV\.wav: unreadable audio"):
        load_recordings(tmp_path, read_patient(path))


def test_wrong_sampling_rate_is_refused(circor: Path, tmp_path: Path) -> None:
    path = copy_patient(circor, "50127", tmp_path)
    soundfile.write(tmp_path / "50127_AV.wav", np.zeros(100, dtype=np.int16), 2000)
    with pytest.raises(DataError, match="sampled at 2000 Hz"):
        load_recordings(tmp_path, read_patient(path))


@pytest.mark.parametrize("name", ["../secret.wav", "/etc/passwd", "sub/../../x.wav"])
def test_paths_escaping_the_data_folder_are_refused(tmp_path: Path, name: str) -> None:
    text = f"1 1 4000\nAV 1_AV.hea {name} 1_AV.tsv\n#Murmur: Absent\n"
    patient_file = tmp_path / "1.txt"
    patient_file.write_text(text)
    with pytest.raises(DataError, match="points outside the data folder") as caught:
        load_recordings(tmp_path, read_patient(patient_file))
    assert str(patient_file) in str(caught.value)


def test_non_utf8_patient_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "7.txt"
    path.write_bytes(b"7 1 4000\nAV 7_AV.hea 7_AV.wav\n#Sex: \xff\xfe\n")
    with pytest.raises(DataError, match="not UTF-8"):
        read_patient(path)


def test_patient_files_are_found_by_name_alone(tmp_path: Path) -> None:
    (tmp_path / "LICENSE.txt").write_text("Open Data Commons Attribution License\n")
    (tmp_path / "README.txt").write_text("CirCor DigiScope\n")
    (tmp_path / "._9.txt").write_bytes(b"\x00\x05\x16\x07")  # a resource fork, hidden
    (tmp_path / "10.txt").write_text("10 0 4000\n")
    (tmp_path / "9.txt").write_text("9 0 4000\n")
    (tmp_path / "11.TXT").write_text("11 0 4000\n")
    (tmp_path / "12.txt").write_bytes("12 0 4000\n".encode("utf-16"))
    found = [path.name for path in find_patient_files(tmp_path)]
    assert found == ["9.txt", "10.txt", "11.TXT", "12.txt"]
    with pytest.raises(DataError, match=r"12\.txt: not UTF-8 text"):
        read_patient(tmp_path / "12.txt")


def test_a_patient_file_naming_another_patient_is_refused(circor: Path, tmp_path: Path) -> None:
    copy_patient(circor, "50127", tmp_path)
    (tmp_path / "1.txt").write_text((tmp_path / "50127.txt").read_text())
    with pytest.raises(DataError, match=r"1\.txt: line 1 names patient '50127', not '1'"):
        read_patient(tmp_path / "1.txt")
    with pytest.raises(DataError, match=r"1\.txt: line 1 names patient '50127'"):
        murmur.load_patients(tmp_path, murmur.MurmurConfig(), quiet)


def test_a_header_at_another_rate_than_its_wav_is_refused(circor: Path, tmp_path: Path) -> None:
    path = copy_patient(circor, "50127", tmp_path)
    header = tmp_path / "50127_AV.hea"
    header.write_text(header.read_text().replace(" 4000 ", " 8000 ", 1))
    with pytest.raises(DataError, match=r"50127_AV\.hea: says 8000 Hz but '50127_AV\.wav' is"):
        load_recordings(tmp_path, read_patient(path))


def test_a_constant_recording_is_refused(circor: Path, tmp_path: Path) -> None:
    path = copy_patient(circor, "50127", tmp_path)
    frames = soundfile.info(tmp_path / "50127_AV.wav").frames
    soundfile.write(tmp_path / "50127_AV.wav", np.full(frames, 3, dtype=np.int16), 4000)
    with pytest.raises(DataError, match=r"50127_AV\.wav: constant signal: no heart sound"):
        load_recordings(tmp_path, read_patient(path))


@pytest.mark.parametrize("frequency", [1.0, 499.0, 200_000.0])
def test_implausible_heart_sound_rates_are_refused(frequency: float) -> None:
    audio = np.random.default_rng(0).standard_normal(int(frequency) * 2)
    with pytest.raises(DataError, match=f"x.wav: implausible sampling rate {frequency:g} Hz"):
        check_samples(audio, frequency, "x.wav", HEART_SOUND)


def test_2016_recordings_are_found_by_name(pcg2016: Path, tmp_path: Path) -> None:
    shutil.copy(pcg2016 / "a0008.wav", tmp_path / "a0008.WAV")
    shutil.copy(pcg2016 / "a0021.wav", tmp_path / "a0021.wav")
    (tmp_path / "5.txt").write_text("5 1 2000\nAV 5_AV.hea 5_AV.wav\n")
    shutil.copy(pcg2016 / "a0029.wav", tmp_path / "5_AV.wav")  # patient 5's recording
    found = find_2016_recordings(tmp_path)
    assert [path.name for path in found] == ["a0008.WAV", "a0021.wav"]
    os.mkfifo(tmp_path / PCG2016_REFERENCE)
    with pytest.raises(DataError, match=r"REFERENCE\.csv: not a regular file \(a named pipe\)"):
        read_2016_reference(tmp_path)


def test_every_2016_recording_loads_with_its_label(pcg2016: Path) -> None:
    labels = read_2016_reference(pcg2016)
    assert Counter(labels.values()) == {1: 120, -1: 107}
    assert sorted(labels) == sorted(path.stem for path in pcg2016.glob("*.wav"))
    for name in labels:
        audio, frequency = load_wav(pcg2016 / f"{name}.wav")
        assert frequency == 2000 and audio.ndim == 1 and len(audio) > 6 * 2000
        check_samples(audio, frequency, name, HEART_SOUND)
    record_count("2016 heart-sound recordings", len(labels))


def test_generated_patients_load_through_the_kit(murmur_demo: Path) -> None:
    patients = [read_patient(path) for path in find_patient_files(murmur_demo)]
    assert len(patients) == 24
    assert {patient.murmur for patient in patients} == set(MURMUR_CLASSES)
    assert any(entry.tsv is None for patient in patients for entry in patient.recordings)
    assert any(len(set(p.locations)) < len(p.locations) for p in patients)
    for patient in patients:
        for entry, audio in zip(
            patient.recordings, load_recordings(murmur_demo, patient), strict=True
        ):
            assert len(audio) >= 5 * patient.frequency
            segments = load_segmentation(murmur_demo, patient, entry)
            assert entry.tsv is None or set(segments[:, 2]) >= {1.0, 2.0, 3.0, 4.0}
