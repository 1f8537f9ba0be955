"""The Spotify half of the service: catalogue links, genre sets and playlists.

Everything here is built once, in a background thread at start-up (parsing the 145k-row
catalogue and fitting the playlist space take seconds, a genre model a minute or two), and
each part says where it stands: ``absent`` (no data folder), ``loading``, ``ready`` or
``failed`` with the reason. The service answers 404 for an absent part and 503 while one
is loading, so identification works from the first second.

- :func:`link_candidates`: the catalogue rows whose title and artists match a
  fingerprinted song's tags (rapidfuzz), ranked, with the match score.
- :class:`GenreSets`: a genre classifier with conformal prediction sets. A model file
  (``--genre-model``, :func:`aares.genre.load_model`) must carry its calibration; without
  one the service fits ``fit_model`` on the training file with split-conformal calibration
  (:class:`aares.conformal.split.SplitConformalClassifier`, LAC score, 15 % held out).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from aares.data import AUDIO_FEATURES, CATALOGUE_FILE, TRAIN_FILE, DataError, data_file, load_train

__all__ = ["Part", "SpotifyParts", "GenreSets", "link_candidates", "genre_frame"]

log = logging.getLogger("aares.service")

#: The course columns a genre request carries (``time_signature`` may be left out: the
#: recommendation catalogue has none; the most common signature, 4, is used then).
GENRE_COLUMNS = ["release_date", "explicit", "popularity", *AUDIO_FEATURES, "time_signature"]


@dataclass
class Part:
    """The state of one background-built part: ``absent``, ``loading``, ``ready``, ``failed``."""

    name: str
    state: str = "absent"
    message: str = ""
    value: object = None
    seconds: float = 0.0
    _event: threading.Event = field(default_factory=threading.Event, repr=False)

    def set(self, state: str, message: str = "", value=None, seconds: float = 0.0) -> None:
        self.state, self.message, self.value, self.seconds = state, message, value, seconds
        if state != "loading":
            self._event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the part is no longer loading (for tests and the benchmark)."""
        return self._event.wait(timeout)

    def to_dict(self) -> dict:
        return {"state": self.state, "message": self.message, "seconds": round(self.seconds, 1)}


# -- linking a fingerprinted song to catalogue rows ---------------------------------------------
def _norm(texts) -> list[str]:
    from aares.recommend.catalog import normalise_names

    return normalise_names(texts).tolist()


class LinkIndex:
    """Normalised titles and artists of the catalogue, for fuzzy search."""

    def __init__(self, catalogue: pd.DataFrame) -> None:
        self.catalogue = catalogue
        self.names = _norm(catalogue["name"].fillna(""))
        # every artist name normalised in one vectorised call, then cut back per row
        lists = [list(a) for a in catalogue["artists"]]
        flat = _norm([a for row in lists for a in row]) if lists else []
        ends = np.cumsum([len(row) for row in lists])
        self.artists = [flat[e - len(row) : e] for row, e in zip(lists, ends, strict=True)]


def _title_score(fuzz, a: str, b: str) -> float:
    # token_sort compares the whole titles (a long title does not match a short one that it
    # merely contains); token_set forgives extra words ("Arranged for Solo Piano"). Their
    # mean ranked the right recording first for the course songs that Spotify has, and
    # kept the others below 60 (measured on the 145k catalogue).
    return 0.5 * (fuzz.token_sort_ratio(a, b) + fuzz.token_set_ratio(a, b))


def link_candidates(index: LinkIndex, title: str, artist: str = "", limit: int = 5) -> list[dict]:
    """Catalogue rows most like ``title`` / ``artist``, best first, each with its ``score``.

    The title score (0-100) is :func:`_title_score` of the normalised titles; the artist
    score is how well a row's artist names are contained in the song's artist *and* title
    text (``token_set_ratio``: fingerprint tags often put the composer in the title,
    "Bizet, Georges - Carmen Prelude"). ``score = 0.65 title + 0.35 artist``.
    """
    from rapidfuzz import fuzz, process

    q_title = _norm([title])[0]
    q_who = _norm([f"{artist} {title}"])[0]
    if not q_title:
        return []
    found = set()
    for scorer in (fuzz.token_sort_ratio, fuzz.token_set_ratio):
        hits = process.extract(q_title, index.names, scorer=scorer, limit=max(200, limit))
        found.update(row for _, _, row in hits)
    rows = []
    for row in found:
        t_score = _title_score(fuzz, q_title, index.names[row])
        names = index.artists[row]
        a_score = max((fuzz.token_set_ratio(a, q_who) for a in names if len(a) >= 3), default=0)
        rows.append((0.65 * t_score + 0.35 * a_score, t_score, a_score, row))
    rows.sort(key=lambda r: (-r[0], r[3]))
    out = []
    cat = index.catalogue
    for score, t_score, a_score, row in rows[:limit]:
        rec = cat.iloc[row]
        out.append(
            {
                "id": str(rec["id"]),
                "name": str(rec["name"]),
                "artists": list(rec["artists"]),
                "year": int(rec["year"]) if pd.notna(rec["year"]) else None,
                "popularity": int(rec["popularity"]),
                "score": round(float(score), 1),
                "title_score": round(float(t_score), 1),
                "artist_score": round(float(a_score), 1),
                "features": catalogue_features(rec),
            }
        )
    return out


def catalogue_features(rec: pd.Series) -> dict:
    """A catalogue row's course columns, ready for ``POST /api/genre``."""
    out = {"release_date": str(rec["release_date"]), "explicit": bool(rec["explicit"])}
    out["popularity"] = int(rec["popularity"])
    for f in AUDIO_FEATURES:
        v = rec[f]
        out[f] = int(v) if f in ("key", "mode", "duration_ms") else float(v)
    return out


# -- genre sets ---------------------------------------------------------------------------------
def genre_frame(features: dict) -> pd.DataFrame:
    """One song's course columns (already validated) as the one-row frame models take."""
    row = {c: features.get(c) for c in GENRE_COLUMNS}
    if row["time_signature"] is None:
        row["time_signature"] = 4
    frame = pd.DataFrame([row], columns=GENRE_COLUMNS)
    frame["explicit"] = frame["explicit"].astype(bool)
    for c in ("popularity", "key", "mode", "duration_ms", "time_signature"):
        frame[c] = frame[c].astype("int64")
    return frame


class GenreSets:
    """Genre probabilities and conformal prediction sets for one song at a time.

    Parameters
    ----------
    proba : callable ``frame -> (songs, genres)`` probabilities.
    sets : callable ``(probabilities, eps) -> list of genre lists`` (the conformal sets).
    classes : the genres (columns of ``proba``).
    source : one sentence on where the model and its calibration come from.
    """

    def __init__(self, proba, sets, classes, source: str) -> None:
        self.proba = proba
        self.sets = sets
        self.classes = [str(c) for c in classes]
        self.source = source

    @classmethod
    def fit(cls, train: pd.DataFrame, model: str = "lightgbm", sample: int | None = None):
        """Fit ``model`` with split-conformal calibration on the training frame."""
        from aares.conformal.split import SplitConformalClassifier
        from aares.genre.models import make_model

        if sample and sample < len(train):
            train = train.sample(sample, random_state=0)
        X, y = train.drop(columns="genre"), train["genre"].to_numpy()
        cp = SplitConformalClassifier(make_model(model), score="lac", random_state=0).fit(X, y)
        n_cal = len(cp.cal_labels_)
        return cls(
            cp.predict_proba,
            cp.sets_from_proba,
            cp.classes_,
            f"{model} fitted at start-up on {len(y) - n_cal:,} training songs, calibrated on "
            f"{n_cal:,} held-out songs (split conformal, LAC score)",
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike):
        """A genre model file with its stored calibration (:func:`aares.genre.load_model`)."""
        from aares.genre import load_model

        model = load_model(path)
        if not model.card_.get("calibration"):
            raise ValueError(
                f"{path}: the model file has no calibration for prediction sets (trained with "
                "--folds 0); retrain it with folds, or start without --genre-model"
            )
        return cls(
            lambda X: model.predict_proba(X),
            model.sets_from_proba,
            model.classes_,
            f"model file {Path(path).name} ({model.card_['model']['name']}) with its stored "
            "calibration",
        )

    def predict(self, frame: pd.DataFrame, eps: float) -> dict:
        """The answer of ``POST /api/genre`` for a one-row frame."""
        p = np.asarray(self.proba(frame))[0]
        inside = set(self.sets(p[None], eps)[0])
        order = np.argsort(-p, kind="stable")
        genres = [
            {
                "genre": self.classes[j],
                "probability": round(float(p[j]), 4),
                "in_set": self.classes[j] in inside,
            }
            for j in order
        ]
        prediction_set = [g["genre"] for g in genres if g["in_set"]]
        return {
            "genre": self.classes[int(order[0])],
            "probabilities": {g["genre"]: g["probability"] for g in genres},
            "genres": genres,
            "eps": eps,
            "set": prediction_set,
            "coverage": round(1 - eps, 4),
            "guarantee": (
                f"the set holds the song's true genre with probability at least {1 - eps:.0%} "
                "for songs drawn like the training songs (split conformal prediction; "
                "marginal over songs, not for every genre)"
            ),
            "model": self.source,
        }


# -- the parts, built in the background -----------------------------------------------------
class SpotifyParts:
    """The catalogue link index, the playlist recommender and the genre sets.

    Parameters
    ----------
    data : the data folder (``None``: every part is absent).
    genre_model : a genre model file, or ``None`` to fit ``genre_fit`` at start-up.
    genre_fit, genre_sample : the model fitted at start-up and how many training songs
        it uses (``None``: all).
    cache : folder for the parsed catalogue (Parquet), or ``None``.
    """

    def __init__(
        self,
        data: str | os.PathLike | None,
        genre_model: str | os.PathLike | None = None,
        genre_fit: str = "lightgbm",
        genre_sample: int | None = None,
        cache: str | os.PathLike | None = None,
    ) -> None:
        self.data = Path(data) if data else None
        self.genre_model = Path(genre_model) if genre_model else None
        self.genre_fit = genre_fit
        self.genre_sample = genre_sample
        self.cache = cache
        self.catalogue = Part("catalogue")
        self.playlist = Part("playlist")
        self.genre = Part("genre")
        self._thread: threading.Thread | None = None

    def parts(self) -> list[Part]:
        return [self.catalogue, self.playlist, self.genre]

    def start(self) -> None:
        """Build every part in a daemon thread (no-op without a data folder or model)."""
        if self.data is None:
            for p in (self.catalogue, self.playlist):
                p.set("absent", "the service was started without --data (or AARES_DATA)")
        else:
            self.catalogue.set("loading", "reading the Spotify catalogue")
            self.playlist.set("loading", "building the playlist space")
        if self.genre_model is None and self.data is None:
            self.genre.set(
                "absent", "the service was started without --data (or AARES_DATA) or --genre-model"
            )
        else:
            self.genre.set("loading", "loading or fitting the genre model")
        if any(p.state == "loading" for p in self.parts()):
            self._thread = threading.Thread(target=self._build, name="spotify-parts", daemon=True)
            self._thread.start()

    def _build(self) -> None:
        try:
            self._build_parts()
        except Exception as exc:  # never leave a part "loading" for ever
            log.exception("building the Spotify parts failed")
            for p in self.parts():
                if p.state == "loading":
                    p.set("failed", f"unexpected error: {exc}")

    def _build_parts(self) -> None:
        if self.genre_model is not None:
            self._run(self.genre, lambda: GenreSets.from_file(self.genre_model))
        if self.data is None:
            return
        train = self._train()
        catalogue = self._run(self.catalogue, self._load_catalogue)
        if catalogue is None:
            self.playlist.set("failed", self.catalogue.message)
        else:
            self._run(self.playlist, lambda: self._recommender(catalogue.catalogue, train))
        if self.genre_model is None:
            if train is None:
                self.genre.set("failed", f"{self.data / TRAIN_FILE}: not found or not readable")
            else:
                self._run(
                    self.genre, lambda: GenreSets.fit(train, self.genre_fit, self.genre_sample)
                )

    def _run(self, part: Part, build):
        t0 = time.perf_counter()
        try:
            value = build()
        except (DataError, ValueError, OSError, KeyError) as exc:
            part.set("failed", str(exc), seconds=time.perf_counter() - t0)
            log.warning("%s failed: %s", part.name, exc)
            return None
        part.set("ready", "", value, time.perf_counter() - t0)
        log.info("%s ready in %.1f s", part.name, part.seconds)
        return value

    def _train(self) -> pd.DataFrame | None:
        try:
            return load_train(data_file(TRAIN_FILE, self.data))
        except DataError:
            return None  # the playlist space works without it; the genre part says why

    def _load_catalogue(self) -> LinkIndex:
        from aares.recommend.catalog import load_catalogue_cached

        return LinkIndex(load_catalogue_cached(data_file(CATALOGUE_FILE, self.data), self.cache))

    @staticmethod
    def _recommender(catalogue: pd.DataFrame, train: pd.DataFrame | None):
        from aares.recommend.playlist import PlaylistRecommender

        genres = train["genre"] if train is not None else None
        rec = PlaylistRecommender().fit(catalogue, genres, train)
        rows = {str(i): r for r, i in enumerate(rec.ids_)} if rec.ids_ is not None else {}
        return rec, rows
