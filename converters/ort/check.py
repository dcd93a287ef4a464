"""An .ort file against ONNX Runtime's own checks.

There is no separate ORT-format verifier: ONNX Runtime verifies the flatbuffer
(FlatBuffers' verifier, then its own graph checks) when a session loads it, so
the check is that load, on the CPU with the saved runtime optimizations
replayed (what posepipe validates). Then the required-operators config beside
the file must name every operator its graph runs: a reduced ORT Mobile build
made from a config that misses one cannot load the file.
"""

from __future__ import annotations

from pathlib import Path

from posepipe.converters.checks import refused
from posepipe.converters.ort.flatbuffer import read
from posepipe.converters.ort.operators import config_path, read_config
from posepipe.converters.ort.session import session

CHECKER = "ONNX Runtime ORT-format load + required-operators config covers the graph"


def verify(path: Path) -> None:
    try:
        session(path)
        ops = read(path).ops
        config = config_path(path)
        if not config.is_file():
            raise FileNotFoundError(f"no {config.name} beside it")
        missing = sorted(f"{domain}:{op}" for domain, op in ops - read_config(config).ops)
        if missing:
            raise ValueError(f"{config.name} lacks {', '.join(missing)}, which the graph runs")
    except Exception as error:  # ORT's Fail/InvalidGraph, a ValueError from the reader, a missing config
        raise refused(CHECKER, error) from error
