"""Every typed error posepipe raises, with its exit code.

Each package raises its own errors (a reader cannot import the pipeline); this
module adds the pipeline's and lists them all, so the CLI and the README agree
and a test can check that no two share an exit code.
"""

from __future__ import annotations

from posepipe.calibration.errors import (
    DatasetFormatError,
    DatasetNotFoundError,
    EmptyDatasetError,
    ImageTooLargeError,
    KeypointSetMismatchError,
    MissingImageError,
)
from posepipe.converters.base import ConversionError
from posepipe.models.errors import ConfigError, FileSystemError, PosepipeError, UnknownModelError
from posepipe.models.specfile.errors import SpecFileError
from posepipe.validators.coreml_eval.errors import UnreadableArtifactError, UnsupportedOpError
from posepipe.validators.runners.base import NotExecutableError


class CheckpointError(PosepipeError):
    """A checkpoint that is missing or is not a readable .keras file, legacy Keras .h5 or SavedModel folder."""

    exit_code = 4


class CheckpointMismatchError(PosepipeError):
    """A readable checkpoint of another architecture or input size."""

    exit_code = 5


class ChecksFailedError(PosepipeError):
    """Artifacts were built but at least one failed its checks; the manifest has
    the whole table."""

    exit_code = 10


class BudgetExceededError(PosepipeError):
    """An artifact is slower than its model's latency budget on a target (and
    budgets were not made report-only)."""

    exit_code = 11


class ArtifactNotFoundError(PosepipeError):
    """``posepipe validate`` was given a path with no file behind it."""

    exit_code = 16


class UnknownArtifactError(PosepipeError):
    """A file whose name does not say its format (or precision) and model."""

    exit_code = 17


class ManifestError(PosepipeError):
    """A run's manifest that is missing, not JSON, or not the shape its published
    schema (pipeline/manifest/schema.json) says: read by index, report, bench, predict."""

    exit_code = 19


class SourceError(PosepipeError):
    """``posepipe pull``: the source (URL or folder) or its index.json cannot be read."""

    exit_code = 20


class NotInIndexError(PosepipeError):
    """``posepipe pull``: the index lists no artifact of that model, format and precision."""

    exit_code = 21


class UnsafePathError(PosepipeError):
    """``posepipe pull``: an index entry whose path would leave the artifacts root."""

    exit_code = 22


class FailedArtifactError(PosepipeError):
    """``posepipe pull``: the artifact failed validation (pass --allow-failed to take it anyway)."""

    exit_code = 23


class IntegrityError(PosepipeError):
    """``posepipe pull``: the fetched bytes are not the ones the index lists (sha256 or size)."""

    exit_code = 24


class DistributeError(PosepipeError):
    """``posepipe train --strategy``: a strategy that cannot be set up (TF_CONFIG
    missing or invalid, or CPU replicas asked for after TensorFlow started)."""

    exit_code = 25


class WorkerDiedError(PosepipeError):
    """A worker process building artifacts side by side died without a result
    (killed: most often by the kernel's out-of-memory killer)."""

    exit_code = 26


class FolderLockedError(PosepipeError):
    """Another posepipe command is writing the folder (or file) this one would write,
    and ``--no-wait`` was given: one writer per output folder (pipeline/engine/lock.py)."""

    exit_code = 27


USAGE_EXIT_CODE = 2  # click's, for a bad option or argument
INTERRUPTED_EXIT_CODE = 130

class CoverageNotMetError(PosepipeError):
    """A file is not fully delegated on an accelerator its model's spec demands
    (ModelSpec.coverage_required); the manifest has every file's coverage."""

    exit_code = 30


ERRORS: tuple[type[PosepipeError], ...] = (
    UnknownModelError,
    CheckpointError,
    CheckpointMismatchError,
    DatasetFormatError,
    MissingImageError,
    EmptyDatasetError,
    ConversionError,
    ChecksFailedError,
    BudgetExceededError,
    ConfigError,
    ManifestError,
    DatasetNotFoundError,
    NotExecutableError,
    UnsupportedOpError,
    ArtifactNotFoundError,
    UnknownArtifactError,
    UnreadableArtifactError,
    SourceError,
    NotInIndexError,
    UnsafePathError,
    FailedArtifactError,
    IntegrityError,
    DistributeError,
    WorkerDiedError,
    FolderLockedError,
    FileSystemError,
    ImageTooLargeError,
    CoverageNotMetError,
    SpecFileError,
    KeypointSetMismatchError,
)

__all__ = [
    "ERRORS", "ArtifactNotFoundError", "BudgetExceededError",
    "CheckpointError", "CheckpointMismatchError", "ChecksFailedError", "ConfigError",
    "ConversionError", "CoverageNotMetError",
    "DatasetFormatError", "DatasetNotFoundError", "DistributeError", "EmptyDatasetError",
    "FailedArtifactError", "FileSystemError", "FolderLockedError", "ImageTooLargeError",
    "IntegrityError", "KeypointSetMismatchError", "NotInIndexError", "SourceError", "UnsafePathError",
    "MissingImageError", "NotExecutableError", "PosepipeError", "UnknownArtifactError", "UnknownModelError",
    "SpecFileError", "UnreadableArtifactError", "UnsupportedOpError", "WorkerDiedError",
]
