"""Stand-in for the 2021 test_model.py: one model per lead set found, then every record."""

import os
import sys

from helper_code import (
    find_challenge_files,
    get_leads,
    get_recording_id,
    load_header,
    load_recording,
    save_outputs,
)
from team_code import load_model, run_model

if __name__ == "__main__":
    model_directory, data_directory, output_directory = sys.argv[1:4]
    header_files, recording_files = find_challenge_files(data_directory)
    os.makedirs(output_directory, exist_ok=True)
    lead_sets = {tuple(sorted(get_leads(load_header(path)))) for path in header_files}
    models = {leads: load_model(model_directory, leads) for leads in lead_sets}
    for header_file, recording_file in zip(header_files, recording_files, strict=True):
        header = load_header(header_file)
        model = models[tuple(sorted(get_leads(header)))]
        classes, labels, probabilities = run_model(model, header, load_recording(recording_file))
        root = os.path.splitext(os.path.basename(header_file))[0]
        save_outputs(
            os.path.join(output_directory, root + ".csv"),
            get_recording_id(header),
            classes,
            labels,
            probabilities,
        )
