"""The ``genres`` column of the Exercise 2 subset: counts, co-occurrence and a mapping.

The lists are parsed by :func:`aares.data.parse_str_list` (through ``load_subset``): never
``eval``. This module works on the parsed lists: how many songs have none, which
micro-genres are frequent and which go together, and how each micro-genre maps onto the
22 genres of Exercise 1, by the words of its name and by the Exercise 1 genre classifier
applied to its songs.

Example
-------
>>> import pandas as pd
>>> lists = pd.Series([["dance pop", "pop"], [], ["pop"]])
>>> genre_summary(lists)["songs_without_genre"]
1
>>> map_by_words("deep punk rock")
('rock', 'rock')
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "EXERCISE1_GENRES",
    "WORD_RULES",
    "genre_summary",
    "top_genres",
    "cooccurrence",
    "map_by_words",
    "map_by_classifier",
    "genre_mapping",
    "song_genres",
]

#: The 22 genres of the Exercise 1 training file.
EXERCISE1_GENRES = [
    "blues", "chanson", "classical", "country", "dance", "disco", "edm", "electro", "folk",
    "hip hop", "jazz", "latin", "metal", "pop", "punk", "r&b", "rap", "reggae", "rock",
    "salsa", "soul", "techno",
]  # fmt: skip

#: Words (or phrases) of micro-genre names and the Exercise 1 genre they point to.
#: Exercise 1 names point to themselves; the rest are the usual sub-styles.
WORD_RULES: dict[str, str] = {
    **{g: g for g in EXERCISE1_GENRES},
    "hip-hop": "hip hop", "trap": "hip hop", "drill": "hip hop", "grime": "rap",
    "house": "edm", "trance": "edm", "dubstep": "edm", "big room": "edm", "brostep": "edm",
    "drum and bass": "edm", "electronica": "electro", "electronic": "electro",
    "electropop": "electro", "electroclash": "electro", "minimal": "techno",
    "hardcore": "punk", "emo": "punk", "grunge": "rock", "rockabilly": "rock",
    "permanent wave": "rock", "mellow gold": "rock", "new wave": "rock", "shoegaze": "rock",
    "post-punk": "punk", "thrash": "metal", "metalcore": "metal", "deathcore": "metal",
    "djent": "metal", "doom": "metal", "funk": "soul", "motown": "soul", "gospel": "soul",
    "neo soul": "soul", "rnb": "r&b", "urban contemporary": "r&b", "quiet storm": "r&b",
    "new jack swing": "r&b", "adult standards": "jazz", "swing": "jazz", "bebop": "jazz",
    "bossa nova": "latin", "reggaeton": "latin", "bachata": "latin", "cumbia": "latin",
    "merengue": "latin", "tango": "latin", "bolero": "latin", "flamenco": "latin",
    "mariachi": "latin", "ranchera": "latin", "banda": "latin", "sertanejo": "latin",
    "timba": "salsa", "son cubano": "salsa", "dancehall": "reggae", "ska": "reggae",
    "dub": "reggae", "roots reggae": "reggae", "singer-songwriter": "folk",
    "americana": "country", "bluegrass": "country", "honky tonk": "country",
    "outlaw": "country", "orchestra": "classical", "baroque": "classical",
    "opera": "classical", "romantic era": "classical", "early music": "classical",
    "soundtrack": "classical", "compositional ambient": "classical", "piano": "classical",
    "schlager": "pop", "boy band": "pop", "girl group": "pop", "idol": "pop",
    "variete francaise": "chanson", "french": "chanson", "nu-disco": "disco",
    "italo": "disco", "hi-nrg": "disco", "eurodance": "dance", "dance": "dance",
    "bop": "jazz", "hard bop": "jazz", "big band": "jazz", "stride": "jazz", "lounge": "jazz",
    "hardstyle": "edm", "rawstyle": "edm", "complextro": "edm", "future bass": "edm",
    "filthstep": "edm", "new rave": "electro", "indietronica": "electro",
    "synthpop": "pop", "europop": "pop", "britpop": "pop", "new romantic": "pop",
    "partyschlager": "pop", "british invasion": "rock", "merseybeat": "rock",
    "beatlesque": "rock", "protopunk": "punk", "turntablism": "hip hop", "tropical": "latin",
}  # fmt: skip

_RULE_RE = {phrase: re.compile(rf"(?<![\w&]){re.escape(phrase)}(?![\w&])") for phrase in WORD_RULES}


def _lists(genres: pd.Series) -> list[list[str]]:
    return [list(g) if isinstance(g, (list, tuple)) else [] for g in genres.tolist()]


def genre_summary(genres: pd.Series) -> dict[str, float]:
    """Counts of the ``genres`` lists: songs, songs without genre, distinct micro-genres.

    Examples
    --------
    >>> genre_summary(pd.Series([["pop"], []]))["share_without_genre"]
    0.5
    """
    lists = _lists(genres)
    n = [len(g) for g in lists]
    counts = Counter(g for gs in lists for g in gs)
    return {
        "songs": len(lists),
        "songs_without_genre": int(sum(k == 0 for k in n)),
        "share_without_genre": float(np.mean([k == 0 for k in n])) if lists else 0.0,
        "distinct_micro_genres": len(counts),
        "micro_genres_seen_once": int(sum(c == 1 for c in counts.values())),
        "mean_genres_per_song": float(np.mean(n)) if lists else 0.0,
        "max_genres_per_song": int(max(n, default=0)),
    }


def top_genres(genres: pd.Series, popularity: pd.Series | None = None, n: int = 20):
    """The ``n`` most frequent micro-genres: songs, share of songs, popularity stats."""
    lists = _lists(genres)
    counts = Counter(g for gs in lists for g in gs).most_common(n)
    out = pd.DataFrame(counts, columns=["micro_genre", "songs"]).set_index("micro_genre")
    out["share"] = out["songs"] / max(len(lists), 1)
    if popularity is not None:
        pop = np.asarray(popularity, dtype=float)
        for g in out.index:
            vals = pop[[g in gs for gs in lists]]
            out.loc[g, "mean_popularity"] = vals.mean()
            out.loc[g, "share_zero"] = (vals == 0).mean()
    return out


def cooccurrence(genres: pd.Series, names: Sequence[str]) -> pd.DataFrame:
    """Songs holding both micro-genres, for every pair of ``names`` (diagonal: songs).

    Examples
    --------
    >>> cooccurrence(pd.Series([["a", "b"], ["a"]]), ["a", "b"]).to_numpy().tolist()
    [[2, 1], [1, 1]]
    """
    names = list(names)
    col = {g: j for j, g in enumerate(names)}
    m = np.zeros((len(genres), len(names)), dtype=np.int64)
    for i, gs in enumerate(_lists(genres)):
        for g in gs:
            if g in col:
                m[i, col[g]] = 1
    return pd.DataFrame(m.T @ m, index=names, columns=names)


def map_by_words(micro_genre: str) -> tuple[str | None, str | None]:
    """The Exercise 1 genre a micro-genre name points to, and the word that decided it.

    Spotify names put the main style last ("pop punk" is punk, "punk rock" is rock),
    so the rule matched furthest to the right wins; at the same place the longer phrase
    wins ("hip hop" over "hop"). Returns ``(None, None)`` when no rule matches.

    Examples
    --------
    >>> map_by_words("pop punk"), map_by_words("southern hip hop"), map_by_words("k-indie")
    (('punk', 'punk'), ('hip hop', 'hip hop'), (None, None))
    """
    name = micro_genre.lower().strip()
    best = None
    for phrase, rx in _RULE_RE.items():
        for m in rx.finditer(name):
            key = (m.end(), len(phrase))
            if best is None or key > best[0]:
                best = (key, phrase)
    if best is None:
        return None, None
    return WORD_RULES[best[1]], best[1]


def map_by_classifier(subset: pd.DataFrame, predicted: Sequence[str]) -> pd.DataFrame:
    """Per micro-genre, the genre the Exercise 1 classifier predicts most for its songs.

    ``predicted`` holds one predicted Exercise 1 genre per song of ``subset``.
    Returns ``classifier_genre``, ``classifier_share`` (share of the micro-genre's songs
    with that prediction) per micro-genre.
    """
    predicted = np.asarray(predicted, dtype=object)
    if len(predicted) != len(subset):
        raise ValueError(f"need one prediction per song ({len(subset)}); got {len(predicted)}")
    rows = [(g, p) for gs, p in zip(_lists(subset["genres"]), predicted, strict=True) for g in gs]
    if not rows:
        return pd.DataFrame(columns=["classifier_genre", "classifier_share"])
    t = pd.DataFrame(rows, columns=["micro_genre", "pred"])
    counts = t.groupby(["micro_genre", "pred"]).size().rename("n").reset_index()
    counts = counts.sort_values(["micro_genre", "n", "pred"], ascending=[True, False, True])
    top = counts.drop_duplicates("micro_genre").set_index("micro_genre")
    total = t.groupby("micro_genre").size()
    return pd.DataFrame(
        {"classifier_genre": top["pred"], "classifier_share": top["n"] / total[top.index]}
    )


def genre_mapping(subset: pd.DataFrame, predicted: Sequence[str] | None = None) -> pd.DataFrame:
    """Every micro-genre of ``subset`` with its Exercise 1 genre, by words and by classifier.

    Columns: ``songs``, ``mean_popularity``, ``word_genre``, ``word`` (the word that
    decided), and with ``predicted`` also ``classifier_genre``, ``classifier_share`` and
    ``agree``; ``genre`` is the word mapping when a rule matched, else the classifier's.
    """
    lists = _lists(subset["genres"])
    pop = subset["popularity"].to_numpy(float) if "popularity" in subset else None
    counts = Counter(g for gs in lists for g in gs)
    out = pd.DataFrame(
        index=pd.Index(sorted(counts, key=lambda g: (-counts[g], g)), name="micro_genre")
    )
    out["songs"] = [counts[g] for g in out.index]
    if pop is not None:
        sums: Counter = Counter()
        for gs, p in zip(lists, pop, strict=True):
            for g in gs:
                sums[g] += p
        out["mean_popularity"] = [sums[g] / counts[g] for g in out.index]
    words = [map_by_words(g) for g in out.index]
    out["word_genre"] = [w[0] for w in words]
    out["word"] = [w[1] for w in words]
    out["genre"] = out["word_genre"]
    if predicted is not None:
        clf = map_by_classifier(subset, predicted).reindex(out.index)
        out["classifier_genre"] = clf["classifier_genre"]
        out["classifier_share"] = clf["classifier_share"].astype(float)
        out["agree"] = out["word_genre"] == out["classifier_genre"]
        out["genre"] = out["word_genre"].fillna(out["classifier_genre"])
    out["mapped_by"] = np.where(
        out["word_genre"].notna(), "words", "classifier" if predicted is not None else "none"
    )
    out.loc[out["genre"].isna(), "mapped_by"] = "none"
    return out


def song_genres(subset: pd.DataFrame, mapping: pd.DataFrame) -> pd.Series:
    """One Exercise 1 genre per song: the most frequent mapping of its micro-genres.

    Ties go to the genre of the song's most frequent micro-genre; songs without
    micro-genres (or none mapped) get missing values.
    """
    genre = mapping["genre"].to_dict()
    songs = mapping["songs"].to_dict()
    out = []
    for gs in _lists(subset["genres"]):
        votes = Counter(genre[g] for g in gs if isinstance(genre.get(g), str))
        if not votes:
            out.append(None)
            continue
        top = max(votes.values())
        tied = {g for g, v in votes.items() if v == top}
        by_size = sorted((g for g in gs if genre.get(g) in tied), key=lambda g: -songs[g])
        out.append(genre[by_size[0]])
    return pd.Series(out, index=subset.index, name="genre", dtype=object)
