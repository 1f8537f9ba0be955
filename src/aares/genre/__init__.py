"""Genre classification (Exercise 1): features, models, analysis, persistence and CLI.

The public pieces:

- :class:`aares.genre.features.GenreFeatures`: raw course frame -> numeric features.
- :func:`aares.genre.models.make_model` and :data:`aares.genre.models.MODEL_NAMES`:
  unfitted scikit-learn pipelines (feature engineering included), ``BEST_MODEL``.
- :func:`aares.genre.persist.save_model` / :func:`aares.genre.persist.load_model`:
  safe storage with skops and an explicit list of trusted types.
"""
