"""Stand-in for the organisers' helper code (2022 and 2021), independent of the kit.

It does what the official helpers do on the calling path: plain text and numbers, wav samples
as int16 through scipy, ``val`` matrices through ``loadmat``, outputs as four CSV lines.
"""

import os

import numpy as np
import scipy.io
import scipy.io.wavfile


def find_patient_files(data_folder):
    names = [name for name in os.listdir(data_folder) if name.endswith(".txt")]
    names.sort(key=lambda name: int(name[:-4]) if name[:-4].isdigit() else name)
    return [os.path.join(data_folder, name) for name in names]


def load_patient_data(filename):
    with open(filename) as handle:
        return handle.read()


def get_patient_id(data):
    return data.split("\n")[0].split(" ")[0]


def load_recordings(data_folder, data):
    first, *lines = data.split("\n")
    recordings = []
    for line in lines[: int(first.split(" ")[1])]:
        _, wav = scipy.io.wavfile.read(os.path.join(data_folder, line.split(" ")[2]))
        recordings.append(wav)
    return recordings


def save_challenge_outputs(filename, patient_id, classes, labels, probabilities):
    lines = [
        f"#{patient_id}",
        ",".join(str(c) for c in classes),
        ",".join(str(label) for label in labels),
        ",".join(str(p) for p in probabilities),
    ]
    with open(filename, "w") as handle:
        handle.write("\n".join(lines) + "\n")


def find_challenge_files(data_directory):
    headers, recordings = [], []
    for name in sorted(os.listdir(data_directory)):
        root, extension = os.path.splitext(name)
        mat = os.path.join(data_directory, root + ".mat")
        if extension == ".hea" and os.path.isfile(mat):
            headers.append(os.path.join(data_directory, name))
            recordings.append(mat)
    return headers, recordings


def load_header(header_file):
    with open(header_file) as handle:
        return handle.read()


def load_recording(recording_file):
    return np.asarray(scipy.io.loadmat(recording_file)["val"], dtype=np.float32)


def get_leads(header):
    lines = header.split("\n")
    count = int(lines[0].split(" ")[1])
    return tuple(line.split(" ")[-1].strip() for line in lines[1 : 1 + count])


def get_recording_id(header):
    return header.split("\n")[0].split(" ")[0]


save_outputs = save_challenge_outputs
