"""aares.conformal.course: same p-values as the plainly written reference, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

from aares.conformal import ConformalPrediction
from aares.conformal.course import confidence, credibility, single_label_epsilon
from aares.conformal.reference import reference_p_values


def grid_problem(seed: int, n: int = 40, d: int = 3, levels: int = 3, n_labels: int = 3):
    """Integer features on a small grid: many duplicate points and tied distances."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, levels, size=(n, d)).astype(float)
    y = np.array(["a", "b", "c", "d"])[rng.integers(0, n_labels, n)]
    X_new = rng.integers(0, levels, size=(4, d)).astype(float)
    X_new[0] = X[0]  # an exact duplicate of a training point
    return X, y, X_new


@pytest.mark.parametrize("algorithm", ["kd_tree", "ball_tree", "brute"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_p_values_as_reference_with_ties_and_duplicates(algorithm, seed):
    X, y, X_new = grid_problem(seed)
    knn = KNeighborsClassifier(n_neighbors=3, algorithm=algorithm).fit(X, y)
    cp = ConformalPrediction(knn, X, y)
    expected = reference_p_values(knn, X, y, X_new)
    np.testing.assert_allclose(cp.predict(X_new), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [3, 4])
def test_equals_course_rule_where_the_course_is_right(seed):
    # A kd-tree gives exact zero self-distances: the course's "skip distance 0" is then right.
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(50, 4)).round(1)
    X[10:14] = X[0]
    y = rng.choice(["pop", "rock", "jazz", "metal"], 50)
    knn = NearestNeighbors(algorithm="kd_tree").fit(X, y)
    cp = ConformalPrediction(knn, X, y)
    X_new = np.array([rng.normal(size=4).round(1), X[0], X[20]])
    expected = reference_p_values(knn, X, y, X_new, rule="course")
    np.testing.assert_allclose(cp.predict(X_new), expected, rtol=0, atol=1e-12)


def test_rare_labels_and_undefined_scores_follow_the_reference():
    # One label has a single example (no numerator for it); one new point sits on it.
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 2))
    y = np.where(X[:, 0] > 0, "x", "y")
    y[7] = "solo"
    knn = NearestNeighbors(algorithm="kd_tree").fit(X)
    cp = ConformalPrediction(knn, X, y)
    assert np.isinf(cp.train_scores_[7])
    X_new = np.array([X[7], [5.0, 5.0], [-5.0, 0.0]])
    np.testing.assert_allclose(cp.predict(X_new), reference_p_values(knn, X, y, X_new), atol=1e-12)


def test_self_is_skipped_by_index_not_by_distance():
    # Brute-force distances put a point's self-distance near 1e-7, not 0, in many dimensions.
    rng = np.random.default_rng(6)
    X = rng.normal(size=(60, 20)) * 100
    y = rng.choice(["a", "b"], 60)
    knn = KNeighborsClassifier(algorithm="brute").fit(X, y)
    cp = ConformalPrediction(knn, X, y)
    # The course's flaw: queried together, some points are their own nearest neighbour at a
    # distance > 0, which "skip distance 0" keeps, collapsing their score to about 0.
    dist, idx = knn.kneighbors(X, n_neighbors=1)
    flawed = (dist[:, 0] > 0) & (idx[:, 0] == np.arange(len(X)))
    assert flawed.any()
    assert (cp.train_scores_ > 0).all() and (cp.train_scores_[flawed] > 1e-3).all()
    x = rng.normal(size=20) * 100
    np.testing.assert_allclose(cp.predict(x), reference_p_values(knn, X, y, x), atol=1e-12)


def test_many_points_equal_one_at_a_time_and_small_batches():
    X, y, X_new = grid_problem(7, n=80, levels=4)
    knn = KNeighborsClassifier(algorithm="kd_tree").fit(X, y)
    many = ConformalPrediction(knn, X, y, batch_size=3).predict(X_new)
    cp = ConformalPrediction(knn, X, y)
    one = np.array([cp.predict(x) for x in X_new])
    np.testing.assert_array_equal(many, one)
    assert cp.p_values_.shape == (3,)


def test_interval_credibility_confidence():
    X, y, X_new = grid_problem(8, n=60)
    knn = KNeighborsClassifier(algorithm="kd_tree").fit(X, y)
    cp = ConformalPrediction(knn, X, y)
    p = cp.predict(X_new[1])
    for eps in [0.05, 0.2, 0.5]:
        assert cp.compute_interval(eps).tolist() == sorted(cp.labels_[p >= eps].tolist())
    assert cp.credibility() == p.max()
    assert cp.confidence() == pytest.approx(1 - np.sort(p)[-2])
    sets = cp.predict(X_new) is not None and cp.compute_interval(0.1)
    assert len(sets) == len(X_new)
    np.testing.assert_array_equal(cp.credibility(), credibility(cp.p_values_))
    np.testing.assert_array_equal(cp.confidence(), confidence(cp.p_values_))


def test_single_label_epsilon_matches_a_scan_over_eps():
    rng = np.random.default_rng(9)
    p = rng.integers(1, 50, size=(200, 5)) / 50
    eps_star, idx = single_label_epsilon(p)
    grid = np.arange(1, 1000) / 1000
    for row, e, i in zip(p, eps_star, idx, strict=True):
        single = [g for g in grid if (row >= g).sum() == 1]
        if np.isnan(e):
            assert i == -1 and not single
        else:
            assert single and min(single) == pytest.approx(e + 0.001)  # first grid step above
            assert i == np.argmax(row) and all((row >= g).argmax() == i for g in single)


def test_method_single_label_epsilon_returns_labels():
    X, y, X_new = grid_problem(10, n=50)
    cp = ConformalPrediction(KNeighborsClassifier(algorithm="kd_tree").fit(X, y), X, y)
    cp.predict(X_new)
    eps, labels = cp.single_label_epsilon()
    assert len(eps) == len(labels) == len(X_new)
    for e, label, row in zip(eps, labels, cp.p_values_, strict=True):
        if label is not None:
            assert cp.labels_[np.argmax(row)] == label and 1 - e == pytest.approx(confidence(row))


def test_coverage_on_a_known_distribution():
    # Two overlapping Gaussian classes; exchangeable draws, so P(y in set) >= 1 - eps.
    eps, covered, total = 0.1, 0, 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        n, m = 120, 40
        y = rng.integers(0, 3, n + m)
        X = rng.normal(size=(n + m, 2)) + np.c_[y, y % 2] * 1.0
        knn = NearestNeighbors(algorithm="kd_tree").fit(X[:n])
        cp = ConformalPrediction(knn, X[:n], y[:n])
        cp.predict(X[n:])
        sets = cp.compute_interval(eps)
        covered += sum(t in s for t, s in zip(y[n:], sets, strict=True))
        total += m
    cov = covered / total
    # Binomial error of 480 draws is about 0.014; allow 3 of them below 1 - eps.
    assert cov >= 1 - eps - 3 * np.sqrt(eps * (1 - eps) / total)
    assert cov <= 1 - eps + 0.06  # and not trivially large sets


def test_clear_errors():
    X, y, X_new = grid_problem(11)
    with pytest.raises(NotFittedError, match="not fitted"):
        ConformalPrediction(KNeighborsClassifier(), X, y)
    with pytest.raises(TypeError, match="kneighbors"):
        ConformalPrediction(object(), X, y)
    other = KNeighborsClassifier().fit(X + 1, y)
    with pytest.raises(ValueError, match="other data than X"):
        ConformalPrediction(other, X, y)
    with pytest.raises(ValueError, match="fitted on 39 examples"):
        ConformalPrediction(KNeighborsClassifier().fit(X[1:], y[1:]), X, y)
    knn = KNeighborsClassifier().fit(X, y)
    with pytest.raises(ValueError, match="one label per row"):
        ConformalPrediction(knn, X, y[:-1])
    cp = ConformalPrediction(knn, X, y)
    with pytest.raises(RuntimeError, match="call predict"):
        cp.compute_interval(0.1)
    with pytest.raises(ValueError, match="3 features"):
        cp.predict(np.ones(5))
    cp.predict(X_new[0])
    for bad in [0, 1, -0.1, 1.5, True, "0.1"]:
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            cp.compute_interval(bad)


def test_reference_recomputing_everything_agrees():
    X, y, X_new = grid_problem(12, n=25)
    knn = NearestNeighbors(algorithm="kd_tree").fit(X)
    np.testing.assert_array_equal(
        reference_p_values(knn, X, y, X_new[:2], recompute=True),
        reference_p_values(knn, X, y, X_new[:2]),
    )
