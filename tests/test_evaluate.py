"""evaluate_model.py end to end on small folders whose scores were worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import evaluate_model
from models.core.errors import DataError
from models.scoring import folders

AF, CRBBB, RBBB, NSR = "164889003", "713427006", "59118001", "426783006"

# Patient: (murmur, outcome, murmur binary, murmur probabilities, outcome binary, probabilities)
PATIENTS = {
    "1": ("Present", "Abnormal", "1,0,0", "0.8,0.1,0.1", "1,0", "0.9,0.1"),
    "2": ("Absent", "Normal", "0,0,1", "0.2,0.1,0.7", "0,1", "0.3,0.7"),
    "3": ("Unknown", "Abnormal", "0,0,0", "0.4,0.3,0.75", "1,1", "0.6,0.6"),
    "4": ("Absent", "Normal", "0,0,1", "0.1,0.2,0.7", "1,0", "0.6,0.4"),
}
# Murmur outputs Present, Absent, Present (none given), Absent; outcome outputs Abnormal, Normal,
# Abnormal (two given), Abnormal. Murmur: accuracy 3/4, weighted (5 + 2) / (5 + 3 + 2), F1
# (2/3 + 0 + 1) / 3, AUROC of Absent 0.5 (a negative ranks first) and AUPRC 2/3; cost against the
# outcome labels: TP 2, TN 2 -> (40 + 2000 + 20000) / 4. Outcome: AUROC (0.875 + 0.75) / 2 =
# 0.8125, printed 0.812 (half to even); weighted 11/12; cost with TP 2, FP 1, TN 1, share 3/4:
# (40 + 2930.5 * 4 + 20000) / 4.
MURMUR_PRINTOUT = """#Murmur scores
AUROC,AUPRC,F-measure,Accuracy,Weighted Accuracy,Cost
0.833,0.889,0.556,0.750,0.700,5510.000

#Outcome scores
AUROC,AUPRC,F-measure,Accuracy,Weighted Accuracy,Cost
0.812,0.833,0.733,0.750,0.917,7940.500

"""
MURMUR_PER_CLASS = """#Murmur scores (per class)
Classes,Present,Unknown,Absent
AUROC,1.000,1.000,0.500
AUPRC,1.000,1.000,0.667
F-measure,0.667,0.000,1.000
Accuracy,1.000,0.000,1.000

#Outcome scores (per class)
Classes,Abnormal,Normal
AUROC,0.875,0.750
AUPRC,0.833,0.833
F-measure,0.800,0.667
Accuracy,1.000,0.500
"""

# Record: (Dx line, output classes, binary, probabilities). R3's RBBB is scored as CRBBB.
RECORDS = {
    "R1": (f"#Dx: {AF}", f"{AF},{NSR}", "1,0", "0.9,0.1"),
    "R2": (f"#Dx: {NSR}", f"{AF},{NSR},{CRBBB}", "0,1,0", "0.2,0.8,0.6"),
    "R3": (f"#Dx: {RBBB},{AF},251173003", f"{AF},{NSR},{CRBBB}", "1,0,0", "0.7,0.3,0.6"),
}
# AUROC (1 + 1 + 0.75) / 3 and AUPRC (1 + 1 + 0.5) / 3 over the classes with positives (CRBBB has
# a tie between R2 and R3); accuracy 2/3; F1 (1 + 1 + 0) / 3; challenge metric: observed
# 1 + 1 + 0.5 + 0.4 * 0.5 = 2.7, correct 3.4, always-sinus 0.125 + 1 + (0.25 + 0.35) / 3 = 1.325.
# 2020 adds F-beta (1 + 1 + 0) / 3 and G-beta (1 + 1 + 0) / 3.
ECG_2021 = "AUROC,AUPRC,Accuracy,F-measure,Challenge metric\n0.917,0.833,0.667,0.667,0.663"
ECG_2020 = (
    "AUROC,AUPRC,Accuracy,F-measure,Fbeta-measure,Gbeta-measure,Challenge metric\n"
    "0.917,0.833,0.667,0.667,0.667,0.667,0.663"
)
CLASSES_2021 = (
    "Classes,164889003,164890007,6374002,426627000,164909002|733534002,59118001|713427006,"
    "270492004,713426002,39732003,445118002,164947007,251146004,111975006,698252002,426783006,"
    "284470004|63593006,10370003,365413008,17338001|427172004,164917005,47665007,427393009,"
    "426177001,427084000,164934002,59931005"
)


def patient_folders(root: Path) -> tuple[Path, Path]:
    labels, outputs = root / "labels", root / "outputs"
    labels.mkdir()
    outputs.mkdir()
    for patient, (murmur, outcome, binary, murmur_p, outcome_b, outcome_p) in PATIENTS.items():
        (labels / f"{patient}.txt").write_text(
            f"{patient} 1 4000\nAV {patient}_AV.hea {patient}_AV.wav {patient}_AV.tsv\n"
            f"#Age: Child\n#Murmur: {murmur}\n#Outcome: {outcome}\n"
        )
        (labels / f"{patient}_AV.hea").write_text(f"{patient}_AV 1 4000 8000\n")
        (outputs / f"{patient}.csv").write_text(
            f"#{patient}\nPresent,Unknown,Absent,Abnormal,Normal\n{binary},{outcome_b}\n"
            f"{murmur_p},{outcome_p}\n"
        )
    return labels, outputs


def ecg_folders(root: Path, dx_prefix: str = "#Dx:") -> tuple[Path, Path]:
    labels, outputs = root / "labels", root / "outputs"
    labels.mkdir()
    outputs.mkdir()
    for record, (dx, classes, binary, probabilities) in RECORDS.items():
        (labels / f"{record}.hea").write_text(
            f"{record} 1 500 5000\n{record}.mat 16 1000/mV 16 0 0 0 0 I\n#Age: 60\n"
            f"{dx.replace('#Dx:', dx_prefix)}\n#Rx: Unknown\n"
        )
        (outputs / f"{record}.csv").write_text(f"#{record}\n{classes}\n{binary}\n{probabilities}\n")
    return labels, outputs


def run(capsys: pytest.CaptureFixture, *arguments: object) -> tuple[int, str, str]:
    status = evaluate_model.main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_murmur_printout_is_the_official_one(tmp_path: Path, capsys: pytest.CaptureFixture):
    status, out, err = run(capsys, *patient_folders(tmp_path))
    assert (status, err) == (0, "")
    assert out == MURMUR_PRINTOUT + MURMUR_PER_CLASS + "\n"


def test_murmur_score_files(tmp_path: Path, capsys: pytest.CaptureFixture):
    scores, per_class = tmp_path / "scores.csv", tmp_path / "class_scores.csv"
    status, out, _ = run(capsys, *patient_folders(tmp_path), scores, per_class)
    assert (status, out) == (0, "")
    assert scores.read_text() == MURMUR_PRINTOUT + MURMUR_PER_CLASS
    assert per_class.read_text() == MURMUR_PER_CLASS


def test_murmur_scores_are_importable(tmp_path: Path):
    result = folders.evaluate_murmur(*patient_folders(tmp_path))
    assert result.murmur.weighted_accuracy == 0.7
    assert result.outcome.cost == 7940.5
    assert result.outcome.auroc == 0.8125


def test_ecg_2021_score_files(tmp_path: Path, capsys: pytest.CaptureFixture):
    scores, per_class = tmp_path / "scores.csv", tmp_path / "class_scores.csv"
    status, out, err = run(capsys, *ecg_folders(tmp_path), scores, per_class)
    assert (status, out, err) == (0, "", "")
    assert scores.read_text() == ECG_2021
    lines = per_class.read_text().split("\n")
    assert lines[0] == CLASSES_2021
    auroc = ["nan"] * 26
    auroc[0], auroc[5], auroc[14] = "1.000", "0.750", "1.000"
    assert lines[1] == "AUROC," + ",".join(auroc)
    assert lines[3].startswith("F-measure,1.000,nan,nan,nan,nan,0.000,")


def test_ecg_2020_adds_fbeta_and_gbeta(tmp_path: Path, capsys: pytest.CaptureFixture):
    scores, per_class = tmp_path / "scores.csv", tmp_path / "class_scores.csv"
    status, _, _ = run(capsys, *ecg_folders(tmp_path), scores, per_class, "--ecg-classes", 2020)
    assert status == 0
    assert scores.read_text() == ECG_2020
    assert per_class.read_text().startswith(
        "Classes,270492004,164889003,164890007,426627000,713427006,"
    )


def test_ecg_printout_shows_the_summary_then_the_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture
):
    status, out, _ = run(capsys, *ecg_folders(tmp_path))
    assert status == 0
    assert out.startswith(ECG_2021 + "\n\n" + CLASSES_2021 + "\nAUROC,1.000,nan,")


def test_spaced_dx_lines_are_read_with_one_warning(tmp_path: Path, capsys: pytest.CaptureFixture):
    scores = tmp_path / "scores.csv"
    status, _, err = run(capsys, *ecg_folders(tmp_path, dx_prefix="# Dx:"), scores)
    assert status == 0 and scores.read_text() == ECG_2021
    assert err.count("\n") == 1
    assert err.startswith("warning: 3 of 3 label headers write '# Dx:'")


def test_malformed_output_file_is_named_in_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture):
    labels, outputs = ecg_folders(tmp_path)
    (outputs / "R2.csv").write_text(f"#R2\n{AF},{NSR}\n0,1\n")
    status, _, err = run(capsys, labels, outputs, tmp_path / "scores.csv")
    assert status == 0
    assert err == (
        f"warning: {outputs / 'R2.csv'}: fewer than four lines (#ID, classes, labels, "
        "probabilities); all its outputs count as negative\n"
    )


def test_an_unreadable_entry_beside_the_outputs_is_not_read(
    tmp_path: Path, capsys: pytest.CaptureFixture
):
    labels, outputs = ecg_folders(tmp_path)
    (outputs / "loop1.csv").symlink_to(outputs / "loop2.csv")
    (outputs / "loop2.csv").symlink_to(outputs / "loop1.csv")
    status, _, err = run(capsys, labels, outputs, tmp_path / "scores.csv")
    assert (status, err) == (0, "")
    (outputs / "R2.csv").unlink()
    (outputs / "R2.csv").symlink_to(outputs / "R2.csv")
    status, _, err = run(capsys, labels, outputs)
    assert status == 1
    assert err == f"error: {outputs / 'R2.csv'}: cannot read (Too many levels of symbolic links)\n"


def test_missing_output_file_is_one_error_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture
):
    labels, outputs = ecg_folders(tmp_path)
    (outputs / "R2.csv").unlink()
    status, out, err = run(capsys, labels, outputs)
    assert (status, out) == (1, "")
    assert (
        err
        == f"error: {outputs / 'R2.csv'}: missing: no output for label file {labels / 'R2.hea'}\n"
    )


@pytest.mark.parametrize("make", ["empty", "absent"])
def test_label_folder_without_labels_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture, make: str
):
    labels = tmp_path / "labels"
    if make == "empty":
        labels.mkdir()
    (tmp_path / "outputs").mkdir()
    status, _, err = run(capsys, labels, tmp_path / "outputs")
    assert status == 1
    assert err.startswith(f"error: {labels}: ") and err.count("\n") == 1


def test_patient_file_without_labels_is_an_error_naming_it(tmp_path: Path):
    labels, outputs = patient_folders(tmp_path)
    hidden = labels / "2.txt"
    hidden.write_text("\n".join(hidden.read_text().splitlines()[:3]) + "\n")
    with pytest.raises(DataError, match=r"2\.txt: no #Murmur label"):
        folders.evaluate(labels, outputs)


def test_patient_files_win_over_recording_headers_in_one_folder(tmp_path: Path):
    labels, _ = patient_folders(tmp_path)
    assert any(labels.glob("*.hea"))
    assert folders.label_folder_task(labels) == "murmur"


def test_json_result(tmp_path: Path, capsys: pytest.CaptureFixture):
    status, out, _ = run(capsys, *ecg_folders(tmp_path), "--json")
    assert status == 0
    result = json.loads(out)
    assert result["task"] == "ecg" and result["year"] == 2021
    assert result["scores"]["challenge_metric"] == pytest.approx(1.375 / 2.075)
    assert result["scores"]["auroc_classes"][1] is None
    assert result["class_names"][5] == "59118001|713427006"


def test_2016_label_folder_without_labels_is_an_error(tmp_path: Path, capsys):
    labels, outputs = tmp_path / "labels", tmp_path / "outputs"
    labels.mkdir()
    outputs.mkdir()
    (labels / "REFERENCE.csv").write_text("\n")
    assert evaluate_model.main([str(labels), str(outputs)]) == 1
    assert "REFERENCE.csv: no labels in the file" in capsys.readouterr().err
