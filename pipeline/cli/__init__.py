"""The ``posepipe`` command: one module per command group, shared options in one place."""
