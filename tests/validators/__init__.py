"""Tests of posepipe.validators: runners, comparators, metrics, latency."""
