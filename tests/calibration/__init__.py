"""Tests of posepipe.calibration: datasets and preprocessing."""
