"""Errors in the data a user points posepipe at."""

from __future__ import annotations

from posepipe.models.errors import PosepipeError


class DatasetFormatError(PosepipeError):
    """A COCO-keypoints JSON that is not what COCO writes."""

    exit_code = 6


class MissingImageError(PosepipeError):
    """An annotated image that is not on disk, or not an image."""

    exit_code = 7


class EmptyDatasetError(PosepipeError):
    """A split with no usable person annotation (or a calibration set with no image)."""

    exit_code = 8


class DatasetNotFoundError(PosepipeError):
    """A dataset folder without the expected annotation file."""

    exit_code = 13


class ImageTooLargeError(PosepipeError):
    """An image with more pixels than posepipe decodes (PIL's decompression-bomb
    limit, twice ``Image.MAX_IMAGE_PIXELS``): a file that small on disk and that
    large in memory is refused before it is decoded."""

    exit_code = 29


class KeypointSetMismatchError(PosepipeError):
    """A dataset labelled with another keypoint set than the model's (AI Challenger's
    aic-14 for a COCO-17 model, say): it can neither train nor judge that model."""

    exit_code = 32
