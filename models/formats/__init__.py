"""The challenges' file formats: CirCor patients, 2016 folders, WFDB ECG records, audio, output
files and the official scoring tables. Built on ``models.core`` only."""
