"""Package data: lane calibration tables (``lanes_<family>.json``, see hwmodels.calibration)."""
