"""Measurements beside the run: bench, bench-train, dark-check."""
