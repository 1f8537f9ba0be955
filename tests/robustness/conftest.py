"""Fixtures of the robustness suite: tiny trained models and course files, built once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/conftest.py helpers

from conftest import make_feature_frame  # noqa: E402


@pytest.fixture(scope="session")
def genre_data(tmp_path_factory) -> Path:
    """A data folder with a small training and challenge file."""
    folder = tmp_path_factory.mktemp("data")
    make_feature_frame(200, seed=1).to_csv(folder / "spotify_dataset_train.csv", index=False)
    test = make_feature_frame(40, seed=2).drop(columns="genre")
    test.to_csv(folder / "spotify_dataset_test.csv", index=False)
    return folder


@pytest.fixture(scope="session")
def lightgbm_model(genre_data, tmp_path_factory) -> Path:
    """A 5-round LightGBM genre model saved by aares (skops)."""
    from aares.data import load_train
    from aares.genre.models import make_model
    from aares.genre.persist import save_model

    train = load_train(genre_data / "spotify_dataset_train.csv")
    model = make_model("lightgbm", seed=0)
    model.set_params(clf__n_estimators=5)
    model.fit(train.drop(columns="genre"), train["genre"].to_numpy())
    return save_model(model, tmp_path_factory.mktemp("models") / "lightgbm.skops")


@pytest.fixture(scope="session")
def forest_model(genre_data, tmp_path_factory) -> Path:
    """A small extra-trees genre model (scikit-learn trees)."""
    from sklearn.ensemble import ExtraTreesClassifier

    from aares.data import load_train
    from aares.genre.models import make_model
    from aares.genre.persist import save_model

    train = load_train(genre_data / "spotify_dataset_train.csv")
    model = make_model("extra_trees", seed=0)
    model.set_params(clf=ExtraTreesClassifier(n_estimators=3, random_state=0))
    model.fit(train.drop(columns="genre"), train["genre"].to_numpy())
    return save_model(model, tmp_path_factory.mktemp("models") / "forest.skops")
