"""The evidence tables of ``bench_ecg_sources.py``: the rhythm measures of the shared records
by labelled rhythm, where the rhythm rules' bounds fall, and the sinus labels each source gives
at 50-60 bpm."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.ecg import rhythm
from models.ecg.rhythm import (
    ON_TIME_RATIO,
    P_WAVES,
    PREMATURE_RATIO,
    RANGE,
    REGULAR_RANGE,
    SHORTEST,
    SUCCESSIVE,
    fibrillating,
)
from models.tasks import ecg
from models.tasks.contract import Example

RHYTHM_GROUPS = (
    ("atrial fibrillation", (rhythm.AF,)),
    ("atrial flutter", (rhythm.AFL,)),
    ("premature beats", (rhythm.PAC, rhythm.PVC)),
    ("sinus arrhythmia", (rhythm.SA,)),
)


def evidence_table(examples: list[Example]) -> list[str]:
    """The rhythm measures of every record by labelled rhythm (median, 10th-90th percentile),
    and how many records each rhythm rule would act on: where the bounds fall."""
    scoring = ecg.scoring_of(2021)
    labels = np.stack([ecg.label_vector(e.item.dx, scoring) for e in examples]).astype(bool)
    measured = np.stack([e.item.rhythm_features for e in examples])
    found = measured[:, rhythm.FOUND] > 0
    groups = [
        (name, labels[:, rhythm.scored(scoring.class_of, codes)].any(axis=1))
        for name, codes in RHYTHM_GROUPS
    ]
    groups.append(("none of these", ~np.any([member for _, member in groups], axis=0)))
    lines = [
        "### Rhythm measures by labelled rhythm",
        "",
        f"R peaks found on {found.sum()} of {len(examples)} records (today's preparation). "
        f"Regular: RR range under {REGULAR_RANGE:.0%} of the mean RR (the irregular "
        "rhythms are removed); AF by definition: the rule names atrial fibrillation; on time: "
        f"the shortest RR at least {ON_TIME_RATIO:.0%} of the median (premature beats are "
        f"removed); early: under {PREMATURE_RATIO:.0%} (a premature beat is named in a sinus "
        "rhythm without one).",
        "",
        "| labelled | records | RR range / mean RR | successive changes > 50 ms | "
        "P-wave consistency | shortest RR / median RR | regular | AF by definition | on time "
        "| early |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    columns = (RANGE, SUCCESSIVE, P_WAVES, SHORTEST)
    for name, member in groups:
        rows = measured[member & found]
        spread = [np.percentile(rows[:, column], (50, 10, 90)) for column in columns]
        cells = [f"{middle:.2f} ({low:.2f}-{high:.2f})" for middle, low, high in spread]
        counts = (
            np.sum(rows[:, RANGE] < REGULAR_RANGE),
            sum(map(fibrillating, rows)),
            np.sum(rows[:, SHORTEST] >= ON_TIME_RATIO),
            np.sum(rows[:, SHORTEST] < PREMATURE_RATIO),
        )
        cells += [str(count) for count in counts]
        lines.append(f"| {name} | {len(rows)} | {' | '.join(cells)} |")
    return [*lines, ""]


def sinus_label_table(examples: list[Example]) -> list[str]:
    """How each source labels the sinus rhythms of records measured under 50 bpm (bradycardia
    by both definitions) and at 50-60 bpm (by the classic one only, ``rhythm.sinus_by_rate``)."""
    scoring = ecg.scoring_of(2021)
    normal, slow = scoring.class_of(rhythm.NSR), scoring.class_of(rhythm.SB)
    guideline, classic = rhythm.GUIDELINE_BRADYCARDIA_BELOW, rhythm.BRADYCARDIA_BELOW
    counts: dict[tuple[str, str], list[int]] = {}
    for example in examples:
        rate = rhythm.measured_rate(example.item.rhythm_features)
        labels = ecg.label_vector(example.item.dx, scoring)
        if rate is None or rate >= classic or not (labels[normal] or labels[slow]):
            continue
        band = f"under {guideline:.0f}" if rate < guideline else f"{guideline:.0f}-{classic:.0f}"
        kind = 2 if labels[normal] and labels[slow] else int(bool(labels[slow]))
        counts.setdefault((ecg.source(Path(example.name)), band), [0, 0, 0])[kind] += 1
    lines = [
        "### Sinus labels under 60 bpm, by source",
        "",
        "Records labelled sinus rhythm or sinus bradycardia whose measured rate lies under "
        f"{classic:.0f} bpm. Under {guideline:.0f} bpm both definitions of sinus bradycardia "
        f"hold; at {guideline:.0f}-{classic:.0f} only the classic one (under {classic:.0f}), "
        f"not the 2018 guideline's (under {guideline:.0f}), and `bradycardia band` names sinus "
        "rhythm and sinus bradycardia both.",
        "",
        "| source | measured bpm | sinus rhythm only | sinus bradycardia only | both |",
        "|---|---|---|---|---|",
    ]
    for (source, band), (only_normal, only_slow, both) in sorted(counts.items()):
        lines.append(f"| {source} | {band} | {only_normal} | {only_slow} | {both} |")
    return [*lines, ""]
