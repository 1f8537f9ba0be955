"""Training the genre model and writing the challenge files.

:func:`train_model` fits a model on the training file; :func:`predict_challenge` adds the
predicted ``genre`` as the last column of the challenge file (rows kept in order) and
writes the one-column ``genre.csv`` the handout also accepts.

Example
-------
>>> from aares.genre.challenge import train_model, predict_challenge     # doctest: +SKIP
>>> model = train_model("data")                                          # doctest: +SKIP
>>> predict_challenge(model, "data", "out/genre")                        # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from aares.data import TEST_FILE, TRAIN_FILE, data_file, load_test, load_train
from aares.genre.models import make_model
from aares.io import atomic_files, ensure_dir

__all__ = ["CHALLENGE_FILE", "GENRE_FILE", "train_model", "predict_challenge", "write_challenge"]

#: The challenge answer keeps the course file's name, with ``genre`` as new last column.
CHALLENGE_FILE = TEST_FILE
#: The one-column answer (header ``genre``, one line per challenge song, same order).
GENRE_FILE = "genre.csv"


def train_model(
    data_dir: str | os.PathLike | None,
    name: str = "best",
    seed: int = 0,
    balanced: bool = False,
    train: pd.DataFrame | None = None,
):
    """Fit model ``name`` on the whole training file of ``data_dir`` and return it."""
    if train is None:
        train = load_train(data_file(TRAIN_FILE, data_dir))
    model = make_model(name, seed=seed, balanced=balanced)
    return model.fit(train.drop(columns="genre"), train["genre"].to_numpy())


def write_challenge(
    raw_test: pd.DataFrame, genres: np.ndarray, out_dir: str | os.PathLike
) -> tuple[Path, Path]:
    """Write ``genres`` as the new last column of the challenge file, and ``genre.csv``.

    ``raw_test`` is the challenge file as read, cell for cell (strings), so every original
    value is written back unchanged.
    """
    if len(genres) != len(raw_test):
        raise ValueError(
            f"{len(genres)} predictions for {len(raw_test)} challenge rows; expected one per row"
        )
    out = ensure_dir(out_dir)
    answer = raw_test.copy()
    answer["genre"] = np.asarray(genres)
    paths = (out / CHALLENGE_FILE, out / GENRE_FILE)
    # one answer in two files: a kill must not leave one file new and the other old
    with atomic_files(paths) as (full, genre_only):
        answer.to_csv(full, index=False)
        answer[["genre"]].to_csv(genre_only, index=False)
    return paths


def predict_challenge(
    model, data_dir: str | os.PathLike | None, out_dir: str | os.PathLike
) -> tuple[Path, Path, np.ndarray]:
    """Predict the challenge file of ``data_dir`` and write the answer files to ``out_dir``.

    Returns the two paths written and the predicted genres.
    """
    path = data_file(TEST_FILE, data_dir)
    test = load_test(path)  # checks the schema
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "genre" in raw.columns:
        raise ValueError(f"{path}: already has a 'genre' column; expected the challenge file")
    genres = model.predict(test)
    written = write_challenge(raw, genres, out_dir)
    return written[0], written[1], genres
