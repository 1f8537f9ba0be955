"""Tests of aares.recommend: seed search, playlist rules, collaborative split and models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from aares.data import DataError
from aares.recommend.catalog import (
    AmbiguousSeed,
    SeedIndex,
    SeedNotFound,
    core_title,
    load_catalogue_cached,
    normalise_name,
)
from aares.recommend.collaborative import (
    ALS,
    EASE,
    Blend,
    Discovery,
    ItemKNN,
    MostPopular,
    RP3beta,
    evaluate_model,
    holdout_split,
    load_lastfm,
    ranking_metrics,
    weight_matrix,
)
from aares.recommend.evaluate import (
    evaluate_collaborative,
    evaluate_playlists,
    micro_genre_pool,
    playlist_measures,
)
from aares.recommend.hybrid import HybridRecommender, link_artists
from aares.recommend.playlist import PlaylistRecommender
from aares.recommend.space import FeatureSpace

TITLES = ["Hey Jude", "Yesterday", "Let It Be", "Imagine", "Halo", "Hello", "Wonderwall", "Creep"]


def make_catalogue(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A small synthetic catalogue with the recommendation file's columns and many versions."""
    rng = np.random.default_rng(seed)
    n_artists = 40
    artist_style = rng.random((n_artists, 4))
    rows = []
    for i in range(n):
        a = int(rng.integers(n_artists))
        base = TITLES[i % len(TITLES)] if i < 80 else f"Song {i}"
        suffix = rng.choice(
            ["", " - Remastered 2011", " (Live)", " - Radio Edit", " (feat. Guest)"]
        )
        style = np.clip(artist_style[a] + 0.05 * rng.standard_normal(4), 0, 1)  # 0-1 features
        rows.append(
            {
                "id": f"id{i:05d}",
                "name": base + suffix,
                "artists": [f"Artist {a}"] + (["Guest"] if "feat" in suffix else []),
                "danceability": style[0],
                "energy": style[1],
                "valence": style[2],
                "acousticness": style[3],
                "speechiness": rng.random() * 0.3,
                "instrumentalness": rng.random() ** 3,
                "liveness": rng.random() * 0.5,
                "loudness": -20 + 15 * style[1],
                "tempo": 70 + 100 * style[0],
                "duration_ms": int(rng.integers(120_000, 360_000)),
                "mode": int(rng.integers(2)),
                "key": int(rng.integers(12)),
                "year": int(1960 + 60 * style[2]),
                "popularity": int(rng.integers(0, 100)),
                "explicit": False,
                "release_date": "2000",
            }
        )
    # two famous, unrelated songs sharing one title
    rows[0]["name"], rows[0]["artists"] = "Hey Jude - Remastered 2015", ["The Beatles"]
    rows[1]["name"], rows[1]["artists"] = "Hey Jude", ["Wilson Pickett"]
    rows[2]["name"], rows[2]["artists"] = "Señorita (feat. Lil Jon) [Live]", ["Justin Timberlake"]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def catalogue() -> pd.DataFrame:
    return make_catalogue()


@pytest.fixture(scope="module")
def recommender(catalogue) -> PlaylistRecommender:
    return PlaylistRecommender().fit(catalogue)


# ----------------------------------------------------------------------------- names and seeds


def test_core_title_strips_versions():
    assert core_title("Let It Be - Remastered 2009") == "let it be"
    assert core_title("Yesterday (Live)") == "yesterday"
    assert core_title("Señorita (feat. Lil Jon) [Live]") == "senorita"
    assert core_title("Hello ft. Someone") == "hello"
    assert core_title("Dancing with Myself") == "dancing with myself"
    assert core_title("(I Can't Get No) Satisfaction") == "satisfaction"
    assert core_title("(Live)") == "live"
    assert normalise_name("Beyoncé") == "beyonce"
    assert normalise_name("Привет") == "привет"  # non-Latin scripts are kept


def test_find_tolerant(recommender):
    idx = recommender.find("SENORITA", artist="justin timberlake")
    assert recommender.names_[idx].startswith("Señorita")
    assert recommender.find("hey jude - live", artist="Beatles") == 0
    assert recommender.find("Hey Jude", artist="wilson pickett") == 1


def test_ambiguous_title_lists_artists(recommender):
    with pytest.raises(AmbiguousSeed) as err:
        recommender.find("hey jude")
    msg = str(err.value)
    assert "--artist" in msg and "The Beatles" in msg and "Wilson Pickett" in msg
    assert len(err.value.candidates) >= 2


def test_missing_title_suggests_closest(recommender):
    with pytest.raises(SeedNotFound) as err:
        recommender.find("Hey Jud")
    assert "closest matches" in str(err.value)
    assert any("Hey Jude" in s for s in err.value.suggestions)
    with pytest.raises(SeedNotFound):
        recommender.find("Hey Jude", artist="Nobody At All")


def test_seed_index_picks_most_popular_version():
    idx = SeedIndex(["A - Live", "A"], [["X"], ["X"]], popularity=[10, 50])
    assert idx.find("a") == 1


# ----------------------------------------------------------------------------- playlist rules


def _check_rules(rec: PlaylistRecommender, seeds, pl: pd.DataFrame, cap: int = 2):
    rows = pl["row"].tolist()
    assert not set(rows) & set(seeds), "a seed is in its playlist"
    keys = [k for r in seeds + rows for k in set(rec.keys_[r])]
    assert len(keys) == len(set(keys)), "two versions of one song"
    firsts = pd.Series(
        [rec.artist_norm_[r][0] for r in rows] + [rec.artist_norm_[s][0] for s in seeds]
    )
    assert firsts.value_counts().max() <= cap, "artist cap broken"
    assert pl["why"].str.len().gt(0).all()


@pytest.mark.parametrize("diversity", [0.0, 0.5])
def test_playlist_rules_single_seed(recommender, diversity):
    for seed in range(0, 80, 7):
        pl = recommender.recommend([seed], n=10, diversity=diversity)
        assert len(pl) == 10
        _check_rules(recommender, [seed], pl)


def test_playlist_multi_seed_covers_each_seed(recommender):
    seeds = [5, 300]
    pl = recommender.recommend(seeds, n=10)
    _check_rules(recommender, seeds, pl)
    # picks alternate between the seeds' neighbourhoods
    assert set(pl["seed"]) == {recommender.names_[5], recommender.names_[300]}


def test_artist_cap_override(recommender):
    pl = recommender.recommend([10], n=10, max_per_artist=1)
    _check_rules(recommender, [10], pl, cap=1)


def test_diversity_spreads_playlist(recommender):
    def spread(pl):
        V = recommender.vectors_[pl["row"].to_numpy()]
        return 1 - (V @ V.T).mean()

    close = recommender.recommend([20], n=10, diversity=0.0)
    varied = recommender.recommend([20], n=10, diversity=0.8)
    assert spread(varied) > spread(close)


def test_bad_arguments(recommender, catalogue):
    with pytest.raises(ValueError, match="diversity"):
        recommender.recommend([0], diversity=2)
    with pytest.raises(ValueError, match="outside"):
        recommender.recommend([10**6])
    with pytest.raises(ValueError, match="not fitted"):
        PlaylistRecommender().recommend([0])
    with pytest.raises(ValueError, match="artist_weight"):
        PlaylistRecommender(artist_weight=3).fit(catalogue)


def test_hnsw_index_agrees_with_exact(catalogue):
    pytest.importorskip("faiss", reason="the approximate index is the optional extra aares[ann]")
    exact = PlaylistRecommender(index="exact").fit(catalogue)
    approx = PlaylistRecommender(index="hnsw").fit(catalogue)
    a = exact.recommend([3], n=10)["row"].tolist()
    b = approx.recommend([3], n=10)["row"].tolist()
    assert len(set(a) & set(b)) >= 8


def test_space_scaling_and_lda(catalogue):
    space = FeatureSpace(lda_weight=0.0).fit(catalogue)
    Z = space.transform(catalogue, normalise=False)
    assert np.allclose(Z.mean(axis=0), 0, atol=1e-4)
    assert "key" not in space.columns and "tempo" in space.columns
    labels = np.array([a[0] for a in catalogue["artists"]])
    lda = FeatureSpace(lda_weight=0.5).fit(catalogue, labels)
    V = lda.transform(catalogue)
    assert V.shape[1] > Z.shape[1]
    assert np.allclose(np.linalg.norm(V, axis=1), 1, atol=1e-5)


def test_playlist_measures_detects_duplicates():
    names = ["Song", "Song - Live", "Other", "Third"]
    artists = [["A"], ["A"], ["B"], ["C"]]
    genres = [["rock"], ["rock"], ["pop"], ["rock"]]
    m = playlist_measures([[1, 2], [0, 2]], [0, 3], genres, artists, names, [1, 2, 3, 4])
    assert m["dup_playlists"] == 0.5
    assert m["genre_agreement"] == 0.5


def test_catalogue_cache(tmp_path, catalogue):
    csv = tmp_path / "cat.csv"
    frame = catalogue.copy()
    frame["artists"] = frame["artists"].map(repr)
    frame.to_csv(csv, index=False)
    a = load_catalogue_cached(csv, tmp_path / "cache")
    b = load_catalogue_cached(csv, tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 1
    assert b["artists"].iloc[0] == a["artists"].iloc[0] == ["The Beatles"]


def _release_layout(cat: pd.DataFrame) -> pd.DataFrame:
    """The 600k release's layout: no year, id_artists and time_signature, 0/1 explicit."""
    out = cat.drop(columns="year").assign(
        release_date=[f"{y}-05-01" for y in cat["year"]],
        explicit=0,
        id_artists="['x']",
        time_signature=4,
    )
    out["artists"] = [repr(list(a)) for a in cat["artists"]]
    return out.rename(columns={"name": "Name", "energy": "ENERGY"})


def test_any_catalogue_layout_is_read_and_cached_per_checksum(catalogue, tmp_path):
    from aares.recommend import load_recommender

    src = tmp_path / "tracks.csv"
    _release_layout(catalogue).to_csv(src, index=False)
    cache = tmp_path / "cache"
    cat = load_catalogue_cached(src, cache)
    assert cat["year"].tolist() == catalogue["year"].tolist()
    assert cat["name"].tolist() == catalogue["name"].tolist()
    assert cat["artists"].tolist() == catalogue["artists"].tolist()
    # the same bytes under another name reuse the entry; changed bytes get their own
    (tmp_path / "copy.csv").write_bytes(src.read_bytes())
    load_catalogue_cached(tmp_path / "copy.csv", cache)
    assert len({p.name.rsplit("-", 1)[1] for p in cache.glob("*.parquet")}) == 1
    changed = _release_layout(catalogue.assign(popularity=1))
    changed.to_csv(src, index=False)
    assert (load_catalogue_cached(src, cache)["popularity"] == 1).all()
    assert len({p.name.rsplit("-", 1)[1] for p in cache.glob("*.parquet")}) == 2
    rec = load_recommender(src, cache_dir=cache)
    pl = rec.playlist(["Hey Jude"], ["Beatles"], n=5)
    assert len(pl) == 5 and "Hey Jude - Remastered 2015" not in pl["name"].tolist()


def test_catalogue_errors_name_file_column_and_row(catalogue, tmp_path):
    bad = _release_layout(catalogue).astype({"tempo": object})
    bad.loc[7, "tempo"] = "n/a"
    src = tmp_path / "bad.csv"
    bad.to_csv(src, index=False)
    with pytest.raises(DataError, match=r"bad\.csv: column 'tempo', row 8 \(line 9\)"):
        load_catalogue_cached(src, tmp_path / "cache")
    _release_layout(catalogue).drop(columns="artists").to_parquet(tmp_path / "no.parquet")
    with pytest.raises(DataError, match=r"no\.parquet: missing required column\(s\) 'artists'"):
        load_catalogue_cached(tmp_path / "no.parquet")


# ----------------------------------------------------------------------------- collaborative


def make_interactions(n_users=120, n_items=60, seed=0) -> sp.csr_matrix:
    """Users in 3 taste groups, each playing mostly its group's items."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n_users, n_items))
    for u in range(n_users):
        g = u % 3
        items = rng.choice(
            np.arange(g * 20, g * 20 + 20), size=int(rng.integers(8, 16)), replace=False
        )
        X[u, items] = rng.integers(1, 500, len(items))
        X[u, rng.integers(n_items)] = 3
    return sp.csr_matrix(X)


def test_holdout_split_has_no_leakage():
    X = make_interactions()
    train, test, users = holdout_split(X, 0.2, min_items=10, seed=0)
    assert train.multiply(test).nnz == 0
    counts = np.diff(X.tocsr().indptr)
    assert (counts[users] >= 10).all()
    # together they are exactly the kept users' interactions
    assert abs((train + test) - X[users]).sum() == 0
    assert np.array_equal(np.diff(test.indptr), np.round(0.2 * counts[users]).astype(int))
    # the validation split is carved from train only
    vtr, vte, _ = holdout_split(train, 0.2, min_items=0, seed=1)
    assert vte.multiply(test).nnz == 0 and vtr.multiply(test).nnz == 0
    # same seed, same split
    train2, _, _ = holdout_split(X, 0.2, min_items=10, seed=0)
    assert (train2 != train).nnz == 0


def test_models_beat_popularity_on_group_data():
    X = make_interactions()
    train, test, _ = holdout_split(X, 0.2, min_items=10, seed=0)
    pop = evaluate_model(MostPopular(), train, test)["ndcg"]
    for model in [
        ItemKNN(k=20),
        EASE(lam=10),
        ALS(factors=8, iterations=5),
        Blend([EASE(lam=10), ItemKNN(k=20)], [0.7, 0.3]),
    ]:
        res = evaluate_model(model, train, test)
        assert res["ndcg"] > pop, model
        assert 0 < res["coverage"] <= 1


def test_recommend_excludes_seen_and_penalty_raises_coverage():
    X = make_interactions()
    model = EASE(lam=10).fit(X)
    recs = model.recommend(X, n=5)
    for u in range(X.shape[0]):
        assert not set(recs[u]) & set(X[u].indices)
    plain = len(np.unique(recs))
    disc = len(np.unique(EASE(lam=10, popularity_penalty=1.0).fit(X).recommend(X, n=5)))
    assert disc >= plain


def test_ranking_metrics_and_weighting():
    m = ranking_metrics(np.array([[2, 0]]), sp.csr_matrix([[1, 0, 0]]), 3, k=2)
    assert m["recall"] == 1.0 and m["precision"] == 0.5
    assert m["ndcg"] == pytest.approx(1 / np.log2(3))
    W = weight_matrix(sp.csr_matrix([[0, 10.0], [1, 1000]]), "log")
    assert W[1, 1] == pytest.approx(np.log1p(1000))
    with pytest.raises(ValueError, match="weighting"):
        weight_matrix(sp.csr_matrix([[1.0]]), "nope")


def test_load_lastfm(tmp_path):
    (tmp_path / "user_artists.dat").write_text(
        "//userID\tartistID\tweight\n2\t51\t10\n2\t52\t5\n3\t51\t7\n"
    )
    (tmp_path / "artists.dat").write_text("51\tThe Beatles\turl\tpic\n52\tBjörk\turl\tpic\n")
    d = load_lastfm(tmp_path)
    assert d.X.shape == (2, 2) and d.X.sum() == 22
    assert list(d.artist_names) == ["The Beatles", "Björk"]
    (tmp_path / "user_artists.dat").write_text("//userID\tartistID\tweight\n2\tabc\t10\n")
    with pytest.raises(ValueError, match="line 2"):
        load_lastfm(tmp_path)


def test_hybrid_links_and_new_user(catalogue, recommender):
    links, rate = link_artists(["the beatles", "Artist 1", "Unknown"], catalogue["artists"])
    assert rate == pytest.approx(2 / 3) and set(links) == {0, 1}
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.integers(0, 3, (30, 3)) * rng.integers(1, 50, (30, 3)), dtype=float)
    from aares.recommend.collaborative import LastFM

    lfm = LastFM(X, np.arange(30), np.arange(3), np.array(["The Beatles", "Artist 1", "Artist 2"]))
    hyb = HybridRecommender(recommender, model=EASE(lam=1.0)).fit(lfm)
    pl = hyb.recommend_new_user([0, 5], n=8)
    _check_rules(recommender, [0, 5], pl)
    new = hyb.recommend_new_song(catalogue.iloc[[7]], n=5)
    assert len(new) == 5 and (new["seed"] == "new song").all()
    assert new["why"].str.contains("~").all()  # reasons name the features, as for a known seed


# ----------------------------------------------------------------------------- CLI and real data


def test_cli_errors_are_one_line(tmp_path):
    from aares.cli import app

    res = CliRunner().invoke(app, ["recommend", "playlist", "x", "--data", str(tmp_path)])
    assert res.exit_code == 1
    assert "file not found" in res.output and "Traceback" not in res.output


@pytest.mark.data
def test_real_catalogue_playlists(data_dir, tmp_path):
    from aares.recommend.jobs import build_playlist_recommender

    rec = build_playlist_recommender(data_dir, tmp_path / "cache")
    with pytest.raises(AmbiguousSeed, match="Queen"):
        rec.find("bohemian rhapsody")
    with pytest.raises(SeedNotFound, match="closest"):
        rec.find("Bohemian Rapsody Zzz")
    seeds = [rec.find("Bohemian Rhapsody", "Queen"), rec.find("Yesterday", "Beatles")]
    for s in seeds:
        _check_rules(rec, [s], rec.recommend([s], n=10))
    _check_rules(rec, seeds, rec.recommend(seeds, n=10, diversity=0.3))


# ----------------------------------------------------------------------------- session 2


def test_allowed_mask_and_artist_scores(recommender, catalogue):
    allowed = np.zeros(len(catalogue), bool)
    allowed[::3] = True
    pl = recommender.recommend([1], n=10, allowed=allowed)
    assert len(pl) == 10 and allowed[pl["row"]].all()
    _check_rules(recommender, [1], pl)
    with pytest.raises(ValueError, match="mask"):
        recommender.recommend([1], allowed=allowed[:5])
    # a strong collaborative score puts that artist's songs first
    fav = recommender.artist_norm_[200][0]
    pl = recommender.recommend([1], n=5, artist_scores={fav: 1.0}, artist_blend=0.9)
    assert recommender.artist_norm_[pl["row"].iloc[0]][0] == fav
    assert pl["similarity"].is_monotonic_decreasing


def test_ease_cholesky_matches_closed_form():
    X = make_interactions()
    model = EASE(lam=5.0).fit(X)
    W = weight_matrix(X, "binary")[:, model.active_]
    G = (W.T @ W).toarray() + 5.0 * np.eye(W.shape[1])
    P = np.linalg.inv(G)
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    assert np.allclose(model.B_, B, atol=1e-4 * np.abs(B).max())


def test_bm25_weighting_is_the_textbook_formula():
    # the formula aares computed by hand before it used implicit's bm25_weight
    X = make_interactions(n_users=60, seed=1).tolil()
    X[:, 0] = 1.0  # an item every user played: idf < 0, kept as a tiny positive strength
    k1, b = 100.0, 0.8
    dense = X.toarray()
    idf = np.log(len(dense)) - np.log1p((dense > 0).sum(axis=0))
    length = dense.sum(axis=1)
    norm = (1 - b) + b * length / length.mean()
    expected = dense * (k1 + 1) / (k1 * norm[:, None] + dense) * idf[None, :]
    expected = np.where(dense > 0, np.maximum(expected, 1e-6), 0.0)
    W = weight_matrix(X, "bm25", k1=k1, b=b)
    assert np.allclose(W.toarray(), expected, rtol=1e-12, atol=0)
    assert W[:, 0].toarray().ravel().tolist() == [1e-6] * 60
    assert weight_matrix(sp.csr_matrix((3, 2)), "bm25").nnz == 0


def test_als_scores_solve_each_users_least_squares():
    # a user's factors minimise sum_i c_i (p_i - u.y_i)^2 + reg |u|^2 with c = alpha * w on
    # played items (implicit's confidences at fit) and c = 1, p = 0 elsewhere
    X = make_interactions(n_users=80, seed=2)
    model = ALS(factors=8, iterations=5, alpha=4.0).fit(X)
    new_user = sp.csr_matrix(X[:3].toarray()[::-1])  # rows in another order: new users
    W = weight_matrix(new_user, "binary")[:, model.active_]
    Y = model.item_factors_.astype(np.float64)
    expected = []
    for u in range(W.shape[0]):
        c = np.ones(len(Y))
        p = np.zeros(len(Y))
        played = W[u].indices
        c[played], p[played] = 4.0 * W[u].data, 1.0
        A = (Y.T * c) @ Y + model.regularization * np.eye(Y.shape[1])
        expected.append(np.linalg.solve(A, (Y.T * c) @ p) @ Y.T)
    got = model.score(new_user)[:, model.active_]
    assert np.allclose(got, np.array(expected), atol=1e-4 * np.abs(expected).max())


def test_rp3beta_and_discovery_slots():
    X = make_interactions(n_users=150, n_items=120, seed=3)
    train, test, _ = holdout_split(X, 0.2, min_items=10, seed=0)
    pop = evaluate_model(MostPopular(), train, test)["ndcg"]
    assert evaluate_model(RP3beta(k=30), train, test)["ndcg"] > pop
    head_model = EASE(lam=10)
    disc = Discovery(head_model, RP3beta(min_item_users=1), tail_slots=3, tail_max_users=2)
    disc.fit(train)
    recs = disc.recommend(train, n=10)
    head = disc.model_.recommend(train, n=10)  # the fitted clone of head_model
    assert (recs[:, :7] == head[:, :7]).all()  # top positions keep the accuracy model's picks
    rare = disc.popularity_ <= 2
    # items handed out by the tail slots (not the head's own fill-ins)
    tail = [i for u in range(len(recs)) for i in recs[u, 7:] if rare[i] and i not in head[u]]
    assert len(tail) > 0
    assert np.bincount(tail).max() <= disc.max_repeats  # the long tail is spread over users
    for u in range(train.shape[0]):
        assert len(set(recs[u])) == 10 and not set(recs[u]) & set(train[u].indices)
    assert len(np.unique(recs)) > len(np.unique(head))


def test_collaborative_grid_respects_minimum_coverage():
    X = make_interactions(n_users=150, n_items=120, seed=3)
    disc = Discovery(EASE(lam=10), RP3beta(min_item_users=1), tail_slots=4, tail_max_users=3)
    free = evaluate_collaborative(X, {"f": ([EASE(lam=10), disc], 0.0)})
    assert free["setting"].iloc[0].startswith("EASE")  # best NDCG wins without a floor
    floor = free["val_coverage"].iloc[0] + 1e-9
    forced = evaluate_collaborative(X, {"f": ([EASE(lam=10), disc], floor)})
    assert forced["setting"].iloc[0].startswith("Discovery")
    assert forced["val_coverage"].iloc[0] >= floor
    assert {"ndcg", "recall", "precision", "coverage", "fit_s"} <= set(forced.columns)
    tried = forced.attrs["validation"]  # every setting's validation metrics are kept
    assert len(tried) == 2 and tried["coverage"].max() == forced["val_coverage"].iloc[0]


def test_evaluate_playlists_protocol(catalogue):
    subset = pd.DataFrame(
        {
            "id": catalogue["id"],
            # micro-genres are artist-level tags, as on Spotify; a third of songs has none
            "genres": [
                [f"g{sum(map(ord, a[0])) % 6}"] if i % 3 else []
                for i, a in enumerate(catalogue["artists"])
            ],
        }
    )
    genres = micro_genre_pool(catalogue, subset)
    assert sum(map(len, genres)) == (np.arange(len(catalogue)) % 3 > 0).sum()
    table = evaluate_playlists(catalogue, genres, {"aares": {}}, halves=("tune", "report"))
    report = table[table["seeds"] == "report"].set_index("setting")
    assert list(report.index) == [
        "random picks",
        "plain 9 features",
        "plain 9 + year",
        "plain 9 + year + popularity",
        "aares",
    ]
    assert report.loc["aares", "dup_playlists"] == 0.0
    assert report.loc["aares", "genre_agreement"] > report.loc["random picks", "genre_agreement"]
    assert report.loc["aares", "mean_length"] == 10
    tune = table[table["seeds"] == "tune"]
    assert tune["playlists"].iloc[0] + report["playlists"].iloc[0] == len(catalogue) * 2 // 3


def test_report_section_from_outputs(tmp_path):
    from aares.io import write_json
    from aares.recommend.report import report_section
    from aares.report.section import Figure, Section, Table

    folder = tmp_path / "recommend"
    folder.mkdir()
    rows = [
        {"seeds": h, "setting": s, "genre_agreement": g, "dup_playlists": 0.0,
         "artist_diversity": 0.9, "popularity_bias": 1.0}
        for h in ("tune", "report")
        for s, g in (("random picks", 0.11), ("aares default", 0.5))
    ]  # fmt: skip
    write_json(folder / "playlist_measures.json", rows)
    write_json(
        folder / "collaborative.json",
        [{"model": "EASE", "setting": "EASE()", "val_ndcg": 0.17, "ndcg": 0.23, "recall": 0.19,
          "precision": 0.19, "coverage": 0.05, "fit_s": 7.0}],
    )  # fmt: skip
    section = report_section(tmp_path / "no-data", tmp_path)
    assert isinstance(section, Section)
    tables = [b for b in section.blocks if isinstance(b, Table)]
    assert len(tables) == 2 and len(tables[0].frame) == 2  # report half only
    figures = [b for b in section.blocks if isinstance(b, Figure)]
    assert figures and figures[0].path.is_file()


def test_cli_on_a_synthetic_data_folder(tmp_path, catalogue):
    from aares.cli import app

    frame = catalogue.copy()
    frame["artists"] = frame["artists"].map(repr)
    frame.to_csv(tmp_path / "spotify_dataset_recommendation.csv", index=False)
    lfm = tmp_path / "interactions" / "lastfm-hetrec2011"
    lfm.mkdir(parents=True)
    plays = [(u, a, 10 * (u + a)) for u in range(2, 12) for a in range(1, 6) if (u + a) % 3]
    (lfm / "user_artists.dat").write_text(
        "//userID\tartistID\tweight\n" + "".join(f"{u}\t{a}\t{w}\n" for u, a, w in plays)
    )
    (lfm / "artists.dat").write_text(
        "".join(f"{a}\tArtist {a}\turl\tpic\n" for a in range(1, 5)) + "5\tThe Beatles\tu\tp\n"
    )
    opts = ["--data", str(tmp_path), "--cache", str(tmp_path / "cache")]
    run = CliRunner().invoke
    res = run(app, ["recommend", "playlist", "hey jude", "--artist", "beatles", "-n", "5", *opts])
    assert res.exit_code == 0, res.output
    assert "Playlist for Hey Jude - Remastered 2015 - The Beatles" in res.output
    res = run(app, ["recommend", "playlist", "hey jude", *opts])
    assert res.exit_code == 1 and "--artist" in res.output and "Traceback" not in res.output
    res = run(app, ["recommend", "user", "--like", "Hey Jude", "-a", "Beatles", "-n", "4", *opts])
    assert res.exit_code == 0, res.output
    res = run(app, ["recommend", "user", "3", "-n", "4", *opts])
    assert res.exit_code == 0 and "Artists for user 3" in res.output, res.output
    res = run(app, ["recommend", "song", "energy=0.9", "tempo=120", "-n", "3", *opts])
    assert res.exit_code == 0 and "new song" in res.output, res.output
