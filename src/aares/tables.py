"""Reading and writing anyone's song tables: CSV, Parquet or JSON lines, any column case.

The course loaders (:mod:`aares.data`) read the course's files under the course's names;
this module reads a user's own file with the same cell checks:

- :func:`read_raw` reads CSV, Parquet or JSON lines (by extension) as text cells, so every
  format goes through one parser and one set of error messages;
- :func:`match_columns` finds the wanted columns whatever their case (``Energy``,
  ``ENERGY``), and says which are missing;
- :func:`parse_columns` checks and converts the found columns with the course schema's
  cell parser (file, column, row and what was expected in every error);
- :func:`check_frame` refuses what an estimator cannot read (a plain array, a frame
  without a column it needs), naming the estimator and the columns;
- :func:`write_table` writes a frame as CSV, Parquet or JSON lines by extension, atomically,
  or CSV on stdout for ``-``.

Example
-------
>>> import pandas as pd
>>> raw = pd.DataFrame({"Energy": ["0.5"], "TRACK_NAME": ["x"]})
>>> match_columns(raw, ["energy", "tempo"])
({'energy': 'Energy'}, ['tempo'])
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from aares.data import Column, DataError, _parse_column
from aares.io import atomic_path

__all__ = [
    "READ_FORMATS",
    "WRITE_FORMATS",
    "ID_COLUMNS",
    "read_raw",
    "as_text",
    "check_frame",
    "match_columns",
    "parse_columns",
    "id_columns",
    "write_table",
]

#: Extensions :func:`read_raw` understands.
READ_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl",
                ".ndjson": "jsonl"}  # fmt: skip
#: Extensions :func:`write_table` understands ("-" is CSV on stdout).
WRITE_FORMATS = READ_FORMATS
#: Columns that name a song, passed through to predictions (lower case; first found first).
ID_COLUMNS = ["id", "track_id", "uri", "track_uri", "name", "track_name", "title", "artists",
              "artist", "artist_name", "artist_names"]  # fmt: skip


def _format(path: Path, known: dict[str, str], what: str) -> str:
    fmt = known.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"{path}: cannot {what} a {path.suffix or 'extensionless'!r} file; "
            f"use one of {', '.join(sorted(known))}"
        )
    return fmt


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as a string (missing values as ``""``), as the CSV reader gives them.

    Examples
    --------
    >>> as_text(pd.DataFrame({"a": [1.5, None], "b": [True, False]})).values.tolist()
    [['1.5', 'True'], ['', 'False']]
    """
    out = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.infer_dtype(s, skipna=False) == "string":
            out[col] = s.astype(object)  # text already (a CSV read as text): nothing to do
            continue
        missing = s.isna().to_numpy()
        # lists (e.g. a Parquet ``artists`` column) become the Python-list text of the CSVs
        text = [
            "" if miss else (repr(list(v)) if isinstance(v, (list, tuple, np.ndarray)) else str(v))
            for v, miss in zip(s.tolist(), missing, strict=True)
        ]
        out[col] = pd.Series(text, index=frame.index, dtype=object)
    return pd.DataFrame(out, index=frame.index, columns=frame.columns)


def read_raw(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV, Parquet or JSON-lines file (by extension) with every cell as text.

    Raises
    ------
    DataError
        when the file is missing, empty, unreadable or of an unknown kind.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    fmt = _format(path, READ_FORMATS, "read")
    try:
        if fmt == "csv":
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
        elif fmt == "parquet":
            raw = as_text(pd.read_parquet(path))
        else:
            raw = as_text(pd.read_json(path, lines=True, dtype=False))
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; expected a header and rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable {fmt} file ({exc})") from None
    if raw.empty:
        raise DataError(f"{path}: the file has a header but no rows")
    raw.columns = [str(c) for c in raw.columns]
    return raw


def check_frame(X, columns: Sequence[str], who: str, what: str = "") -> pd.DataFrame:
    """``X`` itself when it is a DataFrame holding ``columns``, else a one-line ValueError.

    For estimators that read columns by name: ``who`` names the estimator in the message,
    ``what`` says where such a frame comes from.

    Examples
    --------
    >>> check_frame(pd.DataFrame({"energy": [0.5]}), ["energy", "tempo"], "MyModel")
    Traceback (most recent call last):
    ...
    ValueError: MyModel: missing column(s) ['tempo']; the frame has ['energy']
    """
    if not isinstance(X, pd.DataFrame):
        raise ValueError(
            f"{who} expects a pandas DataFrame with the columns {list(columns)}{what}; "
            f"got {type(X).__name__}"
        )
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise ValueError(f"{who}: missing column(s) {missing}; the frame has {list(X.columns)}")
    return X


def match_columns(
    raw: pd.DataFrame, wanted: Sequence[str], file: str = "<data>"
) -> tuple[dict[str, str], list[str]]:
    """Map each wanted (lower-case) name to the file's column of that name, any case.

    Returns ``(found, missing)``: ``found[name]`` is the file's own spelling. Two columns
    that differ only in case are an error (which one is meant is unknown).
    """
    by_lower: dict[str, list[str]] = {}
    for col in raw.columns:
        by_lower.setdefault(str(col).strip().lower(), []).append(str(col))
    found, missing = {}, []
    for name in wanted:
        cols = by_lower.get(name.lower(), [])
        if len(cols) > 1:
            raise DataError(
                f"{file}: columns {', '.join(map(repr, cols))} differ only in case; "
                f"keep one {name!r} column"
            )
        if cols:
            found[name] = cols[0]
        else:
            missing.append(name)
    return found, missing


def parse_columns(
    raw: pd.DataFrame, schema: Sequence[Column], found: dict[str, str], file: str
) -> pd.DataFrame:
    """The schema columns that ``found`` locates in ``raw``, parsed and named as the schema.

    Errors name the file, the column (as the file spells it) and the row.
    """
    out = {}
    for col in schema:
        if col.name in found:
            source = found[col.name]
            parsed = _parse_column(raw[source], Column(source, col.kind, col.nullable), file)
            out[col.name] = parsed.rename(col.name)
    return pd.DataFrame(out, index=raw.index)


def id_columns(raw: pd.DataFrame) -> list[str]:
    """The columns of ``raw`` that name songs (see :data:`ID_COLUMNS`), in file order.

    Examples
    --------
    >>> id_columns(pd.DataFrame(columns=["energy", "Track_Name", "ID"]))
    ['Track_Name', 'ID']
    """
    wanted = set(ID_COLUMNS)
    return [c for c in raw.columns if str(c).strip().lower() in wanted]


def write_table(frame: pd.DataFrame, out: str | os.PathLike) -> Path | None:
    """Write ``frame`` to ``out`` as CSV, Parquet or JSON lines (by extension), atomically.

    ``out="-"`` writes CSV to stdout (for pipelines) and returns ``None``.
    """
    if str(out) == "-":
        frame.to_csv(sys.stdout, index=False)
        sys.stdout.flush()
        return None
    out = Path(out)
    fmt = _format(out, WRITE_FORMATS, "write")
    with atomic_path(out) as tmp:
        if fmt == "csv":
            frame.to_csv(tmp, index=False)
        elif fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
    return out
