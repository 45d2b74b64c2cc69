"""Stand-in for the 2022 run_model.py: ``python run_2022.py MODEL DATA OUTPUTS``."""

import os
import sys

from helper_code import (
    find_patient_files,
    get_patient_id,
    load_patient_data,
    load_recordings,
    save_challenge_outputs,
)
from team_code import load_challenge_model, run_challenge_model

if __name__ == "__main__":
    model_folder, data_folder, output_folder = sys.argv[1:4]
    model = load_challenge_model(model_folder, 1)
    os.makedirs(output_folder, exist_ok=True)
    for patient_file in find_patient_files(data_folder):
        data = load_patient_data(patient_file)
        recordings = load_recordings(data_folder, data)
        classes, labels, probabilities = run_challenge_model(model, data, recordings, 1)
        root = os.path.splitext(os.path.basename(patient_file))[0]
        save_challenge_outputs(
            os.path.join(output_folder, root + ".csv"),
            get_patient_id(data),
            classes,
            labels,
            probabilities,
        )
