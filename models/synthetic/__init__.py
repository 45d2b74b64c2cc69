"""Synthetic data folders in the exact challenge formats: PCG patients (2022), 2016 PCG
recordings and 12-lead ECGs.

The demo and the fast tests need folders that the kit's loaders read exactly like real challenge
data, with labels a small model can learn in seconds and without shipping real recordings. Every
class carries a signature designed in from physiology, so tests can check that a file's signal
says what its labels say:

* PCG: S1/S2 transients at child heart rates; ``Present`` adds band-limited noise inside systole
  at the listed locations; ``Unknown`` recordings are drowned in noise and bursts. A 2016
  recording is one location of such a patient at 2 kHz: abnormal ones carry the murmur.
* ECG: a rotating-dipole beat (P, Q, R, S, T and, for RBBB, a late R') projected onto the 12
  leads; rhythm sets the heart rate and RR regularity, 1st-degree AV block the PR interval.

Generation is deterministic: the same seed gives identical bytes. Each patient, recording and
record draws from its own random stream, so changing how one is made leaves the others alone.

Modules (imports point down this list, never up; this file imports nothing, so importing a
submodule never drags in the others):

* ``common``: random streams, exact class schedules, signal primitives.
* ``pcg_plan``: PCG patients (metadata and recordings) as plans; ``pcg_sound``: their sound.
* ``circor``: ``write_murmur_folder``; ``pcg2016``: ``write_2016_folder``; ``ecg``:
  ``write_ecg_folder`` and ``wfdb_checksums``.
* ``cli``: the command line, run by ``__main__``.

Command line::

    python -m models.synthetic murmur OUT_DIR [--patients N] [--seed S]
    python -m models.synthetic ecg OUT_DIR [--records N] [--seed S]
    python -m models.synthetic pcg2016 OUT_DIR [--recordings N] [--seed S]
"""
