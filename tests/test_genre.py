"""Genre classification: features, models, persistence (synthetic data, fast)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aares.genre.features import GenreFeatures
from aares.genre.models import MODEL_NAMES, PriorCorrected, make_model
from aares.genre.persist import load_model, save_model
from conftest import make_feature_frame


def _xy(frame: pd.DataFrame):
    return frame.drop(columns="genre"), frame["genre"]


def test_features_are_numeric_and_complete(feature_frame):
    X, _ = _xy(feature_frame)
    out = GenreFeatures().fit_transform(X)
    assert len(out) == len(X)
    assert out.notna().all().all()
    assert all(np.issubdtype(t, np.floating) for t in out.dtypes)
    assert {"year", "month", "day", "precision", "weekday", "duration_min"} <= set(out.columns)
    # "2003" is a year-only date: precision 1, month/day 0, weekday -1
    row = out[X["release_date"] == "2003"].iloc[0]
    assert (row["precision"], row["month"], row["day"], row["weekday"]) == (1, 0, 0, -1)


def test_features_name_missing_columns(feature_frame):
    X, _ = _xy(feature_frame)
    with pytest.raises(ValueError, match="tempo"):
        GenreFeatures().fit(X.drop(columns="tempo"))


@pytest.mark.parametrize("name", ["logreg", "lightgbm", "best"])
def test_pipeline_predicts_only_known_genres(name):
    train = make_feature_frame(240, seed=1, genres=["rock", "pop", "jazz", "salsa"])
    test = make_feature_frame(60, seed=2, genres=["rock", "pop", "jazz", "salsa"])
    X, y = _xy(train)
    model = make_model(name, seed=0).fit(X, y)
    pred = model.predict(test.drop(columns="genre"))
    assert set(pred) <= set(y)
    proba = model.predict_proba(test.drop(columns="genre"))
    assert proba.shape == (60, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # the synthetic genres are separable: much better than chance
    assert np.mean(pred == test["genre"].to_numpy()) > 0.5


def test_every_model_name_builds():
    for name in MODEL_NAMES:
        assert hasattr(make_model(name), "fit")
    with pytest.raises(ValueError, match="unknown genre model"):
        make_model("nope")


def test_balanced_mode_predicts_rare_genre_more_often():
    rng = np.random.default_rng(0)
    frame = make_feature_frame(400, seed=3, genres=["pop", "jazz"])
    # make jazz rare and overlapping with pop
    keep = (frame["genre"] == "pop") | (rng.random(len(frame)) < 0.2)
    frame = frame[keep].reset_index(drop=True)
    frame["danceability"] = rng.random(len(frame))
    X, y = _xy(frame)
    plain = make_model("logreg").fit(X, y)
    balanced = make_model("logreg", balanced=True, strength=1.0).fit(X, y)
    assert isinstance(balanced, PriorCorrected)
    assert (balanced.predict(X) == "jazz").sum() >= (plain.predict(X) == "jazz").sum()


def test_saved_model_reloads_with_identical_predictions(tmp_path, feature_frame):
    X, y = _xy(feature_frame)
    model = make_model("best", seed=0, balanced=True).fit(X, y)
    path = save_model(model, tmp_path / "genre.skops")
    again = load_model(path)
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    np.testing.assert_allclose(again.predict_proba(X), model.predict_proba(X), atol=1e-12)


def test_load_model_refuses_non_skops_file(tmp_path):
    bad = tmp_path / "model.skops"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a skops model file"):
        load_model(bad)
    with pytest.raises(ValueError, match="not found"):
        load_model(tmp_path / "missing.skops")
