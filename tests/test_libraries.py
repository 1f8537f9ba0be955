"""The shared helpers built on libraries: the NPZ fold cache and the Markdown table writer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aares.cache import code_version, memory
from aares.markdown import markdown_table


def test_cache_stores_npz_only_and_recomputes_when_the_code_key_changes(tmp_path):
    calls = []

    def fold(x, code):
        calls.append(code)
        return {"proba": np.outer(x, x), "classes": np.array(["a", "b"]), "fit_seconds": 1.5}

    cached = memory(tmp_path).cache(fold)
    first = cached(np.arange(2.0), "v1")
    again = cached(np.arange(2.0), "v1")
    assert calls == ["v1"]  # the second call was read from disk
    np.testing.assert_array_equal(again["proba"], first["proba"])
    assert again["classes"].tolist() == ["a", "b"] and again["fit_seconds"] == 1.5
    cached(np.arange(2.0), "v2")  # another code version: computed again
    assert calls == ["v1", "v2"]
    stored = list(tmp_path.rglob("output.*"))
    assert stored and all(p.suffix == ".npz" for p in stored)
    assert not list(tmp_path.rglob("*.pkl"))
    for path in stored:  # readable without pickle
        with np.load(path, allow_pickle=False) as z:
            assert set(z.files) == {"proba", "classes", "fit_seconds"}


def test_cache_refuses_outputs_that_are_not_arrays(tmp_path):
    cached = memory(tmp_path).cache(lambda: [1, 2])
    with pytest.raises(TypeError, match="dict of arrays"):
        cached()


def test_code_version_follows_the_source():
    a = code_version("aares.markdown")
    assert a == code_version("aares.markdown") and len(a) == 16
    assert a != code_version("aares.markdown", "aares.cache")


def test_markdown_table_aligns_escapes_and_formats():
    frame = pd.DataFrame(
        {"model": ["a|b", "c"], "f1": [0.5, np.nan], "n": [3, 40]},
        index=pd.Index(["x", "y"], name="row"),
    )
    assert markdown_table(frame, {"f1": "{:.2f}"}, index=True).splitlines() == [
        "| row   | model   |   f1 |   n |",
        "|:------|:--------|-----:|----:|",  # text left, numbers right
        "| x     | a\\|b    | 0.50 |   3 |",  # a "|" in a cell is escaped
        "| y     | c       |      |  40 |",  # NaN shown empty
    ]
