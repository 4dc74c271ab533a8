"""Importing this registers every output format."""

from remediator.report import jsonfmt, junit, markdown, sarif, text  # noqa: F401
