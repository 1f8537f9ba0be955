"""Song recommendation (Exercise 3): playlists from seed songs, collaborative filtering on
Last.fm listening, a hybrid of both, and offline evaluation.

Modules: :mod:`~aares.recommend.catalog` (loading, name normalisation, seed search),
:mod:`~aares.recommend.space` (the feature space), :mod:`~aares.recommend.playlist`
(:class:`PlaylistRecommender`), :mod:`~aares.recommend.collaborative` (implicit-feedback
models), :mod:`~aares.recommend.hybrid` (artist linking and blending),
:mod:`~aares.recommend.evaluate` (protocols), :mod:`~aares.recommend.report`.
"""

from __future__ import annotations

from aares._lazy import lazy_exports

__all__ = ["HybridRecommender", "PlaylistRecommender", "load_recommender"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "HybridRecommender": "aares.recommend.hybrid",
        "PlaylistRecommender": "aares.recommend.playlist",
    },
)


def load_recommender(catalogue, *, cache_dir=None, genres_file=None, **params):
    """A fitted :class:`~aares.recommend.playlist.PlaylistRecommender` over any catalogue.

    Parameters
    ----------
    catalogue : path-like
        A CSV/Parquet/JSON-lines file with the Kaggle column layout (the course's file, the
        174k original, the 600k-track release): see
        :func:`~aares.recommend.catalog.read_catalogue`.
    cache_dir : path-like, optional
        Folder of the parsed catalogue's Parquet cache (one entry per file checksum).
    genres_file : path-like, optional
        A labelled file such as ``spotify_dataset_train.csv``: lets the song space learn
        its genre metric (LDA); without it the space uses the plain features.
    **params
        :class:`~aares.recommend.playlist.PlaylistRecommender` parameters.

    Examples
    --------
    >>> rec = load_recommender("tracks.csv", cache_dir="cache")           # doctest: +SKIP
    >>> rec.playlist(["Bohemian Rhapsody"], ["Queen"], n=10)             # doctest: +SKIP
    """
    from aares.data import load_train
    from aares.recommend.catalog import load_catalogue_cached
    from aares.recommend.playlist import PlaylistRecommender

    songs = load_catalogue_cached(catalogue, cache_dir)
    train = load_train(genres_file) if genres_file is not None else None
    genres = train["genre"] if train is not None else None
    return PlaylistRecommender(**params).fit(songs, genres, train)
