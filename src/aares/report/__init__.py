"""The Part 1 report: sections provided by each capability, rendered to HTML and PDF."""

from aares.report.section import Figure, Heading, Note, Section, Table, Text

__all__ = ["Section", "Text", "Figure", "Table", "Heading", "Note"]
