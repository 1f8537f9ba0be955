"""Markdown tables, for the command line, benchmark sections and bench reports.

One writer: :func:`markdown_table`, which formats the cells and lets pandas (through
``tabulate``) lay out a GitHub-flavoured pipe table with padded, aligned columns, readable
both rendered and as plain text.

Example
-------
>>> import pandas as pd
>>> print(markdown_table(pd.DataFrame({"model": ["a|b", "c"], "f1": [0.5, float("nan")]})))
| model   |    f1 |
|:--------|------:|
| a\\|b    | 0.500 |
| c       |       |
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["markdown_table"]


def _cell(value, floatfmt: str) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else floatfmt.format(value)
    # a "|" would end the cell: GitHub's tables read "\|" as the character
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(
    frame: pd.DataFrame, floatfmt: str | dict[str, str] = "{:.3f}", index: bool = False
) -> str:
    """``frame`` as a Markdown table; numeric columns right-aligned, NaN cells empty.

    Parameters
    ----------
    frame : DataFrame
        The rows and columns to show.
    floatfmt : str or dict, default="{:.3f}"
        :meth:`str.format` pattern of float cells, or one per column name (``"{:.3f}"`` for
        the columns it does not name). Other cells are shown with ``str``.
    index : bool, default=False
        Show the index as the first column (headed by its name).
    """
    if index:
        frame = frame.reset_index(names=frame.index.name or "")
    formats = floatfmt if isinstance(floatfmt, dict) else {}
    default = "{:.3f}" if isinstance(floatfmt, dict) else floatfmt
    align = [
        "right"
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        else "left"
        for c in frame.columns
    ]
    cells = pd.DataFrame(
        {
            i: [_cell(v, formats.get(c, default)) for v in frame.iloc[:, i]]
            for i, c in enumerate(frame.columns)
        }
    )
    cells.columns = [_cell(c, "{}") for c in frame.columns]
    # numbers are formatted above: tabulate must not parse and reformat them
    return cells.to_markdown(index=False, disable_numparse=True, colalign=align)
