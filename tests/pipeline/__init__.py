"""Tests of posepipe.pipeline: the CLI, stages, delivery, report, training."""
