"""Importing this registers every output format."""

from remediator.report import jsonfmt, text  # noqa: F401
