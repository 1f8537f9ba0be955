"""Hybrid recommendations: everyone's listening (artist level) blended with audio similarity.

Last.fm knows *artists* a user plays; the Spotify catalogue knows *songs* and their sound.
:func:`link_artists` joins them by normalised artist name (case, accents, punctuation and a
leading "the" folded). :class:`HybridRecommender` then

- scores every artist for a user with a collaborative model (EASE by default) fitted on all
  users' play counts, and maps the scores onto catalogue songs through their artists;
- seeds a song playlist with the best-known songs of the user's favourite linked artists and
  ranks candidates by ``(1 - blend) * audio similarity + blend * artist score``;
- handles a **new user** from a few liked songs (their artists form a history row that the
  collaborative model scores like any other user) and a **new song** from its features only
  (its vector in the space is its own sound, as it has no artist history).

Example
-------
>>> from aares.recommend.hybrid import link_artists
>>> link_artists(["The Beatles", "Björk"], [["Beatles"], ["Bjork"], ["Nobody"]])[1]
1.0
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from aares.recommend.catalog import normalise_artist_lists, normalise_name
from aares.recommend.collaborative import EASE, LastFM
from aares.recommend.playlist import PlaylistRecommender

__all__ = ["artist_key", "link_artists", "HybridRecommender"]


def artist_key(name: str) -> str:
    """Normalised artist name used for linking (``"The Beatles"`` -> ``"beatles"``)."""
    return _strip_the(normalise_name(name))


def _strip_the(key: str) -> str:
    return key[4:] if key.startswith("the ") else key


def link_artists(lastfm_names, catalogue_artists) -> tuple[dict[int, str], float]:
    """Link Last.fm artist columns to catalogue artists by normalised name.

    Returns ``({lastfm column: artist key}, share of Last.fm artists linked)``.
    """
    in_catalogue = {
        _strip_the(a) for names in normalise_artist_lists(catalogue_artists) for a in names
    }
    links = {}
    for j, key in enumerate(normalise_artist_lists([[n] for n in lastfm_names])):
        key = _strip_the(key[0])
        if key and key in in_catalogue:
            links[j] = key
    return links, len(links) / max(len(lastfm_names), 1)


class HybridRecommender:
    """Song playlists for Last.fm users, new users and new songs.

    Parameters
    ----------
    playlist : a fitted :class:`PlaylistRecommender` over the song catalogue.
    model : collaborative model (default ``EASE(lam=100)``), fitted in :meth:`fit`.
    blend : weight of the collaborative artist score against audio similarity.
    n_seed_artists : favourite linked artists whose best-known songs seed a user's playlist.
    """

    def __init__(
        self, playlist: PlaylistRecommender, model=None, blend: float = 0.4, n_seed_artists: int = 3
    ):
        self.playlist = playlist
        self.model = model
        self.blend = blend
        self.n_seed_artists = n_seed_artists

    def fit(self, lastfm: LastFM):
        """Fit the collaborative model on all users and link artists to the catalogue."""
        self.playlist._check()
        self.lastfm_ = lastfm
        self.model_ = self.model if self.model is not None else EASE(lam=100.0)
        self.model_.fit(lastfm.X)
        cat_keys = [[_strip_the(a) for a in names] for names in self.playlist.artist_norm_]
        self.links_, self.link_rate_ = link_artists(lastfm.artist_names, self.playlist.artists_)
        self.key_to_col_ = {k: j for j, k in self.links_.items()}
        # the catalogue's artist keys replace the plain normalised names for matching scores
        self.song_artist_keys_ = cat_keys
        best: dict[str, int] = {}
        for i, keys in enumerate(cat_keys):
            for k in keys[:1]:
                if (
                    k not in best
                    or self.playlist.popularity_[i] > self.playlist.popularity_[best[k]]
                ):
                    best[k] = i
        self.best_song_ = best
        return self

    def _check(self):
        if not hasattr(self, "model_"):
            raise ValueError("HybridRecommender is not fitted; call fit(lastfm) first")

    def user_row(self, user_id: int) -> sp.csr_matrix:
        """The play-count row of a Last.fm user id."""
        self._check()
        return self.lastfm_.X[self.lastfm_.row_of(user_id)]

    def artist_scores(self, row: sp.csr_matrix, top: int = 200) -> pd.DataFrame:
        """Collaborative scores of unseen artists for a history row (best first)."""
        self._check()
        scores = self.model_.score(row)[0]
        scores[row.indices] = -np.inf
        order = np.argsort(-scores)[:top]
        return pd.DataFrame(
            {
                "artist": self.lastfm_.artist_names[order],
                "score": scores[order],
                "in_catalogue": [j in self.links_ for j in order],
                "col": order,
            }
        )

    def _song_scores(self, row: sp.csr_matrix) -> dict[str, float]:
        # collaborative artist scores (seen artists included), scaled to [0, 1], as a map
        # from catalogue artist key to score
        s = self.model_.score(row)[0]
        s = s - s.min()
        s = s / max(s.max(), 1e-12)
        s[row.indices] = np.maximum(s[row.indices], 0.5)  # known favourites stay welcome
        return {key: float(s[j]) for j, key in self.links_.items()}

    def _recommend(self, seeds, row, n, **kwargs) -> pd.DataFrame:
        scores = self._song_scores(row)
        # PlaylistRecommender matches artist scores on its normalised names: map keys back
        by_name = {}
        for names, keys in zip(self.playlist.artist_norm_, self.song_artist_keys_, strict=True):
            for a, k in zip(names, keys, strict=True):
                if k in scores:
                    by_name[a] = scores[k]
        return self.playlist.recommend(
            seeds, n=n, artist_scores=by_name, artist_blend=self.blend, **kwargs
        )

    def recommend_user(self, user_id: int, n: int = 10, **kwargs) -> pd.DataFrame:
        """A song playlist for a Last.fm user: seeds from favourite artists, blended ranking."""
        row = self.user_row(user_id)
        order = row.indices[np.argsort(-row.data)]
        seeds = []
        for j in order:
            key = self.links_.get(int(j))
            if key is not None and key in self.best_song_:
                seeds.append(self.best_song_[key])
            if len(seeds) >= self.n_seed_artists:
                break
        if not seeds:
            raise ValueError(
                f"none of user {user_id}'s artists is in the song catalogue; "
                "try `aares recommend user --artists-only`"
            )
        return self._recommend(seeds, row, n, **kwargs)

    def history_from_songs(self, rows) -> sp.csr_matrix:
        """A new user's Last.fm-style history from catalogue song rows they like."""
        self._check()
        cols = sorted(
            {
                self.key_to_col_[k]
                for r in rows
                for k in self.song_artist_keys_[int(r)]
                if k in self.key_to_col_
            }
        )
        data = np.ones(len(cols))
        return sp.csr_matrix((data, ([0] * len(cols), cols)), shape=(1, self.lastfm_.X.shape[1]))

    def recommend_new_user(self, liked_rows, n: int = 10, **kwargs) -> pd.DataFrame:
        """A playlist for someone known only by a few liked catalogue songs."""
        row = self.history_from_songs(liked_rows)
        if row.nnz == 0:
            # no linked artist: fall back to audio similarity alone
            return self.playlist.recommend(list(liked_rows), n=n, **kwargs)
        return self._recommend(list(liked_rows), row, n, **kwargs)

    def recommend_new_song(self, features: pd.DataFrame, n: int = 10, **kwargs) -> pd.DataFrame:
        """A playlist around a song that is not in the catalogue, from its features only."""
        self.playlist._check()
        v = self.playlist.space_.transform(features, normalise=True)
        return self.playlist.recommend(
            [], n=n, seed_vectors=v[:1], seed_features=features.iloc[:1], **kwargs
        )
