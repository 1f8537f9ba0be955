"""Reading the course's Spotify CSV files, with a schema.

Every loader checks the columns and the types it needs and raises :class:`DataError`
with a message that names the file, the column, the row (as the line number in the
file, header = line 1) and what was expected. Values are normalised on the way in:

- ``explicit`` is ``True``/``False`` in some course files and ``0``/``1`` in others;
  both become a boolean column.
- ``release_date`` mixes ``YYYY``, ``YYYY-MM`` and ``YYYY-MM-DD``; it stays a string
  and :func:`parse_release_date` splits it into year, month, day and precision.
- list columns (``genres``, ``artists``) are Python-list strings; they are parsed
  without ``eval`` into lists of strings.

Example
-------
>>> from aares.data import load_train                       # doctest: +SKIP
>>> train = load_train("data/spotify_dataset_train.csv")    # doctest: +SKIP
>>> train["genre"].nunique()                                # doctest: +SKIP
22
"""

from __future__ import annotations

import ast
import csv
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aares.errors import DataError

__all__ = [
    "AUDIO_FEATURES",
    "TRAIN_FILE",
    "TEST_FILE",
    "SUBSET_FILE",
    "CATALOGUE_FILE",
    "DataError",
    "DataWarning",
    "VALUE_RANGES",
    "Column",
    "data_dir",
    "data_file",
    "read_table",
    "load_train",
    "load_test",
    "load_subset",
    "load_catalogue",
    "parse_release_date",
    "parse_str_list",
]

TRAIN_FILE = "spotify_dataset_train.csv"
TEST_FILE = "spotify_dataset_test.csv"
SUBSET_FILE = "spotify_dataset_subset.csv"
CATALOGUE_FILE = "spotify_dataset_recommendation.csv"

#: Spotify's audio features shared by every course file.
AUDIO_FEATURES = [
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "duration_ms",
]

#: The continuous audio features (no ``key``/``mode``, which are categorical, nor duration).
CONTINUOUS_FEATURES = [f for f in AUDIO_FEATURES if f not in ("key", "mode", "duration_ms")]


class DataWarning(UserWarning):
    """A value is possible but far outside what the feature usually holds."""


#: Documented ranges of Spotify's features (Web API "audio features"): name -> (low, high,
#: what happens outside). "refuse" where a value outside cannot be a measurement (the
#: 0-1 confidences, key -1..11, mode 0/1, popularity 0-100, a duration or tempo below 0):
#: it is a shifted column or another scale (danceability 57 is a percentage), and a model
#: would silently extrapolate. "warn" where rare values are real (loudness is "typically"
#: -60..0 dB and the course files reach +3.7; tempo above 300 BPM; songs over 3 hours).
VALUE_RANGES: dict[str, tuple[float, float, str]] = {
    **{
        f: (0.0, 1.0, "refuse")
        for f in (
            "danceability",
            "energy",
            "speechiness",
            "acousticness",
            "instrumentalness",
            "liveness",
            "valence",
        )
    },  # fmt: skip
    "key": (-1, 11, "refuse"),
    "mode": (0, 1, "refuse"),
    "popularity": (0, 100, "refuse"),
    "time_signature": (0, 7, "refuse"),
    "duration_ms": (1, np.inf, "refuse"),
    "tempo": (0.0, np.inf, "refuse"),
}
#: Softer bounds, checked after VALUE_RANGES: outside them a value is kept with a warning.
USUAL_RANGES: dict[str, tuple[float, float]] = {
    "loudness": (-60.0, 5.0),
    "tempo": (0.0, 300.0),
    "duration_ms": (1, 3 * 3600 * 1000),
}
#: Longest cell quoted in an error message (a whole 400 kB cell made unreadable errors).
MAX_QUOTED = 80


@dataclass(frozen=True)
class Column:
    """One expected column: its name, its kind and whether empty cells are allowed.

    ``kind`` is one of ``"float"``, ``"int"``, ``"bool"``, ``"date"``, ``"str"``,
    ``"list"`` (a Python-list string of strings).
    """

    name: str
    kind: str
    nullable: bool = False


def _features(extra: Sequence[Column] = ()) -> list[Column]:
    ints = {"key", "mode", "duration_ms"}
    cols = [Column("release_date", "date"), Column("explicit", "bool"), Column("popularity", "int")]
    cols += [Column(f, "int" if f in ints else "float") for f in AUDIO_FEATURES]
    cols += [Column("time_signature", "int")]
    return cols + list(extra)


TRAIN_SCHEMA = _features([Column("genre", "str")])
TEST_SCHEMA = _features()
SUBSET_SCHEMA = _features(
    [
        Column("artist_name", "str", nullable=True),
        Column("track_name", "str", nullable=True),
        Column("genres", "list"),
        Column("id", "str"),
    ]
)
CATALOGUE_SCHEMA = [
    Column("id", "str"),
    Column("name", "str", nullable=True),
    Column("artists", "list"),
    Column("release_date", "date"),
    Column("year", "int"),
    Column("explicit", "bool"),
    Column("popularity", "int"),
] + [Column(f, "int" if f in {"key", "mode", "duration_ms"} else "float") for f in AUDIO_FEATURES]


# ----------------------------------------------------------------------------- locating files


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The data folder: ``path`` if given, else ``$AARES_DATA``, else ``./data``."""
    if path is None:
        path = os.environ.get("AARES_DATA") or "data"
    return Path(path).expanduser()


def data_file(name: str, folder: str | os.PathLike | None = None) -> Path:
    """Path of a course file inside the data folder, with a clear error when absent."""
    path = data_dir(folder) / name
    if not path.is_file():
        raise DataError(
            f"{path}: file not found. Put the course file {name!r} in the data folder "
            "(set it with --data DIR or the AARES_DATA environment variable)."
        )
    return path


# ----------------------------------------------------------------------------- parsing cells

_DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_TRUE = {"true", "1", "1.0", "t", "yes"}
_FALSE = {"false", "0", "0.0", "f", "no"}


def _quote(value) -> str:
    """``repr`` of a cell, cut to :data:`MAX_QUOTED` characters."""
    text = repr(value)
    if len(text) <= MAX_QUOTED:
        return text
    return f"{text[: MAX_QUOTED - 3]}... ({len(str(value)):,} characters)"


def _line_of(file: str, row: int) -> int | None:
    """The line of ``file`` where data row ``row`` (0-based) starts, header = line 1.

    A quoted cell may span lines, so this re-reads the file with the csv module; only
    called for an error message. ``None`` when the file cannot be read as CSV.
    """
    try:
        with open(file, newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.reader(fh)
            end, record = 0, -1
            for cells in reader:
                if cells:  # pandas skips blank lines too
                    record += 1
                    if record == row + 1:
                        return end + 1
                end = reader.line_num
    except (OSError, csv.Error):
        return None
    return None


def _where(file: str, column: str, index: pd.Index | int) -> str:
    row = int(index) if isinstance(index, (int, np.integer)) else int(index[0])
    line = _line_of(file, row) if os.path.isfile(file) else None
    # without the file (a frame in memory) the header is line 1 and row i is line i + 2
    return f"{file}: column {column!r}, row {row + 1} (line {line or row + 2})"


def _bad(file: str, column: str, raw: pd.Series, mask: np.ndarray, expected: str) -> DataError:
    idx = np.flatnonzero(mask)
    first = idx[0]
    more = f" ({len(idx) - 1} more such rows)" if len(idx) > 1 else ""
    return DataError(
        f"{_where(file, column, int(first))}: expected {expected}, "
        f"got {_quote(raw.iloc[first])}{more}"
    )


def _check_range(values: pd.Series, raw: pd.Series, col: Column, file: str) -> None:
    name = col.name.strip().lower()
    v = values.to_numpy(dtype="float64", na_value=np.nan)
    if name in VALUE_RANGES:
        lo, hi, _ = VALUE_RANGES[name]
        outside = (v < lo) | (v > hi)
        if outside.any():
            span = f"from {lo:g} to {hi:g}" if np.isfinite(hi) else f"of at least {lo:g}"
            raise _bad(file, col.name, raw, outside, f"a {name} value {span}")
    if name in USUAL_RANGES:
        lo, hi = USUAL_RANGES[name]
        unusual = (v < lo) | (v > hi)
        if unusual.any():
            idx = np.flatnonzero(unusual)
            more = f" and {len(idx) - 1} more rows" if len(idx) > 1 else ""
            warnings.warn(
                f"{_where(file, col.name, int(idx[0]))}: {_quote(raw.iloc[idx[0]])} is outside "
                f"the usual {lo:g} to {hi:g}{more}; kept",
                DataWarning,
                stacklevel=4,
            )


def _parse_column(raw: pd.Series, col: Column, file: str) -> pd.Series:
    text = raw.str.strip()
    empty = (text == "").to_numpy()
    if empty.any() and not col.nullable:
        raise _bad(file, col.name, raw, empty, f"a value ({col.kind}), the cell is empty")
    if col.kind in ("float", "int"):
        values = pd.to_numeric(text.where(~empty), errors="coerce")
        bad = values.isna().to_numpy() & ~empty
        if bad.any():
            raise _bad(file, col.name, raw, bad, "a number")
        infinite = np.isinf(values.to_numpy(dtype="float64", na_value=np.nan))
        if infinite.any():
            raise _bad(file, col.name, raw, infinite, "a finite number")
        _check_range(values, raw, col, file)
        if col.kind == "int":
            frac = (values.to_numpy() % 1 != 0) & ~empty
            if frac.any():
                raise _bad(file, col.name, raw, frac, "a whole number")
            return values.astype("float64" if empty.any() else "int64")
        return values.astype("float64")
    if col.kind == "bool":
        low = text.str.lower()
        bad = ~(low.isin(_TRUE) | low.isin(_FALSE)).to_numpy() & ~empty
        if bad.any():
            raise _bad(file, col.name, raw, bad, "True/False or 0/1")
        return low.isin(_TRUE)
    if col.kind == "date":
        bad = ~text.str.match(_DATE_RE).to_numpy() & ~empty
        if bad.any():
            raise _bad(file, col.name, raw, bad, "a date as YYYY, YYYY-MM or YYYY-MM-DD")
        return text
    if col.kind == "list":
        return parse_str_list(raw, file=file, column=col.name)
    return raw


def parse_str_list(values: pd.Series, *, file: str = "<data>", column: str = "?") -> pd.Series:
    """Parse Python-list strings such as ``"['pop', \\"children's music\\"]"`` safely.

    Uses :func:`ast.literal_eval` (literals only, never ``eval``) and checks that the
    result is a list of strings. An empty cell gives an empty list.

    Raises
    ------
    DataError
        naming the file, column and row of the first cell that is not a list of strings.

    Examples
    --------
    >>> import pandas as pd
    >>> parse_str_list(pd.Series(["['a', \\"b'c\\"]", "[]", ""])).tolist()
    [['a', "b'c"], [], []]
    """
    out = []
    for i, cell in enumerate(values.tolist()):
        if cell is None or (isinstance(cell, float) and np.isnan(cell)) or str(cell).strip() == "":
            out.append([])
            continue
        try:
            parsed = ast.literal_eval(str(cell).strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            parsed = None
        if not isinstance(parsed, (list, tuple)) or not all(isinstance(s, str) for s in parsed):
            raise DataError(
                f"{_where(file, column, i)}: expected a list of strings such as "
                f"\"['pop', 'rock']\", got {_quote(cell)}"
            )
        out.append([s.strip() for s in parsed])
    return pd.Series(out, index=values.index, name=values.name, dtype=object)


def parse_release_date(dates: pd.Series) -> pd.DataFrame:
    """Split ``release_date`` strings into numeric parts.

    Returns a frame with ``year``, ``month`` and ``day`` (NaN when the date does not
    give them), ``precision`` (1 = year only, 2 = year-month, 3 = full date) and
    ``weekday`` (0 = Monday, NaN unless the date is full).

    Examples
    --------
    >>> import pandas as pd
    >>> parse_release_date(pd.Series(["2015-06-23", "2003", "1999-04"]))["precision"].tolist()
    [3, 1, 2]
    """
    parts = dates.astype(str).str.split("-", expand=True).reindex(columns=range(3))
    year = pd.to_numeric(parts[0], errors="coerce")
    month = pd.to_numeric(parts[1], errors="coerce")
    day = pd.to_numeric(parts[2], errors="coerce")
    precision = 1 + month.notna().astype(int) + day.notna().astype(int)
    full = pd.to_datetime(dates.where(precision == 3), format="%Y-%m-%d", errors="coerce")
    return pd.DataFrame(
        {
            "year": year.astype(float),
            "month": month.astype(float),
            "day": day.astype(float),
            "precision": precision,
            "weekday": full.dt.day_of_week.astype(float),
        },
        index=dates.index,
    )


# ----------------------------------------------------------------------------- reading files


def read_table(path: str | os.PathLike, schema: Sequence[Column]) -> pd.DataFrame:
    """Read a CSV file and check it against ``schema``.

    Columns not in the schema are kept as strings, in file order.

    Raises
    ------
    DataError
        when the file is missing or empty, a column is missing, or a cell does not
        hold the expected type.
    """
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise DataError(f"{name}: file not found")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{name}: the file is empty; expected a CSV header and rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{name}: not a readable CSV file ({exc})") from None
    if raw.empty:
        raise DataError(f"{name}: the file has a header but no rows")
    missing = [c.name for c in schema if c.name not in raw.columns]
    if missing:
        raise DataError(
            f"{name}: missing column(s) {', '.join(map(repr, missing))}; "
            f"the file has {', '.join(map(repr, raw.columns))}"
        )
    frame = raw.copy()
    for col in schema:
        frame[col.name] = _parse_column(raw[col.name], col, name)
    return frame


def load_train(path: str | os.PathLike) -> pd.DataFrame:
    """Load the Exercise 1 training file (features and ``genre``)."""
    return read_table(path, TRAIN_SCHEMA)


def load_test(path: str | os.PathLike, train: pd.DataFrame | None = None) -> pd.DataFrame:
    """Load the Exercise 1 challenge file (features, no ``genre``).

    When ``train`` is given, the test file must have exactly the training columns
    minus ``genre``.
    """
    if train is not None:
        want = [c for c in train.columns if c != "genre"]
        try:
            have = list(pd.read_csv(path, nrows=0).columns)
        except (pd.errors.EmptyDataError, FileNotFoundError):
            have = None  # read_table below gives the precise error
        if have is not None and have != want:
            extra = [c for c in have if c not in want]
            lost = [c for c in want if c not in have]
            detail = []
            if extra:
                detail.append(f"extra {extra}")
            if lost:
                detail.append(f"missing {lost}")
            if not detail:
                detail.append("same columns in another order")
            raise DataError(
                f"{path}: columns differ from the training file ({'; '.join(detail)}); "
                f"expected {want}"
            )
    test = read_table(path, TEST_SCHEMA)
    return test


def load_subset(path: str | os.PathLike) -> pd.DataFrame:
    """Load the Exercise 2 subset (with the ``genres`` micro-genre lists parsed)."""
    return read_table(path, SUBSET_SCHEMA)


def load_catalogue(path: str | os.PathLike) -> pd.DataFrame:
    """Load the Exercise 3 catalogue (with the ``artists`` lists parsed)."""
    return read_table(path, CATALOGUE_SCHEMA)
