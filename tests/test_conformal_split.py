"""aares.conformal.split and analysis: scores, coverage on known distributions, errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from aares.conformal.analysis import (
    ConformalRun,
    cooccurrence,
    eps_curve,
    fit_run,
    method_table,
    resplit_runs,
    resplit_table,
    set_metrics,
    single_genre_examples,
)
from aares.conformal.split import (
    SplitConformalClassifier,
    class_scores,
    conformal_p_values,
)
from conftest import make_feature_frame


def gaussian_classes(n: int, seed: int, n_classes: int = 4):
    """Overlapping Gaussian classes with unequal sizes: a known, exchangeable distribution."""
    rng = np.random.default_rng(seed)
    weights = np.arange(1, n_classes + 1) / np.arange(1, n_classes + 1).sum()
    y = rng.choice(n_classes, size=n, p=weights)
    centres = np.c_[np.cos(np.arange(n_classes)), np.sin(np.arange(n_classes))] * 1.5
    return centres[y] + rng.normal(size=(n, 2)), np.array(list("abcdefgh"))[y]


def test_scores_by_hand():
    p = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    np.testing.assert_allclose(class_scores(p, "lac"), 1 - p)
    np.testing.assert_allclose(class_scores(p, "aps"), [[0.5, 0.8, 1.0], [0.9, 1.0, 0.8]])
    # randomised APS: the label's own mass is counted with weight u
    u = np.array([0.5, 0.0])
    np.testing.assert_allclose(class_scores(p, "aps", u=u), [[0.25, 0.65, 0.9], [0.8, 0.9, 0.0]])
    raps = class_scores(p, "raps", raps_lambda=0.1, raps_k=1)
    np.testing.assert_allclose(raps, [[0.5, 0.9, 1.2], [1.0, 1.2, 0.8]])
    with pytest.raises(ValueError, match="unknown score"):
        class_scores(p, "hinge2")


def test_p_values_by_hand_and_smoothed():
    cal = np.array([0.1, 0.2, 0.2, 0.4])
    np.testing.assert_allclose(conformal_p_values(cal, np.array([0.2, 0.5])), [4 / 5, 1 / 5])
    smooth = conformal_p_values(cal, np.array([0.2]), theta=np.array([0.5]))
    np.testing.assert_allclose(smooth, [(1 + 0.5 * 3) / 5])


@pytest.mark.parametrize(
    "params",
    [
        {"score": "lac"},
        {"score": "aps"},
        {"score": "raps", "raps_lambda": 0.05},
        {"score": "lac", "cv": 3},
        {"score": "lac", "mondrian": True},
    ],
)
def test_coverage_holds_on_a_known_distribution(params):
    eps, hits, total = 0.1, 0, 0
    per_class_hits = np.zeros(4)
    per_class_total = np.zeros(4)
    for seed in range(6):
        X, y = gaussian_classes(900, seed)
        # 150 calibration songs a seed: the error bound below counts test noise only
        cp = SplitConformalClassifier(
            LogisticRegression(), calibration_size=0.25, random_state=seed, **params
        )
        cp.fit(X[:600], y[:600])
        sets = cp.predict_set(X[600:], eps)
        codes = np.searchsorted(cp.classes_, y[600:])
        hit = sets[np.arange(len(codes)), codes]
        hits += hit.sum()
        total += len(hit)
        np.add.at(per_class_hits, codes, hit)
        np.add.at(per_class_total, codes, 1)
    cov = hits / total
    err = np.sqrt(eps * (1 - eps) / total)  # binomial error of the average (~0.007 here)
    assert 1 - eps - 3 * err <= cov <= 1 - eps + 0.05
    if params.get("mondrian"):
        # Every class keeps its coverage, the smallest (about 160 test and 30 calibration
        # songs a seed) included; its error adds test and calibration noise.
        per_class = per_class_hits / per_class_total
        err_c = np.sqrt(eps * (1 - eps) * (1 / per_class_total + 4 / per_class_total))
        assert (per_class >= 1 - eps - 3 * err_c).all()


def test_smoothed_p_values_give_exact_coverage_and_are_uniform():
    covs = []
    for seed in range(6):
        X, y = gaussian_classes(1200, seed + 10)
        cp = SplitConformalClassifier(LogisticRegression(), smooth=True, random_state=seed)
        cp.fit(X[:600], y[:600])
        p = cp.predict_pvalues(X[600:])
        p_true = p[np.arange(600), np.searchsorted(cp.classes_, y[600:])]
        covs.append(np.mean(p_true > 0.2))
    # exact 1 - eps on average (not only at least): within 3 binomial errors of 3,600 draws
    assert abs(np.mean(covs) - 0.8) <= 3 * np.sqrt(0.8 * 0.2 / 3600)


def test_settings_change_without_refitting_and_stored_runs_agree():
    X, y = gaussian_classes(500, 1)
    cp = SplitConformalClassifier(LogisticRegression(), cv=4, random_state=0).fit(X[:400], y[:400])
    lac = cp.predict_pvalues(X[400:])
    cp.set_params(score="aps", mondrian=True)
    aps = cp.predict_pvalues(X[400:])
    assert not np.allclose(lac, aps)
    fresh = SplitConformalClassifier(
        LogisticRegression(), cv=4, random_state=0, score="aps", mondrian=True
    ).fit(X[:400], y[:400])
    np.testing.assert_allclose(fresh.predict_pvalues(X[400:]), aps)
    stored = SplitConformalClassifier.from_calibration(
        cp.classes_,
        cp.cal_proba_,
        cp.cal_labels_,
        cp.cal_folds_,
        cp.cal_u_,
        score="aps",
        mondrian=True,
    )
    np.testing.assert_allclose(stored.pvalues_from_proba(cp.fold_proba(X[400:])), aps)
    with pytest.raises(NotFittedError, match="no classifier"):
        stored.predict_pvalues(X[400:])
    with pytest.raises(ValueError, match="n_models=4"):
        stored.pvalues_from_proba(cp.fold_proba(X[400:])[:2])


def test_sets_from_stored_probabilities_hold_the_labels_above_eps_by_probability():
    X, y = gaussian_classes(500, 1)
    for cv in ("split", 3):  # one model, and fold models whose probabilities are averaged
        cp = SplitConformalClassifier(LogisticRegression(), cv=cv, random_state=0)
        cp.fit(X[:400], y[:400])
        fold = cp.fold_proba(X[400:])
        inside = cp.pvalues_from_proba(fold) > 0.1
        sets = cp.sets_from_proba(fold if cv == 3 else fold[0], 0.1)
        proba = fold.mean(axis=0)
        for row, labels in enumerate(sets):
            assert sorted(labels) == sorted(str(c) for c in cp.classes_[inside[row]])
            p = [proba[row, list(cp.classes_.astype(str)).index(c)] for c in labels]
            assert p == sorted(p, reverse=True)
        assert any(len(s) > 1 for s in sets)  # sets, not only the top label


def test_prefit_calibration_and_predict():
    X, y = gaussian_classes(600, 2)
    model = LogisticRegression().fit(X[:300], y[:300])
    cp = SplitConformalClassifier(model, cv="prefit").calibrate(X[300:450], y[300:450])
    assert cp.estimators_[0] is model
    np.testing.assert_array_equal(cp.predict(X[450:]), model.predict(X[450:]))
    same = SplitConformalClassifier(model, cv="prefit").fit(X[300:450], y[300:450])
    np.testing.assert_allclose(same.predict_pvalues(X[450:]), cp.predict_pvalues(X[450:]))


def test_clear_errors():
    X, y = gaussian_classes(300, 3)
    with pytest.raises(NotFittedError, match="not fitted"):
        SplitConformalClassifier(LogisticRegression(), cv="prefit").fit(X, y)
    with pytest.raises(NotFittedError, match="not calibrated"):
        SplitConformalClassifier(LogisticRegression()).predict_set(X, 0.1)
    with pytest.raises(TypeError, match="predict_proba"):
        SplitConformalClassifier(LinearSVC()).fit(X, y)
    with pytest.raises(ValueError, match="cv must be"):
        SplitConformalClassifier(LogisticRegression(), cv=1).fit(X, y)
    with pytest.raises(ValueError, match="unknown score"):
        SplitConformalClassifier(LogisticRegression(), score="bogus").fit(X, y)
    with pytest.raises(ValueError, match="300 rows but y has 299"):
        SplitConformalClassifier(LogisticRegression()).fit(X, y[:-1])
    lone = y.astype(object)
    lone[0] = "chanson"  # a genre of one song cannot be split between fit and calibration
    with pytest.raises(ValueError, match=r"every genre; too few: 'chanson' \(1\)"):
        SplitConformalClassifier(LogisticRegression()).fit(X, lone)
    model = LogisticRegression().fit(X, y)
    cp = SplitConformalClassifier(model, cv="prefit")
    bad = y.copy()
    bad = bad.astype(object)
    bad[:2] = "zydeco"
    with pytest.raises(ValueError, match=r"\['zydeco'\] are not among the classifier's classes"):
        cp.calibrate(X, bad)
    cp.calibrate(X, y)
    for eps in [0, 1, -0.5, 2, True, None, "0.05"]:
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            cp.predict_set(X, eps)
    only_some = y[y != "d"][:100]
    with pytest.raises(ValueError, match=r"no calibration example of class\(es\) \['d'\]"):
        SplitConformalClassifier(model, cv="prefit", mondrian=True).calibrate(
            X[y != "d"][:100], only_some
        )


def test_set_metrics_and_cooccurrence():
    sets = np.array([[1, 1, 0], [0, 1, 0], [1, 1, 1], [0, 0, 0]], dtype=bool)
    y = np.array([0, 2, 2, 1])
    m = set_metrics(sets, y, ["a", "b", "c"])
    assert m["coverage"] == 0.5 and m["mean_size"] == 1.5 and m["median_size"] == 1.5
    assert m["singletons"] == 0.25 and m["empty"] == 0.25
    assert m["per_class"].tolist() == [1.0, 0.0, 0.5] and m["worst_class"] == "b"
    share = cooccurrence(sets, ["a", "b", "c"])
    assert share.loc["a", "b"] == 1.0 and share.loc["b", "a"] == pytest.approx(2 / 3)
    assert share.loc["c", "c"] == 1.0


def test_fit_run_on_a_small_frame_round_trips(tmp_path):
    frame = make_feature_frame(n=400, seed=3)
    from aares.genre.models import make_model

    run = fit_run(
        frame, "logreg", cv="3", seed=0, cache_dir=tmp_path, estimator=make_model("logreg")
    )
    assert run.test_fold_proba.shape == (3, 60, 3) and len(run.cal_labels) == 340
    again = fit_run(frame, "logreg", cv="3", seed=0, cache_dir=tmp_path)  # from the NPZ
    np.testing.assert_array_equal(again.test_fold_proba, run.test_fold_proba)
    assert isinstance(again, ConformalRun) and again.classes.tolist() == run.classes.tolist()
    table = method_table(run, 0.1)
    assert {"LAC", "APS", "Mondrian LAC"} <= set(table.index)
    assert table["coverage"].between(0.6, 1.0).all()
    curve = eps_curve(run, [0.05, 0.2, 0.5], score="lac")
    assert curve["mean_size"].is_monotonic_decreasing
    ex = single_genre_examples(run, run.p_values(score="lac"), n=5)
    assert len(ex) == 5 and set(ex.columns) >= {"eps_single", "right", "true_genre"}
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        method_table(run, 1.5)


def test_training_conditional_mondrian_widens_small_classes_only():
    from scipy.stats import binom

    X, y = gaussian_classes(1200, 4)
    kw = dict(mondrian=True, cv="split", calibration_size=0.5, random_state=0)
    plain = SplitConformalClassifier(LogisticRegression(), **kw).fit(X[:1000], y[:1000])
    strict = SplitConformalClassifier(LogisticRegression(), delta=0.1, **kw).fit(X[:1000], y[:1000])
    levels = strict.class_eps(0.1)
    n_c = np.bincount(strict.cal_labels_)
    for level, n in zip(levels, n_c, strict=True):
        k = next(k for k in range(1, n + 2) if k > n or binom.sf(k - 1, n, 0.9) <= 0.1)
        # the level keeps a label exactly while at least n - k + 1 calibration scores are >= it
        assert (n - k + 1) / (n + 1) > level > (n - k) / (n + 1)
    assert (levels <= 0.1).all() and np.all(np.diff(levels[np.argsort(n_c)]) >= -0.02)
    np.testing.assert_array_equal(plain.class_eps(0.1), np.full(4, 0.1))
    wide, narrow = strict.predict_set(X[1000:], 0.1), plain.predict_set(X[1000:], 0.1)
    assert (wide >= narrow).all() and wide.sum() > narrow.sum()
    with pytest.raises(ValueError, match="delta must be"):
        SplitConformalClassifier(LogisticRegression(), delta=1.5).fit(X, y)


def test_new_deals_keep_genre_counts_and_average_out_test_noise():
    X, y = gaussian_classes(3000, 6)
    cp = SplitConformalClassifier(LogisticRegression(), calibration_size=0.3, random_state=0)
    cp.fit(X[:2000], y[:2000])
    run = ConformalRun(
        classes=cp.classes_,
        cal_proba=cp.cal_proba_,
        cal_labels=cp.cal_labels_,
        cal_folds=cp.cal_folds_,
        cal_u=cp.cal_u_,
        test_fold_proba=cp.fold_proba(X[2000:]),
        test_labels=cp._codes(y[2000:]),
        test_index=np.arange(2000, 3000),
        model="logreg",
        cv="split",
    )
    pool = np.r_[run.cal_proba, run.test_fold_proba[0]]
    deals = list(resplit_runs(run, n_splits=3, seed=1))
    for dealt in deals:
        np.testing.assert_array_equal(np.bincount(dealt.cal_labels), np.bincount(run.cal_labels))
        np.testing.assert_array_equal(np.bincount(dealt.test_labels), np.bincount(run.test_labels))
        # every song of the pool is on exactly one side
        both = np.r_[dealt.cal_proba, dealt.test_fold_proba[0]]
        assert sorted(map(tuple, both)) == sorted(map(tuple, pool))
    assert not np.array_equal(deals[0].test_index, deals[1].test_index)
    methods = {"LAC": {"score": "lac"}, "Mondrian LAC": {"score": "lac", "mondrian": True}}
    table, genres = resplit_table(run, 0.1, methods, n_splits=30, seed=0)
    assert list(table.index) == list(methods) and list(genres.columns) == list(methods)
    # coverage averaged over 30 deals of 1,000 test songs: within ~3 binomial SDs of >= 0.9
    assert table.loc["LAC", "coverage"] >= 0.9 - 3 * np.sqrt(0.09 / 30_000)
    assert (genres["Mondrian LAC"] >= 0.9 - 0.03).all()
    assert table.loc["Mondrian LAC", "worst_class_coverage"] == genres["Mondrian LAC"].min()
    assert 0.0 <= table.loc["Mondrian LAC", "all_genres_reach"] <= 1.0
    cross = ConformalRun(**{**run.__dict__, "cv": "3"})
    with pytest.raises(ValueError, match="split calibration"):
        next(resplit_runs(cross))


def test_write_analysis_and_report_section(tmp_path):
    from aares.conformal.analysis import write_analysis
    from aares.conformal.report import report_section
    from aares.genre.models import make_model

    frame = make_feature_frame(n=300, seed=5)
    summary = write_analysis(
        frame,
        tmp_path / "conformal",
        model="logreg",
        cv="3",
        eps=0.1,
        estimator=make_model("logreg"),
    )
    assert summary["test_songs"] == 45 and 0 <= summary["accuracy"] <= 1
    section = report_section("unused", tmp_path)
    assert section.title.startswith("Conformal") and len(section.figures()) == 3
    assert all(f.path.exists() for f in section.figures())
    text = " ".join(b.text for b in section.blocks if hasattr(b, "text"))
    marg = summary["methods"][summary["marginal_method"]]
    assert summary["marginal_method"] == "LAC" and f"{marg['coverage']:.3f}" in text
    assert summary["dealt"] is None  # cross-conformal: no new deals
    # the worst genre's coverage comes with its interval, which holds the measured value
    mond = summary["methods"][summary["mondrian_method"]]
    lo, hi = summary["mondrian_worst"]["interval"]
    assert lo <= mond["worst_class_coverage"] <= hi and f"{lo:.3f}-{hi:.3f}" in text

    summary = write_analysis(
        frame,
        tmp_path / "conformal",
        model="logreg",
        cv="split",
        eps=0.1,
        estimator=make_model("logreg"),
        deals=5,
    )
    assert summary["dealt"]["deals"] == 5
    section = report_section("unused", tmp_path)
    text = " ".join(b.text for b in section.blocks if hasattr(b, "text"))
    mond = summary["dealt"]["methods"]["Mondrian LAC smoothed"]
    assert f"{mond['worst_class_coverage']:.3f}" in text and "dealt again" in text


def test_cli_errors_are_one_red_line(tmp_path):
    from typer.testing import CliRunner

    from aares.cli import app

    runner = CliRunner()
    res = runner.invoke(
        app, ["conformal", "analyse", "--data", str(tmp_path), "--out", str(tmp_path)]
    )
    assert res.exit_code == 1 and "error" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["conformal", "analyse", "--data", str(tmp_path), "--cv", "1"])
    assert res.exit_code == 1 and "--cv must be" in res.output


def test_coverage_interval_is_clopper_pearson():
    from scipy.stats import binomtest

    from aares.conformal.analysis import coverage_interval

    hits, n = np.array([0, 5, 64, 73]), np.array([10, 40, 73, 73])
    lo, hi = coverage_interval(hits, n)
    for k, m, a, b in zip(hits, n, lo, hi, strict=True):
        ci = binomtest(int(k), int(m)).proportion_ci(0.95, method="exact")
        assert np.isclose(a, ci.low) and np.isclose(b, ci.high)
    assert lo[0] == 0.0 and hi[-1] == 1.0
    with pytest.raises(ValueError, match="hits <= n"):
        coverage_interval([5], [4])
