"""ECG signal code: preparation and its cache, rhythm features, networks. Knows no task."""
