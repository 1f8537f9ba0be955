"""One Rich console for the whole command line, with progress bars and tables."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:  # pandas and the progress bars are loaded when first used
    import pandas as pd
    from rich.progress import Progress

__all__ = ["console", "progress", "progress_steps", "print_frame"]

#: Messages and tables go to stderr so that stdout stays clean for data (``--json``).
console = Console(stderr=True, soft_wrap=True)  # an error stays one line when piped


def progress(*extra_columns: Any, transient: bool = False) -> Progress:
    """A progress bar with count, elapsed and remaining time (plus any extra columns)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra_columns,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )


@contextlib.contextmanager
def progress_steps(
    bar: Progress | None = None, **fields: Any
) -> Iterator[Callable[[str, int, int | None], None]]:
    """A callback ``step(what, done, total)`` that draws a progress bar for each step
    (``total`` None: a step of unknown length), started at its first call: work that is
    usually instant (opening an index in step with its catalog) shows nothing, and the
    rare long run (rebuilding it, a merge) shows its bar. A transient bar of its own, or
    tasks in ``bar`` (with ``fields`` for its columns).
    """
    own: list[Progress] = []
    task: dict[str, Any] = {}  # the current step's name and task

    def step(what: str, done: int, total: int | None) -> None:
        if bar is None and not own:
            own.append(progress(transient=True))
            own[0].start()
        shown = bar if bar is not None else own[0]
        if task.get("what") != what:  # a new step: its own task (its time, its total)
            if "id" in task:
                shown.remove_task(task["id"])
            task.update(what=what, id=shown.add_task(what, total=total, **fields))
        shown.update(task["id"], completed=done, total=total)

    try:
        yield step
    finally:
        if own:
            own[0].stop()
        elif bar is not None and "id" in task:
            bar.remove_task(task["id"])  # (done: the bar keeps its own tasks only)


def print_frame(
    frame: pd.DataFrame,
    title: str | None = None,
    floatfmt: str = "{:.3f}",
    columns: Sequence[str] | None = None,
    out: Console | None = None,
) -> None:
    """Print a DataFrame as a Rich table (index included when it is named)."""
    import pandas as pd
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    show_index = frame.index.name is not None
    cols: Iterable[str] = columns or [str(c) for c in frame.columns]
    if show_index:
        table.add_column(str(frame.index.name))
    for c in cols:
        numeric = pd.api.types.is_numeric_dtype(frame[c])
        table.add_column(str(c), justify="right" if numeric else "left")
    # by column, not iterrows(): a row of mixed types would turn integer counts into floats
    values = {c: frame[c].tolist() for c in cols}
    for i, idx in enumerate(frame.index):
        cells = [str(idx)] if show_index else []
        for c in cols:
            v = values[c][i]
            cells.append(floatfmt.format(v) if isinstance(v, float) else str(v))
        table.add_row(*cells)
    (out or console).print(table)
