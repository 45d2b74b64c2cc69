"""A corpus of bad challenge files: generated good patients and records, damaged in known ways.

Each case is one patient (murmur), record (ECG) or recording (2016) whose ID says what is wrong
with it, plus the outcome users can rely on from ``run_model.py --allow-failures``: predictions
still written (``reason`` is ``None``), or one failure line naming the file and matching
``reason``. The files
are made at test time from the kit's deterministic generator, so the corpus needs no binary files
in the repository and a 30-minute record costs no disk until a test asks for it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.signal
import soundfile

import run_model
from models.formats.outputs import read_outputs
from models.formats.scoring_tables import load_ecg_scoring
from models.formats.wfdb_ecg import LEADS
from models.synthetic.circor import write_murmur_folder
from models.synthetic.ecg import wfdb_checksums, write_ecg_folder
from models.synthetic.pcg2016 import write_2016_folder


@dataclass(frozen=True)
class Case:
    """One damaged item: its file stem, and the failure reason it must give (``None``: none)."""

    stem: str
    reason: str | None


def build_murmur_corpus(folder: Path) -> list[Case]:
    """Patients with broken audio, metadata or paths beside two healthy ones."""
    base = folder.parent / f"{folder.name}_base"
    write_murmur_folder(base, 1, seed=4)
    source = next(base.glob("*.txt"))
    folder.mkdir(parents=True, exist_ok=True)

    def patient(identifier: str) -> list[Path]:
        """A copy of the generated patient under ``identifier``; returns its wav files."""
        old = source.stem
        for path in base.glob(f"{old}*"):
            target = folder / path.name.replace(old, identifier, 1)
            if path.suffix in (".txt", ".hea"):
                target.write_text(path.read_text().replace(old, identifier))
            else:
                shutil.copyfile(path, target)
        return sorted(folder.glob(f"{identifier}_*.wav"))

    def rewrite(wav: Path, samples: np.ndarray, subtype: str = "PCM_16") -> None:
        soundfile.write(wav, samples, 4000, subtype, format="WAV")
        header = wav.with_suffix(".hea")
        lines = header.read_text().splitlines()
        first = lines[0].split()
        lines[0] = " ".join([*first[:3], str(len(samples)), *first[4:]])
        header.write_text("\n".join(lines) + "\n")

    cases = [Case("90001", None)]
    patient("90001")

    wav = patient("90002")[0]
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(40)))
    cases.append(Case("90002", f"{wav.name}: unreadable audio"))

    wav = patient("90003")[0]
    wav.write_bytes(wav.read_bytes()[: wav.stat().st_size // 2])
    cases.append(Case("90003", f"{wav.stem}.hea: says .* samples .*truncated"))

    wav = patient("90004")[0]
    rewrite(wav, np.zeros(0, dtype=np.int16))
    cases.append(Case("90004", f"{wav.name}: is 0 s long"))

    wav = patient("90005")[0]
    rewrite(wav, np.zeros(1, dtype=np.int16))
    cases.append(Case("90005", f"{wav.name}: is 0.00025 s long \\(1 samples"))

    wav = patient("90006")[0]
    samples, _ = soundfile.read(wav, dtype="float32")
    samples[100:110] = np.nan
    samples[200] = np.inf
    rewrite(wav, samples, "FLOAT")
    cases.append(Case("90006", f"{wav.name}: holds 11 NaN or infinite samples"))

    wav = patient("90007")[0]
    rewrite(wav, np.full(8000, 1200, dtype=np.int16))
    cases.append(Case("90007", None))  # a silent, constant recording still gets a decision

    patient("90008")
    text = folder / "90008.txt"
    text.write_bytes(text.read_bytes().replace(b"#Campaign: ", b"#Campaign: S\xe3o Paulo "))
    cases.append(Case("90008", "90008.txt: not UTF-8 text"))

    (folder / "90009.txt").write_text((folder / "90001.txt").read_text())
    cases.append(Case("90009", "90009.txt: duplicate patient ID 90001 \\(also in 90001.txt\\)"))

    patient("90010")
    text = folder / "90010.txt"
    text.write_text(text.read_text().replace(" 90010_", " ../90010_", 1))
    cases.append(Case("90010", "90010.txt: path .* points outside the data folder"))
    return cases


def unscored_code() -> str:
    """A SNOMED-CT code neither year scores: acute myocardial infarction."""
    code = "57054005"
    assert all(code not in str(load_ecg_scoring(year)) for year in (2020, 2021))
    return code


def write_record(
    folder: Path,
    name: str,
    val: np.ndarray,
    frequency: float,
    leads: tuple[str, ...] = LEADS,
    dx: str = "426783006",
    comment: bytes = b"",
    mat_name: str | None = None,
    record_name: str | None = None,
) -> None:
    """A WFDB record (MATLAB v4 ``val`` of int16 at 1000/mV) with the given leads and rate."""
    mat_name = mat_name or f"{name}.mat"
    scipy.io.savemat(folder / f"{name}.mat", {"val": val}, format="4")
    lines = [f"{record_name or name} {len(leads)} {frequency:g} {val.shape[1]}"]
    firsts = val[:, 0] if val.shape[1] else np.zeros(len(leads), dtype=int)
    lines += [
        f"{mat_name} 16+24 1000/mV 16 0 {first} {checksum} 0 {lead}"
        for lead, first, checksum in zip(leads, firsts, wfdb_checksums(val), strict=True)
    ]
    lines += ["#Age: 61", "#Sex: Male", f"#Dx: {dx}", "#Rx: Unknown"]
    (folder / f"{name}.hea").write_bytes("\n".join(lines).encode() + b"\n" + comment)


def build_ecg_corpus(folder: Path, long_minutes: float = 30.0) -> list[Case]:
    """Records with odd rates, leads, codes, bytes and paths beside a healthy one."""
    base = folder.parent / f"{folder.name}_base"
    write_ecg_folder(base, 1, seed=4)
    val = scipy.io.loadmat(next(base.glob("*.mat")))["val"]
    folder.mkdir(parents=True, exist_ok=True)
    cases = [Case("good", None)]
    write_record(folder, "good", val, 500)

    for rate in (257, 1000):
        resampled = scipy.signal.resample_poly(val.astype(float), rate, 500, axis=1)
        write_record(folder, f"rate{rate}", np.round(resampled).astype(np.int16), rate)
        cases.append(Case(f"rate{rate}", None))

    repeats = int(np.ceil(long_minutes * 60 * 500 / val.shape[1]))
    write_record(folder, "long30min", np.tile(val, repeats), 500)
    cases.append(Case("long30min", None))

    limb = (0, 1, 2, 3, 4, 5)
    write_record(folder, "limbleads", val[list(limb)], 500, tuple(LEADS[i] for i in limb))
    cases.append(Case("limbleads", None))
    order = np.random.default_rng(0).permutation(len(LEADS))
    write_record(folder, "reordered", val[order], 500, tuple(LEADS[i] for i in order))
    cases.append(Case("reordered", None))

    write_record(folder, "unscored", val, 500, dx=unscored_code())
    cases.append(Case("unscored", None))
    write_record(folder, "constant", np.full_like(val, 250), 500)
    cases.append(Case("constant", None))

    write_record(folder, "corrupt", val, 500)
    (folder / "corrupt.mat").write_bytes(b"\x00\x01garbage" * 10)
    cases.append(Case("corrupt", "corrupt.mat: unreadable MATLAB file"))
    write_record(folder, "truncated", val, 500)
    mat = folder / "truncated.mat"
    mat.write_bytes(mat.read_bytes()[: mat.stat().st_size // 2])
    cases.append(Case("truncated", "truncated.mat: unreadable MATLAB file"))

    write_record(folder, "empty", val[:, :0], 500)
    cases.append(Case("empty", "empty.mat: is 0 s long"))
    write_record(folder, "onesample", val[:, :1], 500)
    cases.append(Case("onesample", "onesample.mat: is 0.002 s long .* at least 1 s"))

    invalid = val.copy()
    invalid[:, 1000:1100] = -32768  # WFDB's invalid-sample value: nan after conversion
    write_record(folder, "invalid", invalid, 500)
    cases.append(Case("invalid", "invalid.mat: holds 1200 NaN or infinite samples"))

    write_record(folder, "latin1", val, 500, comment="#Hx: Sao Jos\xe9\n".encode("latin-1"))
    cases.append(Case("latin1", "latin1.hea: not UTF-8 text"))
    write_record(folder, "twin", val, 500, record_name="good")
    cases.append(Case("twin", "twin.hea: duplicate record ID good \\(also in good.hea\\)"))
    write_record(folder, "escaping", val, 500, mat_name="../escaping.mat")
    cases.append(Case("escaping", "escaping.hea: invalid WFDB header"))
    return cases


def build_2016_corpus(folder: Path) -> list[Case]:
    """2016 recordings that cannot be read or scored beside a healthy and a silent one."""
    base = folder.parent / f"{folder.name}_base"
    write_2016_folder(base, 1, seed=4)
    source = next(base.glob("*.wav"))
    folder.mkdir(parents=True, exist_ok=True)
    frequency = soundfile.info(source).samplerate

    def recording(name: str, samples: np.ndarray | None = None, subtype: str = "PCM_16") -> Path:
        """``name.wav``: a copy of the generated recording, or ``samples`` written in its place."""
        path = folder / f"{name}.wav"
        if samples is None:
            shutil.copyfile(source, path)
        else:
            soundfile.write(path, samples, frequency, subtype, format="WAV")
        return path

    recording("b0001")
    cases = [Case("b0001", None)]
    recording("b0002").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(40)))
    cases.append(Case("b0002", "b0002.wav: unreadable audio"))
    recording("b0003", np.zeros(0, dtype=np.int16))
    cases.append(Case("b0003", "b0003.wav: is 0 s long"))
    samples, _ = soundfile.read(source, dtype="float32")
    broken = samples.copy()
    broken[100:105] = np.nan
    recording("b0004", broken, "FLOAT")
    cases.append(Case("b0004", "b0004.wav: holds 5 NaN or infinite samples"))
    recording("b0005", np.stack([samples, samples], axis=1), "FLOAT")
    cases.append(Case("b0005", "b0005.wav: expected mono audio, found 2 channels"))
    recording("b0006", np.full(4000, 900, dtype=np.int16))
    cases.append(Case("b0006", None))  # a constant recording still gets a decision
    return cases


def run_corpus(
    model: Path, data: Path, cases: list[Case], outputs: Path, capsys: pytest.CaptureFixture
) -> dict[str, tuple]:
    """Run with --allow-failures; check the exit code, the failure lines and every output."""
    capsys.readouterr()
    assert run_model.main([str(model), str(data), str(outputs), "-q", "--allow-failures"]) == 1
    lines = [line.strip() for line in capsys.readouterr().err.splitlines()[1:]]
    failing = [case for case in cases if case.reason]
    assert len(lines) == len(failing), lines
    for case in failing:
        matches = [line for line in lines if re.search(case.reason, line)]
        assert len(matches) == 1, (case, lines)
        assert str(data) in matches[0]
    results = {}
    for case in cases:
        results[case.stem] = read_outputs(outputs / f"{case.stem}.csv")
        probabilities = np.asarray(results[case.stem][3], dtype=float)
        if case.reason:
            assert probabilities.size == 0, case
        else:
            assert probabilities.size and np.isfinite(probabilities).all(), case
    return results
