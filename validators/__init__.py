"""Runners (one per runtime), comparators, task metrics and artifact validation."""
