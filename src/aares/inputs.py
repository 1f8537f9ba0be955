"""What a trained model needs from a user's file, and how a file is made to fit.

An :class:`InputSpec` lists the columns a model reads: the *required* ones (a file without
them is refused, naming the file and the column) and the *optional* ones, each with the
value it gets when a file lacks it (learned from the training songs) and a sentence saying
what the model then loses. :func:`prepare` turns any table (a CSV/Parquet/JSON-lines file
or a DataFrame) into the frame the model was trained on:

- column names match whatever their case;
- an optional column may come under another name (``year`` for ``release_date``);
- a missing optional column, or empty cells in one, get the fill value, with an
  :class:`InputWarning` that says what the model loses;
- cells are checked with the course files' parser: a wrong type names file, column and row;
- extra columns are left alone (the caller passes them through).

The spec is stored in the model card (:meth:`InputSpec.to_card`), so a loaded model knows
its own inputs.

Example
-------
>>> import pandas as pd, warnings
>>> spec = InputSpec(required=[Column("energy", "float")],
...                  optional={"tempo": Optional(Column("tempo", "float"), 120.0, "the tempo")})
>>> with warnings.catch_warnings(record=True) as seen:
...     warnings.simplefilter("always")
...     frame, raw = prepare(pd.DataFrame({"ENERGY": [0.5]}), spec)
>>> frame.to_dict("records")
[{'energy': 0.5, 'tempo': 120.0}]
>>> print(seen[0].message)
<DataFrame>: no 'tempo' column: every song gets 120.0; the model loses the tempo
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from aares.data import Column, DataError
from aares.modelcard import DRIFT_MIN_ROWS, PSI_STRONG, drift_table
from aares.tables import as_text, match_columns, parse_columns, read_raw

__all__ = [
    "InputWarning",
    "DriftWarning",
    "Optional",
    "InputSpec",
    "audio_columns",
    "median_year",
    "prepare",
    "warn_drift",
]


class InputWarning(UserWarning):
    """A file lacks an optional column (or has empty cells in one): defaults were used."""


class DriftWarning(UserWarning):
    """A file's feature distributions differ strongly from the training songs'."""


@dataclass
class Optional:
    """An optional input column: its parse rule, the fill value, what its absence costs."""

    column: Column
    fill: object
    loses: str
    aliases: tuple[str, ...] = ()


@dataclass
class InputSpec:
    """The columns a model reads (see the module's notes)."""

    required: list[Column]
    optional: dict[str, Optional] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.required] + list(self.optional)

    def to_card(self) -> dict:
        """A JSON-able description, for the model card."""
        return {
            "required": [[c.name, c.kind] for c in self.required],
            "optional": {
                name: {
                    "kind": o.column.kind,
                    "fill": o.fill,
                    "loses": o.loses,
                    "aliases": list(o.aliases),
                }
                for name, o in self.optional.items()
            },  # fmt: skip
        }

    @classmethod
    def from_card(cls, card: dict) -> InputSpec:
        """The spec stored by :meth:`to_card`."""
        required = [Column(name, kind) for name, kind in card["required"]]
        optional = {
            name: Optional(Column(name, o["kind"]), o["fill"], o["loses"], tuple(o["aliases"]))
            for name, o in card["optional"].items()
        }
        return cls(required, optional)


def audio_columns() -> list[Column]:
    """The twelve Spotify audio features as required columns (key, mode, duration whole)."""
    from aares.data import AUDIO_FEATURES

    ints = {"key", "mode", "duration_ms"}
    return [Column(f, "int" if f in ints else "float") for f in AUDIO_FEATURES]


def median_year(frame: pd.DataFrame) -> str:
    """The median release year of ``frame`` (a fill value for a missing ``release_date``)."""
    from aares.data import parse_release_date

    years = parse_release_date(frame["release_date"].astype(str))["year"]
    return str(int(np.nanmedian(years)))


def _read(source, file: str | None = None) -> tuple[pd.DataFrame, str]:
    if isinstance(source, pd.DataFrame):
        file = file or "<DataFrame>"
        if source.empty:
            raise DataError(f"{file}: no rows")
        return as_text(source.reset_index(drop=True)), file
    if isinstance(source, (str, os.PathLike)):
        return read_raw(source), str(Path(source))
    raise TypeError(f"expected a file path or a pandas DataFrame, got {type(source).__name__}")


def prepare(source, spec: InputSpec, profile: dict | None = None, file: str | None = None):
    """``(frame, raw)``: the model's input columns parsed and filled, and the table as read.

    ``raw`` holds every column of the input as text (for passing ids and extra columns
    through). Warns (:class:`InputWarning`) for each optional column that is absent or has
    empty cells, and, given the training ``profile`` of the model card, for each feature
    whose distribution differs strongly from training (:func:`warn_drift`). ``file`` names
    a DataFrame ``source`` in messages.

    Raises
    ------
    DataError
        when a required column is missing (file and column named) or a cell has the wrong
        type (file, column and row named).
    """
    raw, file = _read(source, file)
    aliases = [a for o in spec.optional.values() for a in o.aliases]
    found, missing = match_columns(raw, spec.names + aliases, file)
    lost = [c.name for c in spec.required if c.name in missing]
    if lost:
        raise DataError(
            f"{file}: missing required column(s) {', '.join(map(repr, lost))} (any letter "
            f"case); the file has {', '.join(map(repr, raw.columns))}"
        )
    schema = list(spec.required)
    notes = []
    for name, opt in spec.optional.items():
        if name not in found:
            alias = next((a for a in opt.aliases if a in found), None)
            if alias is None:
                notes.append(f"{file}: no {name!r} column: every song gets {opt.fill!r}; "
                             f"the model loses {opt.loses}")  # fmt: skip
                continue
            found[name] = found[alias]
            notes.append(f"{file}: no {name!r} column: using {found[alias]!r} instead")
        schema.append(Column(name, opt.column.kind, nullable=True))
    frame = parse_columns(raw, schema, found, file)
    for name, opt in spec.optional.items():
        if name not in frame:
            frame[name] = _filled(opt.fill, len(frame), frame.index)
            continue
        # from the text: the bool parser reads an empty cell as False
        empty = (raw[found[name]].astype(str).str.strip() == "").to_numpy()
        if empty.any():
            if opt.column.kind != "list":  # the list parser gives [] already
                frame[name] = frame[name].where(~empty, opt.fill)
            notes.append(f"{file}: {int(empty.sum()):,} empty {found[name]!r} cell(s) get "
                         f"{opt.fill!r}; for those songs the model loses {opt.loses}")  # fmt: skip
        frame[name] = _cast(frame[name], opt.column.kind)
    for note in notes:
        warnings.warn(note, InputWarning, stacklevel=2)
    frame = frame[spec.names]
    if profile:
        present = [n for n in spec.names if n in found]
        if "release_date" in present:
            present.append("year")
        warn_drift(profile, numeric_view(frame), file, present)
    return frame, raw


def _filled(fill, n: int, index) -> pd.Series | object:
    # a list fill (no micro-genres) is one new list per row, not a scalar to broadcast
    if isinstance(fill, list):
        return pd.Series([list(fill) for _ in range(n)], index=index, dtype=object)
    return fill


def _cast(values: pd.Series, kind: str) -> pd.Series:
    if kind == "list":
        return values
    if kind == "int":
        return values.astype("int64")
    if kind == "float":
        return values.astype("float64")
    if kind == "bool":
        return values.astype(bool)
    return values.astype(str)


def warn_drift(profile: dict, frame: pd.DataFrame, file: str, present: list[str]) -> pd.DataFrame:
    """Warn (:class:`DriftWarning`) for each feature whose PSI against training is strong.

    Only the columns in ``present`` (those the input had, not filled ones) are judged, and
    only from :data:`~aares.modelcard.DRIFT_MIN_ROWS` rows on. Returns the PSI table.
    """
    if len(frame) < DRIFT_MIN_ROWS:
        return drift_table({}, frame)
    table = drift_table({k: v for k, v in profile.items() if k in present}, frame)
    strong = table[table["psi"] > PSI_STRONG]
    if len(strong):
        parts = [
            f"{r.feature} PSI {r.psi:.2f} (median {r.median:.4g}, training {r.train_median:.4g})"
            for r in strong.itertuples()
        ]
        warnings.warn(
            f"{file}: feature distributions differ strongly from the training songs "
            f"(population stability index over training deciles > {PSI_STRONG}): "
            + "; ".join(parts)
            + ". Predictions for such songs are less reliable than the cross-validated scores.",
            DriftWarning,
            stacklevel=2,
        )
    return table


def numeric_view(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame's numeric columns, plus ``year`` from ``release_date`` (for the profile)."""
    from aares.data import parse_release_date

    out = frame.select_dtypes(include=[np.number, bool]).astype(float)
    if "release_date" in frame:
        out["year"] = parse_release_date(frame["release_date"].astype(str))["year"]
    return out
