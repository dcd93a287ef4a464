"""Peak resident memory growth over a block, for the benchmark harness.

Linux lets a process reset its own high-water mark (``/proc/self/clear_refs``,
value 5) and read it back (``VmHWM``), so the peak of one model's load and runs is
measured without a sampling thread or a child process. Elsewhere the growth is
left unmeasured (None) rather than guessed: ``ru_maxrss`` only ever rises, so it
cannot see the peak of a block that stays under an earlier one.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


class PeakMemory:
    def __init__(self) -> None:
        self.growth_mb: float | None = None
        self._before_kb: int | None = None

    def __enter__(self) -> PeakMemory:
        try:
            CLEAR_REFS.write_text("5")
            self._before_kb = _status_kb("VmRSS")
        except OSError:
            self._before_kb = None
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._before_kb is not None:
            self.growth_mb = max(0, _status_kb("VmHWM") - self._before_kb) / 1024.0


def _status_kb(field: str) -> int:
    for line in STATUS.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise OSError(f"{STATUS} has no {field}")
