"""tflite-support's own reader of TFLITE_METADATA, in an environment of its own.

tflite-support 0.4.4 (its last release) needs protobuf < 4, which TensorFlow, onnx
and coremltools in posepipe's environment cannot live with; so the tests make a
second virtual environment once, beside the repository's .venv
(``.venv-tflite-support/``, gitignored), and run MetadataDisplayer there in a
subprocess. Its pins live here only, never in pyproject.toml.

The environment is made without pip of its own (``venv --without-pip``, then
posepipe's pip installs into it with ``--python``): ensurepip alone took longer
than the rest. The wheel's extension modules link against libusb-1.0.so.0, which
this machine's Debian lacks; ``libusb-package`` ships that library as a wheel, and
the script loads it globally before importing tflite_support, so the dynamic
linker finds it by its soname. The folder is made under a file lock (xdist workers
wait for the first) and marked complete by a stamp naming the pins, so a changed
pin or a half-made folder is made again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

from filelock import FileLock

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / ".venv-tflite-support"
PINS = ("tflite-support==0.4.4", "libusb-package==1.0.30.0")
STAMP = FOLDER / ".installed"

# Runs inside the environment: the metadata as MetadataDisplayer prints it, the
# packed files with their contents, and the minimum parser version tflite-support
# itself computes for the metadata buffer (what its MetadataPopulator writes).
SCRIPT = """
import ctypes, json, sys
import libusb_package
ctypes.CDLL(str(libusb_package.get_library_path()), mode=ctypes.RTLD_GLOBAL)
from tflite_support import metadata
from tensorflow_lite_support.metadata.cc.python import _pywrap_metadata_version as version
displayer = metadata.MetadataDisplayer.with_model_file(sys.argv[1])
files = displayer.get_packed_associated_file_list()
print(json.dumps({
    "metadata": json.loads(displayer.get_metadata_json()),
    "files": {name: displayer.get_associated_file_buffer(name).decode() for name in files},
    "min_parser_version": version.GetMinimumMetadataParserVersion(bytes(displayer.get_metadata_buffer())),
}))
"""


def python() -> Path:
    """The environment's interpreter, made first if needed."""
    interpreter = FOLDER / "bin" / "python"
    with FileLock(str(FOLDER) + ".lock"):
        if not (STAMP.exists() and STAMP.read_text() == "\n".join(PINS)):
            shutil.rmtree(FOLDER, ignore_errors=True)
            venv.EnvBuilder(with_pip=False).create(FOLDER)
            pip = subprocess.run([sys.executable, "-m", "pip", "--python", str(interpreter), "install", "--quiet",
                                  *PINS], capture_output=True, text=True)
            if pip.returncode:
                raise RuntimeError(f"installing {' '.join(PINS)} into {FOLDER} failed: {pip.stderr[-2000:]}")
            STAMP.write_text("\n".join(PINS))
    return interpreter


def display(model: Path) -> dict[str, Any]:
    """What tflite-support's MetadataDisplayer reads from ``model``; its error
    (``The model does not have metadata.``) as a CalledProcessError."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run([str(python()), "-c", SCRIPT, str(model)], capture_output=True, text=True, env=env)
    if result.returncode:
        raise subprocess.CalledProcessError(result.returncode, "MetadataDisplayer", result.stdout, result.stderr)
    return json.loads(result.stdout)
