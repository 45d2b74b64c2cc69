"""The murmur task's settings: the network, its input, training and the decisions.

Defaults are the best measured in ``bench/murmur.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from models.core.boosting import BoostingConfig
from models.core.config import Checked, PositiveFloat, PositiveInt, Range, Share
from models.core.losses import LossConfig, check_loss_kind
from models.core.training import TrainConfig
from models.pcg.features import SpecAugmentConfig
from models.pcg.front_end import check_band
from models.pcg.prior import PriorConfig
from models.pcg.quality import QualityConfig

# The names of ``models.pcg.networks.NETWORKS``, spelled out so the configuration can check them
# (tests/test_contract.py keeps the two equal).
Network = Literal["cnn4", "cnn-attention", "rnn-attention"]
PatientInput = Literal["recordings", "concatenated"]
Sampling = Literal["prior", "balanced", "none"]
Decision = Literal["tuned", "argmax"]
Unknown = Literal["learned", "quality"]
OutcomeModel = Literal["boosted", "logistic"]


@dataclass
class MurmurConfig(Checked):
    """Settings of the murmur pipeline; defaults are the best measured in ``bench/murmur.md``.

    ``widths`` overrides the network's layer widths (empty: the paper's widths). ``sampling``:
    ``prior`` draws training items so the classes follow ``prior``, ``balanced`` upsamples every
    murmur class to the same share, ``none`` takes each item once per epoch. ``decision``:
    ``tuned`` thresholds or plain ``argmax``. The settings are checked when built: ``band_hz``
    must rise and stay below the Nyquist frequency of ``frequency`` (the band-pass filter and
    the mel bands are built from it), and ``loss`` must be a single-label loss, since both
    heads (murmur, outcome) pick one class.

    How the decisions are made from the network's outputs (``models.pcg.decisions``):
    ``unknown`` ``learned`` decides Unknown from the network's Unknown probability, ``quality``
    from the worst recording's ``quality`` score; ``unknown_first`` decides Unknown before
    Present (a patient whose murmur cannot be judged is not called Present; at the prior it
    reaches more Unknown patients for less weighted accuracy, ``bench/murmur.md``, so it is
    off); ``calibrate`` fits a temperature per head on
    the held-out patients; ``outcome_stage`` decides the outcome by a second model fitted on
    held-out outputs (with ``train.ensemble`` K, every training patient's out-of-fold
    outputs), ``outcome_model``: ``boosted`` gradient-boosted trees (``boosting``) on the
    patient's outputs and demographics, or ``logistic`` regression on the network's Abnormal
    and Present probabilities (three numbers, for the few held-out patients there are to fit:
    the default; with an ensemble's out-of-fold outputs it lowered the outcome cost most,
    ``bench/murmur.md``), fitted only on enough held-out patients; ``keep_auroc``: a
    murmur class whose held-out score ranks patients at least this well is never switched off
    (1 keeps nothing on).

    ``train`` makes an ensemble of 5 networks, one per fold, each stopped early on its own
    held-out fold, with the decisions tuned on every patient's out-of-fold outputs: with the
    logistic stage the one configuration that met every target of ``bench/murmur.md``.
    ``train.ensemble`` 1 trains one network on a ``validation_share`` hold-out instead.
    """

    network: Network = "cnn4"
    widths: tuple[PositiveInt, ...] = ()
    patient_input: PatientInput = "recordings"
    frequency: PositiveFloat = 4000.0
    band_hz: tuple[float, float] = (25.0, 800.0)
    window_seconds: PositiveFloat = 4.0
    n_fft: PositiveInt = 256
    hop: PositiveInt = 128
    n_mels: PositiveInt = 64
    loss: LossConfig = field(default_factory=lambda: LossConfig(name="asl"))
    sampling: Sampling = "prior"
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    validation_share: Share = 0.2
    decision: Decision = "tuned"
    threshold_trials: PositiveInt = 25
    unknown: Unknown = "learned"
    unknown_first: bool = False
    quality: QualityConfig = field(default_factory=QualityConfig)
    calibrate: bool = True
    outcome_stage: bool = True
    outcome_model: OutcomeModel = "logistic"
    boosting: BoostingConfig = field(default_factory=BoostingConfig)
    keep_auroc: Annotated[float, Range(0.5, 1.0)] = 0.7
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=50, batch_size=32, patience=8, schedule="plateau", ensemble=5
        )
    )

    def check(self) -> None:
        check_band(self.band_hz, self.frequency)
        check_loss_kind(self.loss, "single", "murmur")
