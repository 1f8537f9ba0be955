"""What every aares model with a card shares: preparing inputs, saving, loading.

:class:`CardModel` is the base of :class:`aares.genre.model.GenreModel` and
:class:`aares.popularity.model.PopularityModel`. A subclass fits ``estimator_`` and builds
its card with :meth:`CardModel._make_card`; this class does the rest the same way for both:

- :meth:`prepare` makes any table or file fit the model's inputs (:mod:`aares.inputs`),
  warning for filled columns and for drift against the training songs;
- :meth:`save` writes the skops archive with the card and the arrays (:mod:`aares.modelcard`);
- :meth:`load` reads the card first (refusing anything that is not an aares model of the
  subclass's kind before any of it is loaded), then the estimator through the kind's
  ``persist.load_model`` (trusted types only).
"""

from __future__ import annotations

import importlib
import os

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from aares.inputs import InputSpec, numeric_view, prepare
from aares.modelcard import (
    ModelFileError,
    base_card,
    card_members,
    feature_profile,
    read_arrays,
    read_card,
)
from aares.tables import check_frame

__all__ = ["CardModel"]


class CardModel(BaseEstimator):
    """Base of the aares models that carry a model card (see the module's notes).

    Subclasses set :attr:`kind` (``"genre"``, ``"popularity"``) and implement ``fit`` and
    :meth:`_params_from_card`.
    """

    kind = ""

    def _make_card(self, X: pd.DataFrame, source, inputs: InputSpec, profile: list[str], **fields):
        """The card: common fields, the inputs, the drift profile of ``profile`` columns."""
        card = base_card(self.kind, source, len(X))
        card.update(fields)
        card["inputs"] = inputs.to_card()
        card["drift"] = {
            "measure": "population stability index over training deciles",
            "profile": feature_profile(numeric_view(X), profile),
        }
        return card

    def _set(self, card: dict, arrays: dict | None) -> None:
        self.card_ = card
        self.inputs_ = InputSpec.from_card(card["inputs"])
        self.calibration_ = arrays or None

    @classmethod
    def _params_from_card(cls, card: dict) -> dict:
        raise NotImplementedError

    def _check_loaded(self, path) -> None:
        """Extra consistency checks of a loaded model against its card."""

    def _check_training(self, X, y, columns) -> tuple[pd.DataFrame, np.ndarray]:
        """``(X, y)`` for ``fit``: a DataFrame holding ``columns`` and one target per row.

        Raises ValueError naming what is wrong (``fit`` reads the columns by name, so a
        plain array or a frame without them cannot be trained on).
        """
        who = f"{type(self).__name__}.fit"
        check_frame(X, columns, who)
        if len(X) == 0:
            raise ValueError(f"{who}: the frame has no rows to train on")
        y = np.asarray(y)
        if y.shape != (len(X),):
            raise ValueError(f"{who}: y must hold one value per row of X ({len(X)}), got {y.shape}")
        return X.reset_index(drop=True), y

    # -- inputs --------------------------------------------------------------------------
    def prepare(self, X) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(frame, raw)`` of any table or file: see :func:`aares.inputs.prepare`.

        Warns for missing optional columns and for strong drift against training.
        """
        check_is_fitted(self, "estimator_")
        return prepare(X, self.inputs_, self.card_.get("drift", {}).get("profile"))

    # -- files ---------------------------------------------------------------------------
    @classmethod
    def _persist(cls):
        return importlib.import_module(f"aares.{cls.kind}.persist")

    def save(self, path: str | os.PathLike):
        """Write the model file: skops archive + card (+ arrays such as calibration)."""
        check_is_fitted(self, "estimator_")
        extra = card_members(self.card_, self.calibration_)
        return self._persist().save_model(self.estimator_, path, extra=extra)

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Read a model file written by :meth:`save`, card first.

        Raises
        ------
        ModelFileError
            for anything that is not an aares model of this kind (nothing of it is loaded).
        """
        card = read_card(path, cls.kind)
        self = cls(**cls._params_from_card(card))
        # the kind's load_model checks the archive (sizes, trees) before skops reads it;
        # the arrays member is bounded on its own (read_arrays)
        self.estimator_ = cls._persist().load_model(path)
        self._set(card, read_arrays(path))
        self._check_loaded(path)
        return self


def check_same(path, what: str, have, want) -> None:
    """Raise :class:`ModelFileError` when a loaded model and its card disagree."""
    if list(have) != list(want):
        raise ModelFileError(f"{path}: the model's {what} differ from its card's")
