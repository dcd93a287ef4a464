"""``posepipe run``: settings, the stages (data, checkpoint, calibration, convert,
validate, time) and the orchestration."""
