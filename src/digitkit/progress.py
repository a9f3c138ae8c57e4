"""A Rich progress bar for training epochs and other long jobs (both engines use it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class _Silent:
    """Stand-in with the same methods when progress output is off."""

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        pass

    def remove_task(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log(self, *args: Any, **kwargs: Any) -> None:
        pass


@contextmanager
def progress_bar(enabled: bool = True, console: Console | None = None) -> Iterator[Any]:
    """A Rich Progress showing ``{task.fields[stats]}`` (loss, accuracy, lr, images/s) and an
    ETA; a silent stand-in when disabled. Written to stderr so stdout stays parseable."""
    if not enabled:
        yield _Silent()
        return
    console = console or Console(stderr=True)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    # Off a terminal (logs, CI) the live bar is hidden; trainers also print a line per epoch.
    live = console.is_terminal
    with Progress(*columns, console=console, transient=True, disable=not live) as bar:
        yield bar
