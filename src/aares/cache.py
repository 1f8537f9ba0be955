"""One on-disk cache for computed arrays: :class:`joblib.Memory`, stored as NPZ (no pickle).

Cross-validation folds and conformal runs take minutes to fit and milliseconds to evaluate
again, so their outputs are kept on disk. :func:`memory` gives a ``joblib.Memory`` whose
entries are NPZ files read with ``allow_pickle=False``: a cached function returns a dict of
numpy arrays (and numbers or strings). The key of an entry is the hash of the call's
arguments; joblib also drops a function's entries when the function's own code changes, and
:func:`code_version` (an argument of the cached functions) adds the source of the modules the
computation depends on and the versions of the libraries that fit the models, so editing a
model, or upgrading scikit-learn, never serves stale predictions.

Example
-------
>>> import tempfile
>>> mem = memory(tempfile.mkdtemp())
>>> square = mem.cache(lambda x: {"y": x**2})
>>> square(np.arange(3))["y"].tolist()
[0, 1, 4]
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import inspect
import os

import joblib
import numpy as np
from joblib._store_backends import FileSystemStoreBackend

__all__ = ["memory", "code_version"]

_OUTPUT = "output.npz"


class _NPZStoreBackend(FileSystemStoreBackend):
    """joblib's file store, with outputs written as NPZ instead of pickles."""

    def dump_item(self, call_id, item, verbose=1):
        if not isinstance(item, dict):
            raise TypeError(f"a cached function must return a dict of arrays, got {type(item)}")
        path = os.path.join(self.location, *call_id)
        if not self._item_exists(path):
            self.create_location(path)

        def write(arrays, filename):
            with open(filename, "wb") as fh:
                np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})

        # joblib writes to a temporary name and renames: readers never see half a file
        self._concurrency_safe_write(item, os.path.join(path, _OUTPUT), write)

    def load_item(self, call_id, verbose=1, timestamp=None, metadata=None):
        filename = os.path.join(self.location, *call_id, _OUTPUT)
        if not self._item_exists(filename):
            raise KeyError(f"no cached output {filename}")
        with np.load(filename, allow_pickle=False) as z:
            return {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}

    def contains_item(self, call_id):
        return self._item_exists(os.path.join(self.location, *call_id, _OUTPUT))


joblib.register_store_backend("aares-npz", _NPZStoreBackend)


def memory(location: str | os.PathLike | None) -> joblib.Memory:
    """A :class:`joblib.Memory` in ``location`` (nothing is stored when None)."""
    if location is None:
        return joblib.Memory(None, verbose=0)
    return joblib.Memory(os.fspath(location), backend="aares-npz", verbose=0)


def code_version(*modules: str, libraries: tuple[str, ...] = ()) -> str:
    """A digest of the source of ``modules`` and the installed versions of ``libraries``."""
    h = hashlib.sha256()
    for name in modules:
        h.update(inspect.getsource(importlib.import_module(name)).encode())
    for lib in ("numpy", *libraries):
        h.update(f"{lib}={importlib.metadata.version(lib)}".encode())
    return h.hexdigest()[:16]
