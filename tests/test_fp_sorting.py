"""The matcher's sorts (sorting.py) and the heap setting of serving processes (heap.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from aares.fingerprint.sorting import argsort_keys, radix_sort


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000, 70_000])
@pytest.mark.parametrize("key_bits", [1, 21, 32, 44])
def test_argsort_keys_is_a_stable_argsort(n, key_bits):
    rng = np.random.default_rng(n + key_bits)
    keys = rng.integers(0, 1 << key_bits, n, dtype=np.uint64)
    if n > 4:
        keys[n // 2 :: 3] = keys[1]  # ties: their order must stay
    order = argsort_keys(keys, key_bits)
    assert order.dtype == np.int64
    np.testing.assert_array_equal(order, np.argsort(keys, kind="stable"))


def test_argsort_keys_too_wide_for_packing_falls_back():
    # 60-bit keys and 16 places do not fit 63 bits together: numpy's stable argsort
    keys = np.array([1 << 59, 3, 1 << 59, 0] * 4, dtype=np.uint64)
    np.testing.assert_array_equal(argsort_keys(keys, 60), np.argsort(keys, kind="stable"))


def test_radix_sort_sorts_any_int64_span():
    rng = np.random.default_rng(1)
    for lo, hi in [(0, 2), (-(1 << 40), 1 << 40), (5, 6), (0, 1 << 62)]:
        keys = rng.integers(lo, hi, 5000, dtype=np.int64)
        np.testing.assert_array_equal(radix_sort(keys), np.sort(keys))
    assert radix_sort(np.zeros(0, dtype=np.int64)).size == 0


# Run in a new process: the heap of the test process holds whatever earlier tests freed
# (an in-process `aares fp identify` keeps freed memory on the heap), and a free chunk there
# serves a large allocation whatever the mmap threshold says.
_FAULTS = r"""
import json, resource
import numpy as np
from aares.fingerprint.heap import freed_memory_kept, keep_freed_memory, set_thresholds


def faults_to_touch_again(nbytes):
    # minor page faults of allocating, filling and freeing an array twice (the second time)
    np.ones(nbytes // 8)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    np.ones(nbytes // 8)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


# over glibc's threshold at start (mapped and unmapped each time), under numpy's 4 MB for
# huge pages (a fault per 4 kB page)
size = 3 << 20
out = {"set": set_thresholds(128 << 10, 128 << 10), "default": faults_to_touch_again(size)}
with freed_memory_kept() as kept:
    out["kept"], out["while_kept"] = kept, faults_to_touch_again(size)
out["after"] = faults_to_touch_again(size)
out["keep"] = keep_freed_memory()
out["kept_for_good"] = faults_to_touch_again(size)
print(json.dumps(out))
"""


def test_freed_memory_kept_saves_the_page_faults_of_the_next_array():
    proc = subprocess.run(
        [sys.executable, "-c", _FAULTS], capture_output=True, text=True, check=True
    )  # fmt: skip
    out = json.loads(proc.stdout)
    if not out["set"]:
        pytest.skip("no glibc mallopt here")
    assert out["default"] > 600  # 768 pages faulted in afresh
    assert out["kept"] and out["while_kept"] < 100  # the freed block is reused
    assert out["after"] > 600  # thresholds set back afterwards
    assert out["keep"] and out["kept_for_good"] < 100
