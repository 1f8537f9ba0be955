"""The song catalogue: loading (with a Parquet cache), name normalisation and seed search.

Titles in Spotify data come in many versions of one song: ``"Yesterday - Remastered 2009"``,
``"Yesterday (Live)"``, ``"Señorita (feat. X)"``, ``"Blue Skies - 78rpm Version"``.
:func:`normalise_name` folds case and accents; :func:`core_title` also drops version
suffixes and bracketed parts, so that every version of a song shares one *core title*.
A song is then identified by (core title, artist): :func:`song_keys`. The playlist rules
("no two versions of one song") and the tolerant seed search both rest on these keys.

Example
-------
>>> core_title("Let It Be - Remastered 2009")
'let it be'
>>> core_title("Señorita (feat. Lil Jon) [Live]")
'senorita'
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from aares.data import Column, DataError
from aares.inputs import InputSpec, Optional, audio_columns, prepare
from aares.io import atomic_path, ensure_dir
from aares.modelcard import file_sha256
from aares.tables import match_columns, read_raw

__all__ = [
    "catalogue_inputs",
    "read_catalogue",
    "load_catalogue_cached",
    "normalise_name",
    "normalise_names",
    "core_titles",
    "normalise_artist_lists",
    "core_title",
    "song_keys",
    "SeedNotFound",
    "AmbiguousSeed",
    "SeedIndex",
]

_BRACKETS = re.compile(r"\s*[\(\[\{][^\)\]\}]*[\)\]\}]")
_DASH_SUFFIX = re.compile(r"\s+[-\u2013\u2014]\s+.*$")
_FEAT = re.compile(r"\s+(feat|ft|featuring)\s+.*$")
_NON_WORD = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")


_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_APOSTROPHES = re.compile("[\u2019']")


def normalise_names(texts) -> pd.Series:
    """:func:`normalise_name` of many strings (a pandas Series)."""
    return pd.Series([normalise_name(t) for t in texts], dtype=object)


def core_titles(titles) -> pd.Series:
    """:func:`core_title` of many titles (a pandas Series)."""
    return pd.Series([core_title(t) for t in titles], dtype=object)


# One string at a time in plain Python: as fast as pandas' string methods over a whole
# catalogue (0.32 s vs 0.41 s CPU for 145k titles) and ~500x faster for the one title of a
# seed search, where pandas' per-call overhead was most of a playlist's time.
def normalise_name(text: str) -> str:
    """Lower case, accents removed, punctuation dropped, spaces collapsed.

    Examples
    --------
    >>> normalise_name("  Beyoncé & JAY-Z ")
    'beyonce jay z'
    """
    s = _COMBINING.sub("", unicodedata.normalize("NFKD", str(text))).lower()
    s = _APOSTROPHES.sub("", s.replace("&", " "))
    return _SPACES.sub(" ", _NON_WORD.sub(" ", s)).strip()


def core_title(title: str) -> str:
    """The title without version marks: bracketed parts, ``" - ..."`` suffixes, ``feat.``.

    Falls back to the normalised full title when stripping would leave nothing
    (``"(I Can't Get No) Satisfaction"`` keeps its words).

    Examples
    --------
    >>> core_title("Yesterday - Live At The Hollywood Bowl")
    'yesterday'
    >>> core_title("Hello ft. Someone")
    'hello'
    """
    title = str(title)
    core = _FEAT.sub("", normalise_name(_BRACKETS.sub("", _DASH_SUFFIX.sub("", title))))
    return core or normalise_name(title)


def normalise_artist_lists(artists) -> list[list[str]]:
    """:func:`normalise_name` of every name in a column of artist lists (vectorised)."""
    artists = [list(a) for a in artists]
    flat = [a for names in artists for a in names]
    norm = normalise_names(flat).tolist() if flat else []
    out, i = [], 0
    for names in artists:
        out.append(norm[i : i + len(names)])
        i += len(names)
    return out


def song_keys(titles, artists, cores=None, artist_norm=None) -> list[list[str]]:
    """For each track, its ``"core title|artist"`` keys (one per credited artist).

    Two tracks are versions of one song when they share a key. ``cores`` and
    ``artist_norm`` may pass precomputed core titles and normalised artist lists.
    """
    cores = core_titles(titles).tolist() if cores is None else list(cores)
    artist_norm = normalise_artist_lists(artists) if artist_norm is None else artist_norm
    return [
        [f"{core}|{a}" for a in (names or [""])]
        for core, names in zip(cores, artist_norm, strict=True)
    ]


def _group(keys) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        out.setdefault(k, []).append(i)
    return out


def catalogue_inputs() -> InputSpec:
    """The columns of a catalogue: the Kaggle "Spotify 1921-2020" / "600k tracks" layout.

    ``id``, ``name``, ``artists`` (list strings), ``year`` (or ``release_date``, from which
    it is taken) and the audio features are required; ``explicit`` and ``popularity`` are
    optional. Any letter case; other columns (``id_artists``, ``time_signature``) are ignored.
    """
    required = [Column("id", "str"), Column("name", "str", nullable=True),
                Column("artists", "list"), Column("year", "int"), *audio_columns()]  # fmt: skip
    optional = {
        "release_date": Optional(Column("release_date", "date"), "", "nothing (year is used)"),
        "explicit": Optional(Column("explicit", "bool"), False, "nothing (not used)"),
        "popularity": Optional(
            Column("popularity", "int"), 0,
            "the popularity dimension of the song space, and seeds among versions of one "
            "song are no longer chosen by popularity",
        ),
    }  # fmt: skip
    return InputSpec(required, optional)


def read_catalogue(path: str | os.PathLike) -> pd.DataFrame:
    """Any catalogue file (CSV, Parquet, JSON lines) with the Kaggle column layout.

    The course's file, its full 174k original and the 600k-track release all fit: a file
    without ``year`` takes it from ``release_date`` (and the other way round). Cells are
    checked like the course files' (file, column and row named in errors); a missing
    optional column warns (:class:`aares.inputs.InputWarning`).
    """
    raw = read_raw(path)
    found, _ = match_columns(raw, ["year", "release_date"], str(path))
    if "year" not in found and "release_date" in found:
        raw["year"] = raw[found["release_date"]].str.strip().str[:4]
    elif "release_date" not in found and "year" in found:
        raw["release_date"] = raw[found["year"]]
    frame, _ = prepare(raw, catalogue_inputs(), file=str(path))
    return frame


def load_catalogue_cached(
    path: str | os.PathLike, cache_dir: str | os.PathLike | None = None
) -> pd.DataFrame:
    """:func:`read_catalogue`, cached as Parquet per file checksum (SHA-256).

    Parsing the 145k-row CSV with its checks takes ~6 s (a 600k-row file ~25 s); reading the
    Parquet copy a fraction of that. The cache is written atomically to ``cache_dir``
    (default: no cache); a file with other contents gets its own entry, whatever its name or
    modification time.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (the song catalogue)")
    if cache_dir is None:
        return read_catalogue(path)
    cache = Path(cache_dir) / f"{path.stem}-{file_sha256(path)[:20]}.parquet"
    if cache.is_file():
        try:
            frame = pd.read_parquet(cache)
            frame["artists"] = [list(a) for a in frame["artists"]]
            return frame
        except (OSError, ValueError):
            pass  # a damaged cache is rebuilt below
    frame = read_catalogue(path)
    ensure_dir(cache.parent)
    with atomic_path(cache) as tmp:
        frame.to_parquet(tmp, index=False)
    return frame


class SeedNotFound(LookupError):
    """No song matches; ``suggestions`` holds the closest titles ("title - artist")."""

    def __init__(self, message: str, suggestions: list[str]):
        super().__init__(message)
        self.suggestions = suggestions


class AmbiguousSeed(LookupError):
    """Several artists have a song with this title; ``candidates`` lists them."""

    def __init__(self, message: str, candidates: list[str]):
        super().__init__(message)
        self.candidates = candidates


class SeedIndex:
    """Find catalogue rows by title (and optionally artist), tolerant to versions.

    Parameters
    ----------
    names, artists, popularity, years : per-track title, artist list, popularity and year.

    Examples
    --------
    >>> idx = SeedIndex(["Hey Jude - Remastered 2015", "Hey Jude"], [["The Beatles"], ["Wilson"]])
    >>> idx.find("hey jude", artist="beatles")
    0
    """

    def __init__(self, names, artists, popularity=None, years=None, artist_norm=None):
        self.names = np.asarray(list(names), dtype=object)
        self.artists = list(artists)
        n = len(self.names)
        self.popularity = np.zeros(n) if popularity is None else np.asarray(popularity, float)
        self.years = np.zeros(n, int) if years is None else np.asarray(years)
        self.cores = core_titles(self.names).tolist() if n else []
        self._full = _group(normalise_names(self.names).tolist() if n else [])
        self._core = _group(self.cores)
        self._artist_norm = (
            normalise_artist_lists(self.artists) if artist_norm is None else artist_norm
        )

    def label(self, i: int) -> str:
        """``"Title - Artist1, Artist2 (year)"`` for row ``i``."""
        year = f" ({int(self.years[i])})" if self.years[i] else ""
        return f"{self.names[i]} - {', '.join(self.artists[i])}{year}"

    def _artist_ok(self, i: int, want: str) -> bool:
        # ``want`` is a normalised artist name
        return any(want == a or want in a.split(" ") or want in a for a in self._artist_norm[i])

    def candidates(self, title: str) -> list[int]:
        """Rows whose full normalised title, else whose core title, matches ``title``."""
        full = normalise_name(title)
        if full in self._full:
            rows = list(self._full[full])
            core = core_title(title)
            # also offer the other versions of the same song
            rows += [r for r in self._core.get(core, []) if r not in rows]
            return rows
        core = core_title(title)
        return list(self._core.get(core, []))

    def find(self, title: str, artist: str | None = None) -> int:
        """The row of the song ``title`` (by ``artist`` when given).

        Among several versions by the same artist, the most popular one is chosen.

        Raises
        ------
        AmbiguousSeed
            when artists differ and ``artist`` is not given (the message lists them).
        SeedNotFound
            when nothing matches (the message lists the closest titles).
        """
        rows = self.candidates(title)
        want = normalise_name(artist) if artist else ""
        if artist:
            rows = [r for r in rows if self._artist_ok(r, want)]
        if not rows:
            sugg = self.suggest(title, artist)
            by = f" by {artist!r}" if artist else ""
            hint = "; closest matches: " + "; ".join(sugg) if sugg else ""
            raise SeedNotFound(f"no song titled {title!r}{by} in the catalogue{hint}", sugg)
        groups: dict[str, list[int]] = {}
        for r in rows:
            key = self._artist_norm[r][0] if self._artist_norm[r] else ""
            groups.setdefault(key, []).append(r)
        if len(groups) > 1 and not artist:
            best = [max(g, key=lambda r: self.popularity[r]) for g in groups.values()]
            best.sort(key=lambda r: -self.popularity[r])
            cands = [self.label(r) for r in best[:15]]
            more = f" (and {len(best) - 15} more)" if len(best) > 15 else ""
            raise AmbiguousSeed(
                f"{len(groups)} artists have a song titled {title!r}; say which with --artist: "
                + "; ".join(cands)
                + more,
                cands,
            )
        return max(rows, key=lambda r: (self.popularity[r], -len(str(self.names[r]))))

    def suggest(self, title: str, artist: str | None = None, n: int = 5) -> list[str]:
        """Labels of the ``n`` songs whose titles are closest to ``title``."""
        core = core_title(title)
        want = normalise_name(artist) if artist else ""
        # rapidfuzz's ratio (normalised Indel similarity, close to difflib's ratio): same
        # suggestions on misspelt titles, ~40x faster over the 92k core titles (BENCHMARKS.md)
        from rapidfuzz import fuzz, process

        close = [
            key
            for key, _, _ in process.extract(
                core, list(self._core), scorer=fuzz.ratio, limit=n * 3, score_cutoff=60
            )
        ]
        rows = []
        for key in close:
            group = list(self._core[key])
            if artist:
                group = [r for r in group if self._artist_ok(r, want)] or group
            rows.append(max(group, key=lambda r: self.popularity[r]))
        if artist and not rows:
            rows = [
                r
                for r in range(len(self.names))
                if self._artist_ok(r, want) and core.split(" ")[0] in self.cores[r]
            ]
        rows = sorted(dict.fromkeys(rows), key=lambda r: -self.popularity[r])[:n]
        return [self.label(r) for r in rows]
