"""The spec-file error: every problem of one file, each a line naming the file,
the key and what was expected, so one ``posepipe spec check`` lists them all."""

from __future__ import annotations

from dataclasses import dataclass

from posepipe.models.errors import PosepipeError


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a spec file: ``file: key: message``."""

    file: str
    key: str  # the dotted path (``outputs[1].stride``), or "" for the file as a whole
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}" if self.key else f"{self.file}: {self.message}"


class SpecFileError(PosepipeError):
    """A model spec file (``--spec``, ``posepipe spec check``) that is missing, not
    TOML, or describes no usable model: each problem names the file, the key and
    what was expected; or a spec that does not fit its Keras model."""

    exit_code = 31

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
