"""Saving and loading popularity models with skops (never a pickle).

Reuses :mod:`aares.genre.persist` and adds the popularity types to the trusted list.

Example
-------
>>> from aares.popularity.persist import save_model, load_model     # doctest: +SKIP
>>> save_model(model, "out/popularity/model.skops")                  # doctest: +SKIP
>>> load_model("out/popularity/model.skops").predict(subset)[:2]    # doctest: +SKIP
"""

from __future__ import annotations

import os

from aares.genre.persist import load_model as _load
from aares.genre.persist import save_model

__all__ = ["TRUSTED_TYPES", "save_model", "load_model"]

#: Types of aares popularity models, on top of those aares.genre.persist trusts.
TRUSTED_TYPES = [
    "aares.popularity.features.SongFeatures",
    "aares.popularity.features.ListTargetEncoder",
    "aares.popularity.features.GenreMultiHot",
    "aares.popularity.features.GenreTfidf",
    "aares.popularity.features.ArtistProfile",
    "aares.popularity.features.FeatureBlocks",
    "aares.popularity.models.HurdleRegressor",
    "lightgbm.sklearn.LGBMRegressor",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.basic.Booster",
    "numpy.dtype",  # TfidfVectorizer's dtype parameter
]


def load_model(path: str | os.PathLike):
    """Load a popularity model saved by :func:`save_model`, trusting only known types."""
    return _load(path, trusted=TRUSTED_TYPES, kind="regressor")
