"""Stand-in for the 2022 train_model.py: ``python train_2022.py DATA MODEL``."""

import sys

from helper_code import *  # noqa: F403  (the official drivers import helper_code this way)
from team_code import train_challenge_model

if __name__ == "__main__":
    train_challenge_model(sys.argv[1], sys.argv[2], 1)
