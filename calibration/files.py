"""Opening a dataset's files as user input: an image or a JSON document that cannot
be read is one typed error naming the file (the COCO and AI Challenger readers share it)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from posepipe.calibration.errors import DatasetFormatError, ImageTooLargeError, MissingImageError


@contextmanager
def open_image(path: Path) -> Iterator[Image.Image]:
    """The image at ``path``, its read errors (at open or while decoding in the block)
    as MissingImageError or ImageTooLargeError.

    PIL warns (DecompressionBombWarning) on images over ``Image.MAX_IMAGE_PIXELS``
    (89 M pixels: a 10000x10000 photo) and refuses twice that. Such an image is a large
    photo, read like any other, so nothing is printed; past the hard limit it is
    refused with ImageTooLargeError (exit 29) before its pixels are decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                yield image
    except FileNotFoundError:
        raise MissingImageError(f"{path}: image file not found") from None
    except Image.DecompressionBombError as error:
        raise ImageTooLargeError(f"{path}: too large to decode ({error})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise MissingImageError(f"{path}: not a readable image ({first_line(error)})") from None


def read_json(path: Path, kind: str) -> Any:
    """The JSON document at ``path``; ``kind`` names what it should be ("COCO")."""
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DatasetFormatError(f"{path}: not valid JSON ({error})") from None
    except UnicodeDecodeError:
        raise DatasetFormatError(f"{path}: not a UTF-8 text file") from None
    except RecursionError:
        raise DatasetFormatError(f"{path}: nested too deeply to be {kind} file") from None


def first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
