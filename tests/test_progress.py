"""Progress of long steps: plain lines in logs, silence with -q, one summary line at the end."""

from __future__ import annotations

from models.core.progress import Progress


def test_a_log_gets_a_line_per_tenth_then_the_summary() -> None:
    lines: list[str] = []
    with Progress(20, "running model", verbose=1, unit="patient", log=lines.append) as progress:
        for _ in range(20):
            progress.advance()
        progress.finish("ran 20 patients")
    assert len(lines) == 10
    assert lines[0].startswith("running model: 2/20 patients (")
    assert lines[-1].startswith("ran 20 patients (") and lines[-1].endswith(" s)")


def test_notes_go_to_the_log_between_progress_lines() -> None:
    lines: list[str] = []
    with Progress(2, "cross-validation", verbose=1, unit="fold", log=lines.append) as progress:
        progress.note("fold 1/2: scores")
        progress.advance()
    assert lines == ["fold 1/2: scores", lines[1]]
    assert lines[1].startswith("cross-validation: 1/2 folds")


def test_quiet_prints_nothing() -> None:
    lines: list[str] = []
    with Progress(5, "rendering report", verbose=0, log=lines.append) as progress:
        progress.note("a note")
        for _ in range(5):
            progress.advance()
        progress.finish("done")
    assert lines == []
