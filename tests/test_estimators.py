"""The recommenders follow scikit-learn's estimator contract: parameters only stored in
``__init__``, so ``clone``, ``get_params`` and ``set_params`` work, and a clone recommends
exactly what the original does."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from aares.recommend.collaborative import (
    ALS,
    EASE,
    Blend,
    Discovery,
    ItemKNN,
    MostPopular,
    RP3beta,
)


def _plays() -> sp.csr_matrix:
    X = sp.random(120, 60, density=0.1, random_state=1, format="csr")
    X.data = np.ceil(X.data * 50)
    return X


RECOMMENDERS = [
    MostPopular(),
    ItemKNN(k=20),
    RP3beta(min_item_users=1),
    EASE(lam=50),
    ALS(factors=4, iterations=3),
    Blend([EASE(lam=50), ItemKNN(k=20)], weights=[0.7, 0.3]),
    Discovery(Blend([EASE(lam=50), ItemKNN(k=20)], [0.7, 0.3]), RP3beta(min_item_users=1), 2, 3),
]


@pytest.mark.parametrize("model", RECOMMENDERS, ids=lambda m: type(m).__name__)
def test_a_clone_has_the_same_params_and_recommends_the_same(model):
    X = _plays()
    twin = clone(model)
    assert twin is not model and repr(twin) == repr(model)
    assert twin.get_params(deep=False).keys() == model.get_params(deep=False).keys()
    assert np.array_equal(twin.fit(X).recommend(X[:30]), clone(model).fit(X).recommend(X[:30]))
    # fitting a clone leaves the original (and the models it holds) unfitted
    assert not hasattr(model, "n_items_")


def test_set_params_reaches_nested_models_and_init_does_no_work():
    disc = Discovery(EASE(lam=50))
    disc.set_params(model__lam=10, tail_slots=3)
    assert disc.model.lam == 10 and disc.tail_slots == 3
    # __init__ only stores: a bad combination is refused at fit, with a clear message
    bad = Blend([EASE(), ItemKNN()], weights=[1.0])
    assert bad.weights == [1.0]
    with pytest.raises(ValueError, match="one weight per model"):
        bad.fit(_plays())


# --- scikit-learn's own estimator checks on the meta-estimators -----------------------------

from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from aares.conformal.split import SplitConformalClassifier  # noqa: E402
from aares.genre.models import PriorCorrected, ProbabilityAverage  # noqa: E402
from aares.popularity.models import HurdleRegressor  # noqa: E402

#: Why a meta-estimator wrapping the course's DataFrame pipelines fails these checks.
_PASS_THROUGH = {
    "check_estimators_unfitted": "predict before fit fails on the missing fitted member "
    "(AttributeError), not with NotFittedError",
    "check_n_features_in_after_fitting": "X goes to the member pipelines unchanged (the course "
    "DataFrame); the wrapper does not count features",
    "check_n_features_in": "same: no n_features_in_ on the wrapper",
    "check_estimator_sparse_tag": "sparse input is the members' business; the wrapper "
    "declares no input tags",
}
_HURDLE = {
    # it checks it is fitted, and fails on sparse input as its tags say
    **{
        k: v
        for k, v in _PASS_THROUGH.items()
        if k not in ("check_estimator_sparse_tag", "check_estimators_unfitted")
    },
    **dict.fromkeys(
        [
            "check_n_features_in_after_fitting",
            "check_estimators_dtypes",
            "check_regressors_train",
            "check_regressors_no_decision_function",
            "check_fit_idempotent",
            "check_fit_check_is_fitted",
            "check_n_features_in",
        ],
        "the checks' random targets have no zero popularity, which the hurdle needs",
    ),
    "check_estimator_sparse_array": "sparse input is refused by the members with their message",
    "check_estimator_sparse_matrix": "same",
    "check_regressor_data_not_an_array": "y must have a length (the zero mask is built first)",
    "check_supervised_y_2d": "a 2-D y is refused with a clear message instead of a warning",
    "check_fit2d_1sample": "one song is refused by the members with their own message",
    "check_fit2d_1feature": "same, for one feature",
    "check_requires_y_none": "fit without y is refused with the hurdle's own message",
}
_CONFORMAL = {
    **{k: v for k, v in _PASS_THROUGH.items() if k != "check_estimator_sparse_tag"},
    "check_fit_score_takes_y": "the `score` parameter (the conformity score's name) hides "
    "the score method",
    "check_pipeline_consistency": "same: `score` is a parameter",
    "check_estimator_sparse_array": "sparse input is refused by the member with its message",
    "check_estimator_sparse_matrix": "same",
    "check_fit2d_1sample": "one song cannot be split into fit and calibration parts",
}
_EXPECTED = {
    "ProbabilityAverage": _PASS_THROUGH,
    "PriorCorrected": _PASS_THROUGH,
    "HurdleRegressor": _HURDLE,
    "SplitConformalClassifier": _CONFORMAL,
}


@pytest.mark.slow
@parametrize_with_checks(
    [
        ProbabilityAverage(
            [("a", LogisticRegression()), ("b", DecisionTreeClassifier(random_state=0))]
        ),
        PriorCorrected(LogisticRegression()),
        HurdleRegressor(LogisticRegression(), Ridge()),
        SplitConformalClassifier(LogisticRegression(), random_state=0),
    ],
    expected_failed_checks=lambda est: _EXPECTED[type(est).__name__],
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# --- the estimators that read the course's tables: genre and popularity features, models ---

import skops.io as sio  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from aares.genre.features import GenreFeatures, ReleaseDateGenres  # noqa: E402
from aares.genre.model import GenreModel  # noqa: E402
from aares.genre.persist import TRUSTED_TYPES as GENRE_TYPES  # noqa: E402
from aares.popularity.features import (  # noqa: E402
    ArtistProfile,
    FeatureBlocks,
    GenreMultiHot,
    GenreTfidf,
    ListTargetEncoder,
    SongFeatures,
)
from aares.popularity.model import PopularityModel  # noqa: E402
from aares.popularity.persist import TRUSTED_TYPES as POPULARITY_TYPES  # noqa: E402
from conftest import make_feature_frame, make_subset_frame  # noqa: E402

#: Small settings: every check fits in a fraction of a second.
FRAME_ESTIMATORS = [
    GenreFeatures(),
    ReleaseDateGenres(folds=2),
    SongFeatures(),
    ListTargetEncoder("artist_name", keys="value", cv=2),
    GenreMultiHot(top_n=5),
    GenreTfidf(max_features=20, n_components=3),
    ArtistProfile(),
    FeatureBlocks(("song", "genre_te", "tfidf"), cv=2),
    GenreModel("logreg", folds=0),
    PopularityModel("ridge", folds=0),
]

_TABLE = (
    "reads the course's columns by name: the check's plain array is refused with a "
    "ValueError naming the DataFrame and the columns"
)
#: Checks that feed arrays and whose property test_table_estimators_keep_the_contract
#: checks on a table instead.
_ON_A_TABLE = [
    "check_estimators_fit_returns_self",
    "check_dont_overwrite_parameters",
    "check_estimators_overwrite_params",
    "check_fit_idempotent",
    "check_fit_check_is_fitted",
    "check_dict_unchanged",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_fit_score_takes_y",
    "check_pipeline_consistency",
    "check_estimators_pickle",  # never pickled: the skops round trip is checked instead
]
#: The other checks that feed arrays (dtypes, memory layout, sparse matrices, complex
#: numbers, NaN, a column count of 0 or 1) or random targets.
_ARRAYS_ONLY = [
    "check_estimators_dtypes",
    "check_dtype_object",
    "check_f_contiguous_array_estimator",
    "check_readonly_memmap_input",
    "check_complex_data",
    "check_estimators_empty_data_messages",
    "check_estimators_nan_inf",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_estimator_sparse_tag",
    "check_positive_only_tag_during_fit",
    "check_fit2d_1sample",
    "check_fit2d_1feature",
    "check_fit2d_predict1d",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
]
_TRANSFORMER = ["check_transformer_general", "check_transformer_data_not_an_array",
                "check_transformer_preserve_dtypes"]  # fmt: skip
_SUPERVISED = ["check_supervised_y_2d", "check_requires_y_none"]
_CLASSIFIER = ["check_classifier_data_not_an_array", "check_classifiers_classes",
               "check_classifiers_train", "check_classifiers_one_label",
               "check_classifiers_regression_target"]  # fmt: skip
_REGRESSOR = ["check_regressor_data_not_an_array", "check_regressors_train",
              "check_regressors_int", "check_regressors_no_decision_function"]  # fmt: skip


def _table_checks(estimator) -> dict[str, str]:
    names = _ARRAYS_ONLY + (
        _SUPERVISED + _CLASSIFIER if isinstance(estimator, GenreModel)
        else _SUPERVISED + _REGRESSOR if isinstance(estimator, PopularityModel)
        else _TRANSFORMER
    )  # fmt: skip
    reasons = dict.fromkeys(names, _TABLE)
    on_a_table = _ON_A_TABLE + ["check_classifiers_classes"] * isinstance(estimator, GenreModel)
    reasons.update(dict.fromkeys(on_a_table, f"{_TABLE}; test_table_estimators_keep_the_contract "
                                 "checks the same property on a table"))  # fmt: skip
    return reasons


@parametrize_with_checks(FRAME_ESTIMATORS, expected_failed_checks=_table_checks)
def test_sklearn_checks_of_the_table_estimators(estimator, check):
    check(estimator)


def _genre_table(n=90, seed=0):
    frame = make_feature_frame(n, seed=seed, genres=["rock", "pop", "jazz"])
    return frame.drop(columns="genre"), frame["genre"].to_numpy()


def _popularity_table(n=90, seed=0):
    frame = make_subset_frame(n, seed=seed)
    return frame, frame["popularity"].to_numpy(float)


#: A column each estimator reads (a table without it is refused, naming it).
_READS = {
    "GenreFeatures": "tempo",
    "ReleaseDateGenres": "release_date",
    "SongFeatures": "danceability",
    "ListTargetEncoder": "artist_name",
    "GenreMultiHot": "genres",
    "GenreTfidf": "genres",
    "ArtistProfile": "artist_name",
    "FeatureBlocks": "genres",
    "GenreModel": "tempo",
    "PopularityModel": "genres",
}


def _output(estimator, X) -> np.ndarray:
    if hasattr(estimator, "predict"):
        return np.asarray(estimator.predict(X))
    return np.asarray(estimator.transform(X), dtype=float)


def _same(a, b) -> bool:
    if a.dtype.kind == "f":
        return a.shape == b.shape and np.allclose(a, b, equal_nan=True)
    return np.array_equal(a, b)


def _reloaded(model, tmp_path):
    """The fitted ``model`` written and read back as aares stores it (skops, no pickle)."""
    if isinstance(model, (GenreModel, PopularityModel)):
        return type(model).load(model.save(tmp_path / "model.skops"))
    data = sio.dumps(model)
    allowed = set(GENRE_TYPES) | set(POPULARITY_TYPES)
    untrusted = sio.get_untrusted_types(data=data)
    assert set(untrusted) <= allowed, "persist.TRUSTED_TYPES misses a type of this estimator"
    return sio.loads(data, trusted=untrusted)


@pytest.mark.parametrize("estimator", FRAME_ESTIMATORS, ids=lambda e: type(e).__name__)
def test_table_estimators_keep_the_contract(estimator, tmp_path):
    """What the checks of _ON_A_TABLE test with arrays, on the table these estimators read."""
    genre = isinstance(estimator, (GenreFeatures, ReleaseDateGenres, GenreModel))
    X, y = _genre_table() if genre else _popularity_table()
    model = clone(estimator)
    params = repr(model.get_params(deep=True))
    with pytest.raises(NotFittedError):
        _output(model, X)
    assert model.fit(X, y) is model
    assert repr(model.get_params(deep=True)) == params  # fit leaves the parameters alone
    out = _output(model, X)
    assert len(out) == len(X)
    if isinstance(model, GenreModel):  # what check_classifiers_classes asks of a classifier
        assert list(model.classes_) == sorted(set(y)) and set(out) <= set(y)
    state = {k: repr(v) for k, v in vars(model).items()}
    _output(model, X.iloc[:10])
    assert {k: repr(v) for k, v in vars(model).items()} == state  # predicting changes nothing
    assert _same(_output(model.fit(X, y), X), out)  # fitting again: the same model
    assert _same(_output(clone(estimator).fit(X, y), X), out)  # a clone: the same model
    # every row on its own: in another order, in a smaller batch
    order = np.random.default_rng(0).permutation(len(X))
    assert _same(_output(model, X.iloc[order]), out[order])
    assert _same(_output(model, X.iloc[5:15]), out[5:15])
    assert _same(_output(_reloaded(model, tmp_path), X), out)
    # a plain array, or a table without a column it reads: one clear error
    with pytest.raises(ValueError, match="DataFrame"):
        clone(estimator).fit(X.to_numpy(), y)
    column = _READS[type(estimator).__name__]
    with pytest.raises(ValueError, match=column):
        clone(estimator).fit(X.drop(columns=column), y)
