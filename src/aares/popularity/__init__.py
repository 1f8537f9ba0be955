"""Popularity prediction and micro-genres (Exercise 2).

:func:`load_model` reads a model file written by ``aares popularity train``
(:class:`aares.popularity.model.PopularityModel`, card checked first):
``load_model(path).predict(df)`` for any table or CSV/Parquet/JSON-lines file with the audio
features (artist, micro-genres, release date and title help when present).
"""

from aares._lazy import lazy_exports

__all__ = ["PopularityModel", "load_model", "make_model"]

__getattr__, __dir__ = lazy_exports(
    __name__, {"PopularityModel": "aares.popularity.model", "make_model": "aares.popularity.models"}
)


def load_model(path):
    """Load a popularity model file (see :func:`aares.popularity.model.load_model`)."""
    from aares.popularity.model import load_model as _load

    return _load(path)
