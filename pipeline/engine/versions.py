"""The versions of the tools an artifact depends on, for manifests and cache keys."""

from __future__ import annotations

import platform
from functools import cache
from importlib import metadata

TOOLS = (
    "posepipe", "tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime",
    "coremltools", "ai-edge-litert", "numpy", "pillow",
)


@cache
def tool_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TOOLS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
