"""Tests of posepipe.converters: every format and precision."""
