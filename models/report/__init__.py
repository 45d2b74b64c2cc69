"""Reports of runs: score tables, curves, threshold searches, training histories and attention
explanations, as one HTML page (``python -m models.report RUN``)."""
