"""The Part 1 report: sections provided by each capability, rendered to HTML and PDF."""

from aares._lazy import lazy_exports

__all__ = ["Section", "Text", "Figure", "Table", "Heading", "Note"]

# loaded on first use, so that `aares report --help` does not build the dataclasses
__getattr__, __dir__ = lazy_exports(__name__, {name: "aares.report.section" for name in __all__})
