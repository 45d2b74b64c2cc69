"""A corpus of bad challenge files: generated good patients and records, damaged in known ways.

Each case is one patient (murmur), record (ECG) or recording (2016) whose ID says what is wrong
with it, plus the outcome users can rely on from ``run_model.py --allow-failures``: predictions
still written (``reason`` is ``None``), or one failure line naming the file and matching
``reason``. The files
are made at test time from the kit's deterministic generator, so the corpus needs no binary files
in the repository and a 30-minute record costs no disk until a test asks for it.
"""

from __future__ import annotations

import os
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
    """One damaged item: its file stem, the failure reason it must give (``None``: none), and
    what is wrong with it in one line, so the corpus can be read without its builders."""

    stem: str
    reason: str | None
    what: str


SPECIAL_FILES = {
    "fifo": r"not a regular file \(a named pipe\)",
    "directory": r"not a regular file \(a directory\)",
    "loop": r"cannot read \(.*symbolic links\)",
}
SPECIAL_NAMES = {"fifo": "a named pipe", "directory": "a directory", "loop": "a symbolic-link loop"}


def replace_with(path: Path, kind: str) -> str:
    """Put a named pipe, a directory or a symbolic-link loop where the file ``path`` was;
    returns the failure reason expected for it."""
    if path.exists() or path.is_symlink():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        partner = path.with_name(f"{path.name}.loop")
        os.symlink(partner.name, path)
        os.symlink(path.name, partner)
    return f"{re.escape(path.name)}: {SPECIAL_FILES[kind]}"


@dataclass(frozen=True)
class Patients:
    """Copies of one generated patient, under other IDs, in the corpus folder."""

    folder: Path
    source: Path

    def patient(self, identifier: str) -> list[Path]:
        """A copy of the generated patient under ``identifier``; returns its wav files."""
        old = self.source.stem
        for path in self.source.parent.glob(f"{old}*"):
            target = self.folder / path.name.replace(old, identifier, 1)
            if path.suffix in (".txt", ".hea"):
                target.write_text(path.read_text().replace(old, identifier))
            else:
                shutil.copyfile(path, target)
        return sorted(self.folder.glob(f"{identifier}_*.wav"))

    def rewrite(
        self, wav: Path, samples: np.ndarray, subtype: str = "PCM_16", rate: int = 4000
    ) -> None:
        """``samples`` in place of the recording, its header's rate and count to match."""
        soundfile.write(wav, samples, rate, subtype, format="WAV")
        header = wav.with_suffix(".hea")
        lines = header.read_text().splitlines()
        first = lines[0].split()
        lines[0] = " ".join([*first[:2], str(rate), str(len(samples)), *first[4:]])
        header.write_text("\n".join(lines) + "\n")


def build_murmur_corpus(folder: Path) -> list[Case]:
    """Patients with broken audio, metadata, paths or file types beside a healthy one."""
    base = folder.parent / f"{folder.name}_base"
    write_murmur_folder(base, 1, seed=4)
    folder.mkdir(parents=True, exist_ok=True)
    patients = Patients(folder, next(base.glob("*.txt")))
    return murmur_audio_cases(patients) + murmur_text_cases(patients) + murmur_file_cases(patients)


def murmur_audio_cases(patients: Patients) -> list[Case]:
    """Recordings that are unreadable, truncated, too short, non-finite, flat or at odd rates."""
    cases = [Case("90001", None, "an intact copy of the generated patient")]
    patients.patient("90001")

    wav = patients.patient("90002")[0]
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(40)))
    what = "a recording's .wav is a bare RIFF/WAVE start and 40 bytes of junk"
    cases.append(Case("90002", f"{wav.name}: unreadable audio", what))

    wav = patients.patient("90003")[0]
    wav.write_bytes(wav.read_bytes()[: wav.stat().st_size // 2])
    what = "a recording's .wav cut to half its bytes"
    cases.append(Case("90003", f"{wav.stem}.hea: says .* samples .*truncated", what))

    wav = patients.patient("90004")[0]
    patients.rewrite(wav, np.zeros(0, dtype=np.int16))
    cases.append(Case("90004", f"{wav.name}: is 0 s long", "a recording of 0 samples"))

    wav = patients.patient("90005")[0]
    patients.rewrite(wav, np.zeros(1, dtype=np.int16))
    what = "a recording of 1 sample"
    cases.append(Case("90005", f"{wav.name}: is 0.00025 s long \\(1 samples", what))

    wav = patients.patient("90006")[0]
    samples, _ = soundfile.read(wav, dtype="float32")
    samples[100:110] = np.nan
    samples[200] = np.inf
    patients.rewrite(wav, samples, "FLOAT")
    what = "a recording in float with 10 NaN samples and 1 infinite one"
    cases.append(Case("90006", f"{wav.name}: holds 11 NaN or infinite samples", what))

    wav = patients.patient("90007")[0]
    patients.rewrite(wav, np.full(8000, 1200, dtype=np.int16))
    what = "a recording of 2 s of one constant value"
    reason = f"{wav.name}: constant signal: no heart sound to classify"
    cases.append(Case("90007", reason, what))

    for wav in patients.patient("90017"):  # every file of the patient agrees on 100 Hz
        patients.rewrite(wav, soundfile.read(wav, dtype="int16")[0][::40], rate=100)
    text = patients.folder / "90017.txt"
    text.write_text(text.read_text().replace(" 4000\n", " 100\n", 1))
    what = "every recording decimated to 100 Hz, its headers and the patient file agreeing"
    reason = "90017_.*wav: implausible sampling rate 100 Hz for heart sound"
    cases.append(Case("90017", reason, what))

    wav = patients.patient("90018")[0]
    header = wav.with_suffix(".hea")
    header.write_text(header.read_text().replace(" 4000 ", " 2000 ", 1))
    what = "a recording's header says 2000 Hz, its .wav is at 4000 Hz"
    reason = f"{header.name}: says 2000 Hz but '{wav.name}' is sampled at 4000"
    cases.append(Case("90018", reason, what))
    return cases


def murmur_text_cases(patients: Patients) -> list[Case]:
    """Patient files in other encodings, of random bytes, with bad paths or another's ID."""
    folder = patients.folder
    patients.patient("90008")
    text = folder / "90008.txt"
    text.write_bytes(text.read_bytes().replace(b"#Campaign: ", b"#Campaign: S\xe3o Paulo "))
    cases = [Case("90008", "90008.txt: not UTF-8 text", "a Latin-1 byte in the patient file")]

    impostor = "line 1 names patient '90001', not '{}' as the file name says"
    for identifier, side in (("90000", "before"), ("90009", "after")):
        (folder / f"{identifier}.txt").write_text((folder / "90001.txt").read_text())
        reason = f"{identifier}.txt: " + impostor.format(identifier)
        what = f"a copy of 90001's patient file, no recordings of its own, sorting {side} it"
        cases.append(Case(identifier, reason, what))

    patients.patient("90010")
    text = folder / "90010.txt"
    text.write_text(text.read_text().replace(" 90010_", " ../90010_", 1))
    what = "a path in the patient file climbs out of the folder (../)"
    cases.append(Case("90010", "90010.txt: path .* points outside the data folder", what))

    patients.patient("90011")
    text = folder / "90011.txt"
    text.write_bytes(text.read_text().encode("utf-16"))
    cases.append(Case("90011", "90011.txt: not UTF-8 text", "the patient file in UTF-16"))

    patients.patient("90012")
    (folder / "90012.txt").write_bytes(np.random.default_rng(12).bytes(600))
    what = "the patient file is 600 random bytes"
    cases.append(Case("90012", "90012.txt: not UTF-8 text", what))
    return cases


def murmur_file_cases(patients: Patients) -> list[Case]:
    """Named pipes, directories and link loops where a patient file or recording should be."""
    cases = []
    for identifier, kind in (("90013", "fifo"), ("90014", "loop")):
        patients.patient(identifier)
        reason = replace_with(patients.folder / f"{identifier}.txt", kind)
        cases.append(Case(identifier, reason, f"the patient file is {SPECIAL_NAMES[kind]}"))
    for identifier, kind in (("90015", "fifo"), ("90016", "directory")):
        wav = patients.patient(identifier)[0]
        what = f"a recording's .wav is {SPECIAL_NAMES[kind]}"
        cases.append(Case(identifier, replace_with(wav, kind), what))
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
    """Records with odd rates, leads, codes, gains, bytes, paths and file types beside a
    healthy one."""
    base = folder.parent / f"{folder.name}_base"
    write_ecg_folder(base, 1, seed=4)
    val = scipy.io.loadmat(next(base.glob("*.mat")))["val"]
    folder.mkdir(parents=True, exist_ok=True)
    return (
        ecg_accepted_cases(folder, val, long_minutes)
        + ecg_signal_cases(folder, val)
        + ecg_header_cases(folder, val)
        + ecg_file_cases(folder, val)
    )


def ecg_accepted_cases(folder: Path, val: np.ndarray, long_minutes: float) -> list[Case]:
    """Records that look odd but are fine: rates, lengths, lead sets, codes, dead leads."""
    cases = [Case("good", None, "an intact generated 12-lead record at 500 Hz")]
    write_record(folder, "good", val, 500)

    for rate in (257, 1000):
        resampled = scipy.signal.resample_poly(val.astype(float), rate, 500, axis=1)
        write_record(folder, f"rate{rate}", np.round(resampled).astype(np.int16), rate)
        cases.append(Case(f"rate{rate}", None, f"the record resampled to {rate} Hz"))

    repeats = int(np.ceil(long_minutes * 60 * 500 / val.shape[1]))
    write_record(folder, "long30min", np.tile(val, repeats), 500)
    cases.append(Case("long30min", None, f"the record repeated to {long_minutes:g} minutes"))

    limb = (0, 1, 2, 3, 4, 5)
    write_record(folder, "limbleads", val[list(limb)], 500, tuple(LEADS[i] for i in limb))
    cases.append(Case("limbleads", None, "only the six limb leads"))
    order = np.random.default_rng(0).permutation(len(LEADS))
    write_record(folder, "reordered", val[order], 500, tuple(LEADS[i] for i in order))
    cases.append(Case("reordered", None, "the 12 leads in a shuffled order"))

    write_record(folder, "unscored", val, 500, dx=unscored_code())
    cases.append(Case("unscored", None, "a diagnosis code neither year scores"))
    dead = val.copy()
    dead[:6] = 250  # the limb leads flat, the chest leads alive
    write_record(folder, "deadleads", dead, 500)
    cases.append(Case("deadleads", None, "the six limb leads constant, the chest leads live"))
    write_record(folder, "shouting", val, 500)
    (folder / "shouting.hea").rename(folder / "shouting.HEA")
    cases.append(Case("shouting", None, "the header named shouting.HEA"))
    return cases


def ecg_signal_cases(folder: Path, val: np.ndarray) -> list[Case]:
    """Signals that cannot be read, are too short, non-finite, flat or of no heart's size."""
    write_record(folder, "corrupt", val, 500)
    (folder / "corrupt.mat").write_bytes(b"\x00\x01garbage" * 10)
    cases = [Case("corrupt", "corrupt.mat: unreadable MATLAB file", "the .mat is 90 bytes of junk")]
    write_record(folder, "truncated", val, 500)
    mat = folder / "truncated.mat"
    mat.write_bytes(mat.read_bytes()[: mat.stat().st_size // 2])
    what = "the .mat cut to half its bytes"
    cases.append(Case("truncated", "truncated.mat: unreadable MATLAB file", what))

    write_record(folder, "empty", val[:, :0], 500)
    cases.append(Case("empty", "empty.mat: is 0 s long", "0 samples per lead"))
    write_record(folder, "onesample", val[:, :1], 500)
    what = "1 sample per lead"
    cases.append(Case("onesample", "onesample.mat: is 0.002 s long .* at least 1 s", what))

    invalid = val.copy()
    invalid[:, 1000:1100] = -32768  # WFDB's invalid-sample value: nan after conversion
    write_record(folder, "invalid", invalid, 500)
    what = "100 samples of every lead at WFDB's invalid value -32768"
    cases.append(Case("invalid", "invalid.mat: holds 1200 NaN or infinite samples", what))

    write_record(folder, "constant", np.full_like(val, 250), 500)
    reason = "constant.mat: every lead is constant: no ECG to classify"
    cases.append(Case("constant", reason, "every lead one constant value"))
    write_record(folder, "overflow", val, 500)
    scipy.io.savemat(folder / "overflow.mat", {"val": val * 1e30}, format="4")
    what = "the .mat holds the samples times 1e30, as float64"
    cases.append(Case("overflow", "overflow.mat: holds NaN, infinite or larger than 32-bit", what))
    write_record(folder, "tinygain", val, 500)
    header = folder / "tinygain.hea"
    header.write_text(header.read_text().replace(" 1000/mV ", " 0.01/mV "))
    swing = "tinygain.mat: lead .* swings .* mV, more than the 50 mV .*check the gains"
    what = "every lead's gain 0.01/mV instead of 1000/mV"
    cases.append(Case("tinygain", swing + " in tinygain.hea", what))
    return cases


def ecg_header_cases(folder: Path, val: np.ndarray) -> list[Case]:
    """Headers with bad text, another record's name or file, unknown leads, odd rate or gain."""
    write_record(folder, "latin1", val, 500, comment="#Hx: Sao Jos\xe9\n".encode("latin-1"))
    cases = [Case("latin1", "latin1.hea: not UTF-8 text", "a Latin-1 byte in a header comment")]
    impostor = "record line names 'good', not '{}' as the file name says"
    for name, side in (("decoy", "before"), ("twin", "after")):
        write_record(folder, name, val, 500, record_name="good")
        what = f"a copy of good, its record line naming good, sorting {side} it"
        cases.append(Case(name, f"{name}.hea: " + impostor.format(name), what))
    write_record(folder, "borrowed", val, 500, mat_name="good.mat")
    what = "the lead lines name good.mat"
    cases.append(Case("borrowed", "borrowed.hea: lead lines must name the signal file", what))
    write_record(folder, "escaping", val, 500, mat_name="../escaping.mat")
    what = "the lead lines name ../escaping.mat"
    cases.append(Case("escaping", "escaping.hea: invalid WFDB header", what))

    unknown = tuple(f"lead{number}" for number in range(len(LEADS)))
    write_record(folder, "nolead", val, 500, leads=unknown)
    what = "the leads named lead0 to lead11"
    cases.append(Case("nolead", "nolead.hea: no lead is named .* \\(found lead0, lead1", what))
    write_record(folder, "rate10", val, 10)
    what = "the header says 10 Hz"
    cases.append(Case("rate10", "rate10.hea: implausible sampling rate 10 Hz for ECG", what))
    write_record(folder, "gainzero", val, 500)
    header = folder / "gainzero.hea"
    header.write_text(header.read_text().replace(" 1000/mV ", " 0/mV ", 1))
    what = "lead I's gain 0/mV"
    cases.append(Case("gainzero", "gainzero.hea: gain 0 for lead I: .* as 200/mV", what))
    return cases


def ecg_file_cases(folder: Path, val: np.ndarray) -> list[Case]:
    """A missing signal file; pipes, directories and link loops under a record's names."""
    write_record(folder, "nomat", val, 500)
    (folder / "nomat.mat").unlink()
    reason = "nomat.hea: signal file 'nomat.mat' does not exist"
    cases = [Case("nomat", reason, "the header without its .mat")]
    write_record(folder, "fifohea", val, 500)
    what = f"the header is {SPECIAL_NAMES['fifo']}"
    cases.append(Case("fifohea", replace_with(folder / "fifohea.hea", "fifo"), what))
    for kind in SPECIAL_FILES:
        write_record(folder, f"{kind}mat", val, 500)
        reason = replace_with(folder / f"{kind}mat.mat", kind)
        cases.append(Case(f"{kind}mat", reason, f"the .mat is {SPECIAL_NAMES[kind]}"))
    return cases


def build_2016_corpus(folder: Path) -> list[Case]:
    """2016 recordings that cannot be read or scored beside a healthy one and one named
    ``.WAV``."""
    base = folder.parent / f"{folder.name}_base"
    write_2016_folder(base, 1, seed=4)
    source = next(base.glob("*.wav"))
    folder.mkdir(parents=True, exist_ok=True)
    frequency = soundfile.info(source).samplerate

    def recording(
        name: str, samples: np.ndarray | None = None, subtype: str = "PCM_16", rate: int = 0
    ) -> Path:
        """``name.wav``: a copy of the generated recording, or ``samples`` written in its place
        (at ``rate``, the generated recording's rate unless given)."""
        path = folder / f"{name}.wav"
        if samples is None:
            shutil.copyfile(source, path)
        else:
            soundfile.write(path, samples, rate or frequency, subtype, format="WAV")
        return path

    recording("b0001")
    cases = [Case("b0001", None, "an intact copy of the generated recording")]
    recording("b0002").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(40)))
    what = "a bare RIFF/WAVE start and 40 bytes of junk"
    cases.append(Case("b0002", "b0002.wav: unreadable audio", what))
    recording("b0003", np.zeros(0, dtype=np.int16))
    cases.append(Case("b0003", "b0003.wav: is 0 s long", "a recording of 0 samples"))
    samples, _ = soundfile.read(source, dtype="float32")
    broken = samples.copy()
    broken[100:105] = np.nan
    recording("b0004", broken, "FLOAT")
    what = "the recording in float with 5 NaN samples"
    cases.append(Case("b0004", "b0004.wav: holds 5 NaN or infinite samples", what))
    recording("b0005", np.stack([samples, samples], axis=1), "FLOAT")
    what = "the recording as two identical channels"
    cases.append(Case("b0005", "b0005.wav: expected mono audio, found 2 channels", what))
    recording("b0006", np.full(4000, 900, dtype=np.int16))
    what = "4000 samples of one constant value"
    cases.append(Case("b0006", "b0006.wav: constant signal: no heart sound to classify", what))
    recording("b0007").rename(folder / "b0007.WAV")
    cases.append(Case("b0007", None, "the recording named b0007.WAV"))
    recording("b0008", samples[:4000], rate=1)
    what = "4000 samples of the recording at a rate of 1 Hz"
    reason = "b0008.wav: implausible sampling rate 1 Hz for heart sound"
    cases.append(Case("b0008", reason, what))
    for number, kind in enumerate(SPECIAL_FILES, start=9):
        name = f"b{number:04d}"
        what = f"the .wav is {SPECIAL_NAMES[kind]}"
        cases.append(Case(name, replace_with(folder / f"{name}.wav", kind), what))
    recording("b0012").rename(folder / "b0012.WAV")  # one ID, two files: the second fails
    recording("b0012")
    reason = r"b0012\.wav: duplicate recording ID b0012 \(also in b0012\.WAV"
    cases.append(Case("b0012", reason, "two copies, b0012.WAV and b0012.wav: one ID twice"))
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
