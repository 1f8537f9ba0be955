"""The errors a user can cause, in a module with no imports, so that the command line
can name them without loading pandas (``aares --help`` stays fast)."""

from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """A data file does not have the shape or the types aares expects."""
