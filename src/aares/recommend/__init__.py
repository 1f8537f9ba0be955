"""Song recommendation (Exercise 3): playlists from seed songs, collaborative filtering on
Last.fm listening, a hybrid of both, and offline evaluation.

Modules: :mod:`~aares.recommend.catalog` (loading, name normalisation, seed search),
:mod:`~aares.recommend.space` (the feature space), :mod:`~aares.recommend.playlist`
(:class:`PlaylistRecommender`), :mod:`~aares.recommend.collaborative` (implicit-feedback
models), :mod:`~aares.recommend.hybrid` (artist linking and blending),
:mod:`~aares.recommend.evaluate` (protocols), :mod:`~aares.recommend.report`.
"""

from __future__ import annotations

import pandas as pd


def markdown_table(frame: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    """A GitHub-flavoured Markdown table of ``frame`` (no index).

    Examples
    --------
    >>> import pandas as pd
    >>> print(markdown_table(pd.DataFrame({"a": [1.0], "b": ["x|y"]})))
    | a | b |
    |---|---|
    | 1.000 | x/y |
    """

    def cell(v) -> str:
        if isinstance(v, float):
            return floatfmt.format(v)
        return str(v).replace("|", "/").replace("\n", " ")

    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    sep = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, sep, *body])
