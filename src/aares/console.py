"""One Rich console for the whole command line, with progress bars and tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:  # pandas and the progress bars are loaded when first used
    import pandas as pd
    from rich.progress import Progress

__all__ = ["console", "progress", "print_frame"]

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
