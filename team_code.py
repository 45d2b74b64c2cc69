"""The functions the challenge drivers call, for the 2022 murmur and the 2020/2021 ECG templates.

The organisers run entries with their own unedited ``train_model.py``, ``run_model.py`` /
``test_model.py`` and ``helper_code.py``, so everything here goes through the kit's ``models``
package and nothing relies on this repository's ``helper_code.py``. Inference never reads labels.
"""

from models.tasks import ecg, murmur, pipeline
from models.tasks.registry import detect_task, task_module


def train_challenge_model(data_folder, model_folder, verbose):
    """2022 template: train on ``data_folder`` (task detected from its files)."""
    task = task_module(detect_task(data_folder))
    pipeline.train(task, data_folder, model_folder, verbose=int(verbose))


def load_challenge_model(model_folder, verbose):
    """2022 template: the trained model, whichever task it was trained for."""
    return pipeline.load_model(model_folder)


def run_challenge_model(model, data, recordings, verbose):
    """2022 template: ``data`` is the patient text, ``recordings`` the loaded wav samples."""
    return murmur.run_text(model, data, recordings)


def training_code(data_directory, model_directory):
    """2021 template: train on ``data_directory``."""
    train_challenge_model(data_directory, model_directory, verbose=1)


def load_model(model_directory, leads):
    """2021 template: one model folder serves every lead set (absent leads read as zeros)."""
    return pipeline.load_model(model_directory)


def run_model(model, header, recording):
    """2021 template: ``header`` is the header text, ``recording`` the digital ``val`` matrix."""
    return ecg.run_text(model, header, recording)
