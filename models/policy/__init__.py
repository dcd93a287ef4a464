"""What a file must meet: tolerances per precision, latency budgets per target."""
