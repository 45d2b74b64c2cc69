"""2016 normal/abnormal heart-sound folders: ``NAME.wav`` at 2 kHz plus ``REFERENCE.csv``.

A 2016 recording is one location of a generated PCG patient, resampled from 4 kHz: abnormal
recordings carry the patient's systolic murmur, so the label is audible in the signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from scipy import signal

from models.synthetic.common import (
    FOLDER,
    PCG2016_TASK,
    PLAN,
    SIGNAL,
    check_request,
    random_stream,
    schedule,
)
from models.synthetic.pcg_plan import PCG_FREQUENCY, PatientPlan, RecordingPlan, plan_patient
from models.synthetic.pcg_sound import synthesise_recording

PCG2016_FREQUENCY = 2000
PCG2016_MIX = ((True, 0.5), (False, 0.5))
PCG2016_PREFIX = "g"


@dataclass(frozen=True)
class Recording2016:
    """One 2016 recording: its name, its label and the patient its sound is made from."""

    name: str
    abnormal: bool
    patient: PatientPlan

    @property
    def recording(self) -> RecordingPlan:
        """The patient's location where a murmur, if any, is loudest."""
        return max(self.patient.recordings, key=lambda recording: recording.murmur_level)


def plan_2016_folder(num_recordings: int, seed: int = 0) -> list[Recording2016]:
    """The recordings :func:`write_2016_folder` writes: half abnormal (exactly, largest
    remainder), each one location of a generated patient, with a systolic murmur if abnormal."""
    check_request(num_recordings, seed, "num_recordings")
    if num_recordings > 9999:
        raise ValueError(f"at most 9999 recordings fit the 4-digit names, got {num_recordings}")
    labels = schedule(PCG2016_MIX, num_recordings, random_stream(seed, PCG2016_TASK, FOLDER, 0))
    plans = []
    for index, abnormal in enumerate(labels):
        name = f"{PCG2016_PREFIX}{index + 1:04d}"
        murmur = "Present" if abnormal else "Absent"
        rng = random_stream(seed, PCG2016_TASK, PLAN, index)
        plans.append(Recording2016(name, abnormal, plan_patient(name, murmur, False, False, rng)))
    return plans


def write_2016_folder(folder: str | Path, num_recordings: int, seed: int = 0) -> None:
    """Write ``num_recordings`` 2016-format recordings (``NAME.wav``, 2 kHz 16-bit mono) and
    their ``REFERENCE.csv`` (``NAME,1`` abnormal, ``NAME,-1`` normal) into ``folder``."""
    plans = plan_2016_folder(num_recordings, seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for index, plan in enumerate(plans):
        rng = random_stream(seed, PCG2016_TASK, SIGNAL, index)
        samples, _ = synthesise_recording(plan.patient, plan.recording, rng)
        halved = signal.resample_poly(samples.astype(float), PCG2016_FREQUENCY, PCG_FREQUENCY)
        audio = np.clip(np.round(halved), -32768, 32767).astype(np.int16)
        soundfile.write(folder / f"{plan.name}.wav", audio, PCG2016_FREQUENCY, "PCM_16")
    lines = [f"{plan.name},{1 if plan.abnormal else -1}" for plan in plans]
    (folder / "REFERENCE.csv").write_bytes(("\n".join(lines) + "\n").encode("ascii"))
