"""The root of posepipe's typed errors.

It lives in the bottom layer so every package can raise errors the CLI knows how
to print: one line, and an exit code of the error's own. Each package defines
its errors next to the code that raises them; ``pipeline.errors`` lists them all.
"""

from __future__ import annotations


class PosepipeError(Exception):
    """An error a user can act on. ``str(error)`` is the one line the CLI prints."""

    exit_code: int = 1


class UnknownModelError(PosepipeError):
    """A model name that is not in the zoo."""

    exit_code = 3

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown model {name!r}; known models: {', '.join(known)}")


class ConfigError(PosepipeError):
    """A model configuration override that does not fit the model's config."""

    exit_code = 12
