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
