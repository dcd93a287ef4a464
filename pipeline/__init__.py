"""Stages, caching, manifest and the ``posepipe`` command."""
