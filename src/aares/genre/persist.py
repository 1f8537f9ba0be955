"""Saving and loading genre models safely, with skops (never a pickle).

:func:`load_model` only accepts the types listed in :data:`TRUSTED_TYPES` (besides the
ones skops trusts by default: numpy, scipy and scikit-learn); a file that holds any
other type is refused with a clear error instead of running its code.

Example
-------
>>> from aares.genre.persist import save_model, load_model     # doctest: +SKIP
>>> save_model(model, "out/genre/model.skops")                   # doctest: +SKIP
>>> load_model("out/genre/model.skops").predict(test)[:2]       # doctest: +SKIP
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import skops.io as sio

from aares import modelcheck
from aares.io import atomic_path

__all__ = ["TRUSTED_TYPES", "save_model", "load_model"]

#: Types outside numpy/scipy/scikit-learn that aares models contain.
TRUSTED_TYPES = [
    "aares.genre.features.GenreFeatures",
    "aares.genre.features.ReleaseDateGenres",
    "aares.genre.models.ProbabilityAverage",
    "aares.genre.models.PriorCorrected",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "collections.OrderedDict",
    "sklearn.tree._tree.Tree",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]


def save_model(model, path: str | os.PathLike, extra: dict[str, bytes] | None = None) -> Path:
    """Write ``model`` to ``path`` in the skops format (compressed, atomically).

    ``extra`` adds members to the archive beside skops' own (the model card of
    :mod:`aares.modelcard`); skops ignores them when loading.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        # tree ensembles store mostly-zero probability arrays: deflate shrinks them ~10x
        # (level 1: nearly as small as the default level, at a fraction of the time)
        sio.dump(model, tmp, compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        if extra:
            with zipfile.ZipFile(tmp, "a", compression=zipfile.ZIP_DEFLATED) as zf:
                for name, data in extra.items():
                    zf.writestr(name, data)
    return path


def load_model(
    path: str | os.PathLike, trusted: list[str] | None = None, *, kind: str = "classifier"
):
    """Load a model saved by :func:`save_model`.

    Parameters
    ----------
    path : path-like
        The ``.skops`` file.
    trusted : list of str, optional
        Extra type names to trust on top of :data:`TRUSTED_TYPES`.
    kind : {"classifier", "regressor"}
        The kind of model the file must hold.

    Raises
    ------
    ValueError
        when the file is missing, not a skops file, holds a type that is not trusted, or
        fails :mod:`aares.modelcheck` (damaged trees, a zip bomb, the wrong kind of model).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: model file not found (train one with `aares genre train`)")
    allowed = set(TRUSTED_TYPES) | set(trusted or [])
    modelcheck.check_archive(path)  # bounded before skops reads anything
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # zip/JSON errors of a file that is not a skops archive
        raise ValueError(f"{path}: not a skops model file ({exc})") from None
    refused = [t for t in untrusted if t not in allowed]
    if refused:
        raise ValueError(
            f"{path}: refusing to load untrusted type(s) {refused}; only {sorted(allowed)} "
            "and numpy/scipy/scikit-learn types are loaded"
        )
    modelcheck.check_schema(path)  # LightGBM's text, before its C++ parser sees it
    model = sio.load(path, trusted=[t for t in untrusted if t in allowed])
    modelcheck.check_loaded(model, path, kind=kind)  # tree arrays, before predict walks them
    return model
