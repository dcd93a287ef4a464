"""The evaluator's typed errors: an op it cannot execute, a file it cannot read.

Both stop evaluation outright. An unknown op skipped or passed through would
let an artifact "pass" that nobody executed, which is the one outcome a
verifier must never produce.
"""

from __future__ import annotations

from posepipe.models.errors import PosepipeError


class UnsupportedOpError(PosepipeError):
    """A Core ML op or neuralnetwork layer the reference evaluator does not
    implement (or an attribute value of it that it does not)."""

    exit_code = 15

    def __init__(self, kind: str, name: str, detail: str = "") -> None:
        self.op = name
        where = f" ({detail})" if detail else ""
        super().__init__(
            f"Core ML reference evaluator: unsupported {kind} {name!r}{where}; "
            "add it to validators/coreml_eval or validate on macOS"
        )


class UnreadableArtifactError(PosepipeError):
    """An artifact file its runtime cannot load: corrupt, truncated or not what
    its name says."""

    exit_code = 18
