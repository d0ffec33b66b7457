"""How every command writes to the terminal: rich tables and progress bars on a terminal, the same tables as plain
text (no colour codes, a fixed width) when the output is a pipe or a file, and JSON documents for `--json`.

Consoles are made at the moment of writing, on the stream `sys.stdout` / `sys.stderr` is then: the tests (and a
caller redirecting output) swap those streams, and a console made once would keep writing to the old one.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

# Wide enough for a store id, a platform identity and an error message side by side; fixed so that what a pipe
# receives does not depend on the terminal the command happened to be started from.
PIPE_WIDTH = 160
# What a table could take at most, to measure its natural width (its widest row) against.
UNBOUNDED = 100_000


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def console(stream: TextIO | None = None) -> Console:
    """A console on `stream` (default: the current stdout): colour and the terminal's width on a terminal, plain
    text PIPE_WIDTH wide otherwise. Markup and highlighting are off: store names and error messages are data, and a
    `[` in one must be printed as it is."""
    stream = stream or sys.stdout
    terminal = is_terminal(stream)
    return Console(
        file=stream,
        force_terminal=terminal,
        no_color=not terminal,
        width=None if terminal else PIPE_WIDTH,
        markup=False,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )


def table(*headers: str, numbers: Sequence[str] = ()) -> Table:
    """A table with these column headers, drawn without borders, two spaces between columns: a pipe gets aligned
    columns of words (scripts split its lines on whitespace), a terminal the same with its headers in bold."""
    listing = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False, header_style="bold")
    for header in headers:
        listing.add_column(header, overflow="fold", justify="right" if header in numbers else "left")
    return listing


def rendered(renderable: Any, stream: TextIO | None = None) -> str:
    """What printing `renderable` on `stream` writes, without the padding rich leaves at the end of lines. Off a
    terminal a table is never wrapped, however wide: a script reads one row a line."""
    target = console(stream)
    if not target.is_terminal:
        needed = Measurement.get(target, target.options.update_width(UNBOUNDED), renderable).maximum
        target.width = max(PIPE_WIDTH, needed)
    with target.capture() as captured:
        target.print(renderable)
    return "\n".join(line.rstrip() for line in captured.get().splitlines())


def print_table(listing: Table | str, stream: TextIO | None = None) -> None:
    """A table, or the sentence that stands in for an empty one (printed as it is, never wrapped)."""
    stream = stream or sys.stdout
    print(listing if isinstance(listing, str) else rendered(listing, stream), file=stream)


def print_json(document: Any, stream: TextIO | None = None) -> None:
    """One JSON document, the whole of what a `--json` command writes to stdout."""
    print(json.dumps(document, indent=2, default=str), file=stream or sys.stdout)


class ProgressBars:
    """Progress of a running command on stderr: live bars on a terminal, started at the first update and stopped by
    `close` (or the end of a `with` block); when stderr is not a terminal (a log file, a test), one plain line
    whenever something moves, as a bar that nobody sees redrawn would say nothing."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = is_terminal(self.stream)
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _bars(self) -> Progress:
        if self._progress is None:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[detail]}"),
                console=console(self.stream),
            )
            self._progress.start()
        return self._progress

    def update(self, key: str, line: str, description: str, done: int, total: int | None, detail: str = "") -> None:
        """Moves the bar `key` (made on first use) to `done` of `total`; `line` is what a non-terminal gets."""
        if not self.live:
            print(line, file=self.stream, flush=True)
            return
        bars = self._bars()
        if key not in self._tasks:
            self._tasks[key] = bars.add_task(description, total=total, detail=detail)
        bars.update(self._tasks[key], completed=done, total=total, description=description, detail=detail)

    def note(self, line: str) -> None:
        """A message between the bars (a retried slice, a wait): printed above them on a terminal."""
        if self._progress is None:
            print(line, file=self.stream, flush=True)
        else:
            self._progress.console.print(line)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._tasks.clear()


def columns(rows: Sequence[Sequence[str]], *headers: str, numbers: Sequence[str] = ()) -> Table:
    """A table of `rows` under `headers`; the columns named in `numbers` are right-aligned."""
    listing = table(*headers, numbers=numbers)
    for row in rows:
        listing.add_row(*row)
    return listing
