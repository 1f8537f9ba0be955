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
