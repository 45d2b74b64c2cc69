"""``python -m models``: the command-line tools of the kit, one line each."""

from __future__ import annotations

import sys

TOOLS = (
    ("models.demo", "generate, train, run, score and report each task on synthetic data"),
    ("models.crossval", "k-fold cross-validation with the official scores (crossval.csv)"),
    ("models.report", "an HTML report of a run or cross-validation folder"),
    ("models.explain", "where a model looked (attention or Grad-CAM), as a figure"),
    ("models.synthetic", "generated challenge folders of any task"),
    ("models.distill", "the teacher, distilled student and student baseline on one split"),
)


def main() -> int:
    print("cardiokit tools (each takes --help):")
    width = max(len(name) for name, _ in TOOLS)
    for name, purpose in TOOLS:
        print(f"  python -m {name:<{width}}  {purpose}")
    print("entry scripts: train_model.py, run_model.py, evaluate_model.py (each takes --help)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
