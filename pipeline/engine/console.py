"""What the pipeline says while it works: stage lines, progress bars on a
terminal (rich), plain lines in CI logs (CI=true or no terminal)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console as RichConsole
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

Advance = Callable[[int], None]


class Console:
    def __init__(self, live: bool | None = None) -> None:
        if live is None:
            live = sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("true", "1")
        self.live = live
        width = None if sys.stdout.isatty() else 160  # logs are read wide; don't wrap tables at 80
        self.err = RichConsole(stderr=True, highlight=False, soft_wrap=True, width=width)
        self.out = RichConsole(highlight=False, soft_wrap=True, width=width)

    def step(self, message: str) -> None:
        self.err.print(f"[bold cyan]>[/] {message}")

    def note(self, message: str) -> None:
        self.err.print(f"  {message}")

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/] {message}")

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[Advance]:
        """A bar on a terminal; in a log, one line when the work is done."""
        start = time.perf_counter()
        if not self.live:
            yield lambda n=1: None
            self.note(f"{description}: {total} done in {time.perf_counter() - start:.1f}s")
            return
        columns = (TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
        with Progress(*columns, console=self.err, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n=1: bar.advance(task, n)
        self.note(f"{description}: {total} done in {time.perf_counter() - start:.1f}s")


class RecordingConsole(Console):
    """A worker process's console: it keeps what it would say, for the parent to
    print in one piece with the worker's result."""

    def __init__(self) -> None:
        super().__init__(live=False)
        self.messages: list[tuple[str, str]] = []

    def step(self, message: str) -> None:
        self.messages.append(("step", message))

    def note(self, message: str) -> None:
        self.messages.append(("note", message))

    def warn(self, message: str) -> None:
        self.messages.append(("warn", message))


def replay(console: Console, messages: tuple[tuple[str, str], ...]) -> None:
    for kind, message in messages:
        getattr(console, kind)(message)
