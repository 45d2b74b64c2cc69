"""Cross-validation: disjoint stratified folds, out-of-fold outputs for every item, scores."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from models import crossval
from models.core.config import override
from models.core.errors import DataError
from models.core.splits import fold_indices
from models.formats.physionet2016 import read_2016_reference
from models.report.run_folders import find_run
from models.tasks import ecg, murmur, pcg2016

pytestmark = pytest.mark.slow


def test_folds_are_disjoint_cover_everything_and_keep_strata() -> None:
    strata = ["Present"] * 10 + ["Absent"] * 12 + ["Unknown"] * 5 + ["Odd"]
    folds = fold_indices(strata, 5, seed=3)
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested) == list(range(len(strata)))
    for train, test in folds:
        assert not set(train) & set(test)
        assert sum(strata[i] == "Present" for i in test) == 2
    assert fold_indices(strata, 5, seed=3)[0][1].tolist() == folds[0][1].tolist()


def test_cross_validation_writes_out_of_fold_outputs_and_scores(
    murmur_demo: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "cv"
    options = ["--task", "murmur", "--folds", "3", "--epochs", "1", "--ensemble", "1", "-q"]
    code = crossval.main([str(murmur_demo), str(workdir), *options])
    assert code == 0
    patients = sorted(path.stem for path in murmur_demo.glob("*.txt"))
    assert sorted(path.stem for path in (workdir / "outputs").glob("*.csv")) == patients
    with open(workdir / "crossval.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:3] == ["fold", "murmur AUROC", "murmur AUPRC"]
    assert [row[0] for row in rows[1:]] == ["1", "2", "3", "mean", "std"]
    weighted = [float(row[rows[0].index("murmur weighted accuracy")]) for row in rows[1:4]]
    assert np.isclose(np.mean(weighted), float(rows[4][rows[0].index("murmur weighted accuracy")]))


def test_2016_folds_carry_their_own_reference_and_scores(
    pcg2016_demo: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "cv"
    code = crossval.main([str(pcg2016_demo), str(workdir), "--folds", "2", "--epochs", "1", "-q"])
    assert code == 0
    everything = read_2016_reference(pcg2016_demo)
    for fold in ("fold1", "fold2"):
        test = workdir / fold / "test"
        labels = read_2016_reference(test)
        assert sorted(labels) == sorted(path.stem for path in test.glob("*.wav"))
        assert all(everything[name] == label for name, label in labels.items())
    with open(workdir / "crossval.csv") as handle:
        header = next(csv.reader(handle))
    assert header == ["fold", "AUROC", "AUPRC", "accuracy", "F-measure", "MAcc"]


def test_source_folds_hold_out_one_whole_source_each(pcg2016_demo: Path, tmp_path: Path) -> None:
    names = sorted(path.stem for path in pcg2016_demo.glob("*.wav"))
    table = tmp_path / "sources.csv"
    table.write_text(
        "".join(f"{name},{'north' if i % 3 else 'south'}\n" for i, name in enumerate(names))
    )
    workdir = tmp_path / "cv"
    arguments = [str(pcg2016_demo), str(workdir), "--group", "source", "--sources", str(table)]
    assert crossval.main([*arguments, "--epochs", "1", "-q"]) == 0
    for fold, source in (("fold1", "north"), ("fold2", "south")):
        assert (workdir / fold / crossval.HELD_OUT_FILE).read_text().strip() == source
        held = {path.stem for path in (workdir / fold / "test").glob("*.wav")}
        assert held == {n for i, n in enumerate(names) if (i % 3 > 0) == (source == "north")}
    with open(workdir / "crossval.csv") as handle:
        assert [row[0] for row in csv.reader(handle)] == ["fold", "north", "south", "mean", "std"]
    assert [part.name for part in find_run(workdir).parts] == ["fold 1 (north)", "fold 2 (south)"]


def test_sources_are_read_from_the_items(ecg_folder: Path, circor: Path, tmp_path: Path) -> None:
    records = Counter(ecg.source(path) for path in ecg.find_items(ecg_folder))
    assert set(records) == {"A", "Q", "S", "HR", "E", "JS"}  # no INCART record is shared
    campaigns = Counter(murmur.source(path) for path in murmur.find_items(circor))
    assert set(campaigns) == {"CC2014", "CC2015"}
    (tmp_path / "12345.hea").write_text("12345 1 500 5000\n")
    with pytest.raises(DataError, match=r"12345\.hea: its name starts with no source letters"):
        ecg.source(tmp_path / "12345.hea")


def test_a_source_table_must_name_every_item(pcg2016_demo: Path, tmp_path: Path) -> None:
    table = tmp_path / "sources.csv"
    table.write_text("a0001,north\n")
    items = pcg2016.find_items(pcg2016_demo)
    with pytest.raises(DataError, match=r"sources.csv: no source for 40 items"):
        crossval.item_sources(pcg2016, items, table)
    table.write_text("only-one-field\n")
    with pytest.raises(DataError, match=r"sources.csv: line 1: expected ITEM,SOURCE"):
        crossval.item_sources(pcg2016, items, table)


def test_override_sets_the_shared_choices() -> None:
    config = override(murmur.CONFIG(), network="cnn4", loss="asl", epochs=3, seed=7)
    assert (config.network, config.loss.name, config.train.epochs, config.train.seed) == (
        "cnn4",
        "asl",
        3,
        7,
    )
