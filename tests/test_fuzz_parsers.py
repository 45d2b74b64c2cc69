"""Arbitrary bytes, or no regular file at all, never make a reader raise anything but the
kit's own DataError (and never make it wait on a named pipe)."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.core.errors import DataError
from models.core.paths import read_text
from models.formats.audio import load_wav
from models.formats.circor import read_patient
from models.formats.outputs import read_ecg_outputs, read_outputs, read_patient_outputs
from models.formats.physionet2016 import read_2016_reference
from models.formats.scoring_tables import load_ecg_scoring
from models.formats.wfdb_ecg import load_signal, parse_dx, read_header, read_mat

PATIENT = b"""85033 2 4000
AV 85033_AV.hea 85033_AV.wav 85033_AV.tsv
MV 85033_MV.hea 85033_MV.wav
#Age: Child
#Height: 110.0
#Murmur: Present
#Outcome: Abnormal
"""
HEADER = b"""JS1 2 500 5000
JS1.mat 16+24 1000/mV 16 0 -12 -104 0 I
JS1.mat 16+24 1000/mV 16 0 31 412 0 II
#Age: 61
#Sex: Female
#Dx: 164889003,59118001
"""
OUTPUT = b"""#85033
Present,Unknown,Absent,Abnormal,Normal
1,0,0,1,0
0.8,0.1,0.1,0.7,0.3
"""

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, and the seed file with a random slice replaced by random bytes."""

    def splice(parts: tuple[int, int, bytes]) -> bytes:
        start, length, noise = parts
        start = start % (len(seed) + 1)
        return seed[:start] + noise + seed[start + length :]

    spliced = st.tuples(st.integers(0, 400), st.integers(0, 40), st.binary(max_size=40)).map(splice)
    return st.one_of(st.binary(max_size=300), spliced)


def written(data: bytes, name: str) -> Path:
    folder = Path(tempfile.mkdtemp())
    path = folder / name
    path.write_bytes(data)
    return path


def only_data_errors(action) -> None:
    with contextlib.suppress(DataError):
        action()


@FUZZ
@given(mutations(PATIENT))
def test_patient_parser(data: bytes) -> None:
    only_data_errors(lambda: read_patient(written(data, "85033.txt")))


@FUZZ
@given(mutations(HEADER))
def test_header_reader(data: bytes) -> None:
    path = written(data, "JS1.hea")
    only_data_errors(lambda: read_header(path))
    only_data_errors(lambda: parse_dx(read_text(path).splitlines()))


@FUZZ
@given(mutations(OUTPUT))
def test_output_readers(data: bytes) -> None:
    path = written(data, "85033.csv")
    only_data_errors(lambda: read_outputs(path))
    only_data_errors(lambda: read_patient_outputs([path]))
    for year in (2020, 2021):
        only_data_errors(lambda year=year: read_ecg_outputs([path], load_ecg_scoring(year)))


READERS = {
    "85033.txt": read_patient,
    "JS1.hea": read_header,
    "JS1.mat": read_mat,
    "a0001.wav": load_wav,
    "REFERENCE.csv": lambda path: read_2016_reference(path.parent),
}


def special_file(path: Path, kind: str) -> None:
    """A named pipe, a directory or a symbolic-link loop under the name ``path``."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        os.symlink(f"{path.name}.loop", path)
        os.symlink(path.name, path.with_name(f"{path.name}.loop"))


@pytest.mark.parametrize("kind", ["fifo", "directory", "loop"])
@pytest.mark.parametrize("name", list(READERS))
def test_readers_refuse_what_is_no_regular_file(tmp_path: Path, name: str, kind: str) -> None:
    special_file(tmp_path / name, kind)
    problem = f"^{re.escape(str(tmp_path / name))}: (not a regular file|cannot read)"
    with pytest.raises(DataError, match=problem):
        READERS[name](tmp_path / name)


@pytest.mark.parametrize("kind", ["fifo", "directory", "loop"])
def test_a_record_whose_signal_is_no_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    (tmp_path / "JS1.hea").write_bytes(HEADER)
    special_file(tmp_path / "JS1.mat", kind)
    with pytest.raises(DataError, match=r"JS1\.mat: (not a regular file|cannot read)"):
        load_signal(tmp_path / "JS1.hea")
