"""The one error type for bad input data: the message names the file or value and the fix."""

from __future__ import annotations


class DataError(ValueError):
    """Input data is missing, unreadable or malformed; the message says which file and how to fix it."""
