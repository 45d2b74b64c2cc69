"""Stand-in for the 2021 train_model.py: ``python train_2021.py DATA MODEL``."""

import sys

from team_code import training_code

if __name__ == "__main__":
    training_code(sys.argv[1], sys.argv[2])
