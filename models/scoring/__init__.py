"""The official scores, computed as the organisers' evaluators compute them, and the scoring of
whole folders of labels and outputs."""
