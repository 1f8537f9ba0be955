"""Turning report blocks into plain strings, shared by the HTML and the PDF renderers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from aares.report.section import Table

__all__ = ["MAX_TABLE_ROWS", "TableCells", "table_cells", "human_bytes", "paragraphs"]

#: Longer tables are cut (the renderers say so): a report is read, not searched.
MAX_TABLE_ROWS = 40


@dataclass
class TableCells:
    """A table as strings: header, rows, which columns are numeric, and a note if cut."""

    header: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    note: str | None = None


def _cell(value, floatfmt: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        if float(value).is_integer() and abs(value) >= 1000:
            return f"{value:,.0f}"
        try:
            return floatfmt.format(value)
        except (ValueError, TypeError):
            return str(value)
    return str(value)


def table_cells(table: Table, max_rows: int = MAX_TABLE_ROWS) -> TableCells:
    """Format a :class:`Table` (index shown when it is named), cut to ``max_rows``."""
    frame: pd.DataFrame = table.frame
    show_index = frame.index.name is not None
    header = ([str(frame.index.name)] if show_index else []) + [str(c) for c in frame.columns]
    numeric = ([False] if show_index else []) + [
        pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        for c in frame.columns
    ]
    rows = []
    for idx, row in zip(frame.index[:max_rows], frame.itertuples(index=False), strict=False):
        cells = [_cell(v, table.floatfmt) for v in row]
        rows.append(([str(idx)] if show_index else []) + cells)
    note = None
    if len(frame) > max_rows:
        note = f"first {max_rows} of {len(frame):,} rows"
    return TableCells(header, rows, numeric, note)


def human_bytes(n: int) -> str:
    """``1791626`` -> ``'1.7 MB'``."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def paragraphs(text: str) -> list[str]:
    """Split on blank lines; single line breaks inside a paragraph become spaces."""
    parts = [" ".join(p.split()) for p in text.replace("\r\n", "\n").split("\n\n")]
    return [p for p in parts if p]
