"""An Android phone over adb: the .tflite file timed on the phone by LiteRT's own
``benchmark_model``, which the user provides (posepipe downloads nothing).

``--device adb`` (or ``adb:SERIAL``) adds the target ``adb-cpu-<threads>t``. When
adb is not installed, no phone is attached, or the phone is not authorised, the
target is skipped with that reason in the manifest; it never fails a run by its
absence. benchmark_model prints mean and standard deviation (no median), so the
phone's figure is its mean, and the manifest says so (``statistic``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from posepipe.models.errors import ConfigError
from posepipe.validators.perf.latency import BenchSettings
from posepipe.validators.perf.targets import TargetKind

REMOTE_DIR = PurePosixPath("/data/local/tmp/posepipe")
_TIMINGS = re.compile(r"Init: ([\d.]+), First inference: ([\d.]+), Warmup \(avg\): [\d.e+-]+, "
                      r"Inference \(avg\): ([\d.]+)")
_STATS = re.compile(r"count=(\d+) first=\d+ curr=\d+ min=\d+ max=\d+ avg=([\d.]+) std=(\d+)")
_MEMORY = re.compile(r"Memory footprint delta from the start of the tool \(MB\): init=([\d.]+) overall=([\d.]+)")


class AdbUnavailable(Exception):
    """No phone to measure on; the message is the reason the target is skipped."""


@dataclass(frozen=True)
class PhoneTiming:
    mean_ms: float
    std_ms: float
    load_ms: float
    first_ms: float
    runs: int
    peak_memory_mb: float | None


@dataclass(frozen=True)
class AdbTarget:
    serial: str | None  # None: the one phone adb sees
    benchmark_model: str  # a host file to push, or a path already on the phone
    threads: int = 4
    kind: TargetKind = TargetKind.MEASURED

    @property
    def name(self) -> str:
        return f"adb-cpu-{self.threads}t"

    def check(self) -> None:
        """Raise AdbUnavailable with the reason when there is no phone to run on."""
        if shutil.which("adb") is None:
            raise AdbUnavailable("adb is not on PATH")
        state = self._adb("get-state", check=False)
        if state.returncode != 0 or state.stdout.strip() != "device":
            detail = (state.stderr or state.stdout).strip().splitlines()
            raise AdbUnavailable(f"no phone ready over adb ({detail[-1] if detail else 'no device'})")

    def measure(self, path: Path, settings: BenchSettings) -> PhoneTiming:
        self._adb("shell", "mkdir", "-p", str(REMOTE_DIR))
        binary = self.benchmark_model
        if Path(binary).is_file():
            self._adb("push", binary, str(REMOTE_DIR / "benchmark_model"))
            binary = str(REMOTE_DIR / "benchmark_model")
            self._adb("shell", "chmod", "755", binary)
        remote = str(REMOTE_DIR / path.name)
        self._adb("push", str(path), remote)
        result = self._adb("shell", binary, f"--graph={remote}", f"--num_threads={self.threads}",
                           "--use_xnnpack=true", f"--warmup_runs={settings.warmup}", f"--num_runs={settings.runs}",
                           f"--max_secs={settings.max_secs:g}")
        return parse(result.stdout)

    def _adb(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ["adb", *(["-s", self.serial] if self.serial else []), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if check and result.returncode != 0:
            raise AdbUnavailable(f"{' '.join(command[:4])}... failed: {(result.stderr or result.stdout).strip()}")
        return result


def parse(output: str) -> PhoneTiming:
    """benchmark_model's summary lines -> milliseconds."""
    timings, stats = _TIMINGS.search(output), list(_STATS.finditer(output))
    if timings is None or not stats:
        tail = output.strip().splitlines()[-1:] or ["no output"]
        raise AdbUnavailable(f"benchmark_model printed no timing summary ({tail[0]})")
    runs, mean_us, std_us = stats[-1].groups()  # the last block is the timed runs, after warm-up
    memory = _MEMORY.search(output)
    return PhoneTiming(float(mean_us) / 1000.0, float(std_us) / 1000.0, float(timings.group(1)) / 1000.0,
                       float(timings.group(2)) / 1000.0, int(runs), float(memory.group(2)) if memory else None)


def device_from_option(text: str, benchmark_model: str | None, threads: int = 4) -> AdbTarget:
    """``adb`` or ``adb:SERIAL`` (the --device option)."""
    kind, _, serial = text.partition(":")
    if kind != "adb":
        raise ConfigError(f"--device {text!r}: expected adb or adb:SERIAL")
    if not benchmark_model:
        raise ConfigError("--device adb needs --benchmark-model PATH (LiteRT's benchmark_model for the phone)")
    return AdbTarget(serial or None, benchmark_model, threads)
