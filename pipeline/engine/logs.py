"""Keeping the runtimes' chatter off the terminal.

TensorFlow, tf2onnx and coremltools print from Python and from C++ (straight to
file descriptors 1 and 2), so redirection happens at the descriptor level: a
converter's whole output goes to a log file, and the C++ log lines that
TensorFlow and LiteRT print at import and first use are filtered out of stderr.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


@contextmanager
def captured(log: Path) -> Iterator[None]:
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


# TensorFlow and LiteRT log from C++ at import and first use (absl's "I0000 ..." lines,
# "INFO: Created TensorFlow Lite XNNPACK delegate"), below any Python logging switch.
NOISE = re.compile(
    rb"^(?:[IWE]\d{4} [\d:. ]+\d+ [\w.]+:\d+\]"
    rb"|WARNING: All log messages before absl::InitializeLog"
    rb"|INFO: Created TensorFlow Lite"
    rb"|To enable the following instructions"
    rb"|This TensorFlow binary is optimized)"
)


@contextmanager
def filtered_stderr() -> Iterator[TextIO]:
    """Route file descriptor 2 through a filter that drops the runtimes' C++ log
    noise; yields a text stream on the real stderr for live progress display.
    ``POSEPIPE_VERBOSE=1`` turns the filter off."""
    if os.environ.get("POSEPIPE_VERBOSE") == "1":
        yield sys.stderr
        return
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    forward = threading.Thread(target=_forward, args=(read_end, real), daemon=True)
    forward.start()
    terminal = open(os.dup(real), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    try:
        yield terminal
    finally:
        terminal.flush()
        sys.stderr.flush()
        os.dup2(real, 2)  # closes the pipe's last write end: the forwarder sees EOF
        forward.join(timeout=5)
        terminal.close()
        os.close(real)


def _forward(read_end: int, real: int) -> None:
    with os.fdopen(read_end, "rb") as lines:
        for line in lines:
            if not NOISE.match(line):
                os.write(real, line)
