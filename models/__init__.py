"""cardiokit: train, run and score PhysioNet/CinC Challenge entries (murmur 2022, ECG 2020/2021)."""

__version__ = "0.1.0"
