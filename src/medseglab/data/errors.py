"""Kept for imports: the data error lives in :mod:`medseglab.errors` with the others."""

from medseglab.errors import DataError

__all__ = ["DataError"]
