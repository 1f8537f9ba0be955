"""A tour of the course data: figures and the interpretations computed from them."""

from aares._lazy import lazy_exports

__all__ = ["TourSettings", "run_tour"]

__getattr__, __dir__ = lazy_exports(
    __name__, {"TourSettings": "aares.explore.analysis", "run_tour": "aares.explore.analysis"}
)
