"""The shared helpers built on libraries: the NPZ fold cache, the Markdown table writer and the
progress bars of steps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aares.cache import code_version, memory
from aares.console import progress_steps
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


def test_progress_steps_show_a_task_a_step_and_nothing_for_instant_work(monkeypatch):
    from rich.progress import Progress

    import aares.console

    made = []
    monkeypatch.setattr(aares.console, "progress", lambda **kw: made.append(kw) or Progress(**kw))
    with progress_steps():
        pass  # never called (an index in step): no bar is made
    assert made == []
    with progress_steps() as step:
        step("merging", 1, 2)
    assert made == [{"transient": True}]
    bar = Progress(transient=True)
    with progress_steps(bar, rate="") as step:
        step("indexing songs", 3, 5)
        step("indexing songs", 5, 5)
        (first,) = bar.tasks
        assert (first.description, first.completed, first.total) == ("indexing songs", 5, 5)
        assert first.fields == {"rate": ""}  # (the bar's own columns can render it)
        step("writing the index", 0, None)  # a new step: a new task, of unknown length
        (second,) = bar.tasks
        assert second.description == "writing the index" and second.total is None
    assert bar.tasks == []  # the steps are over: their task is gone from the caller's bar
