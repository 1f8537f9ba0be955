"""Genre classification (Exercise 1): features, models, analysis, persistence and CLI.

The public pieces:

- :class:`aares.genre.features.GenreFeatures`: raw course frame -> numeric features.
- :func:`aares.genre.models.make_model` and :data:`aares.genre.models.MODEL_NAMES`:
  unfitted scikit-learn pipelines (feature engineering included), ``BEST_MODEL``.
- :func:`load_model` (:class:`aares.genre.model.GenreModel`): a model file with its card,
  for predicting anyone's songs (``load_model(path).predict(df)``).
- :func:`aares.genre.persist.save_model` / :func:`aares.genre.persist.load_model`:
  safe storage with skops and an explicit list of trusted types.
"""

from aares._lazy import lazy_exports

__all__ = ["GenreModel", "load_model", "make_model"]

__getattr__, __dir__ = lazy_exports(
    __name__, {"GenreModel": "aares.genre.model", "make_model": "aares.genre.models"}
)


def load_model(path):
    """Load a genre model file written by ``aares genre train`` (card checked first).

    Returns a :class:`aares.genre.model.GenreModel`: ``predict(df)``, ``predict_proba(df)``,
    ``predict_sets(df, eps)``, ``predict_frame(df, top, eps)`` and its card in ``card_``.
    ``df`` is any DataFrame or CSV/Parquet/JSON-lines path with the audio-feature columns.
    """
    from aares.genre.model import load_model as _load

    return _load(path)
