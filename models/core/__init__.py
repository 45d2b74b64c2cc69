"""Foundations every task shares: configuration, errors, paths, signals, windows, splits, losses,
the training loop, distributed runs, storage, thresholds and progress. Imports nothing above it."""
