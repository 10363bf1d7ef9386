"""Image ids: the one rule for the name that becomes an image's file or folder in every stage.

An image id is a file stem (``ISIC_0000000``) and is used as a path component:
``images/<id>.png`` in a prepared dataset, ``predictions/<dataset>/<id>/`` for predict. An id
with a separator, or ``.`` / ``..`` (from files named ``..png`` / ``...png``), would point at
the folder above; a leading dot would hide it. Both prepare and predict check ids here.
"""

from __future__ import annotations

from typing import Iterable

from medseglab.errors import DataError


def check_image_id(image_id: str, source) -> str:
    """``image_id`` if it is safe as one path component, else a DataError naming ``source``."""
    if not image_id or "/" in image_id or "\\" in image_id or image_id.startswith("."):
        raise DataError(
            f"{source}: {image_id!r} cannot be an image id (the file name without its extension must not be "
            "empty, start with '.' or contain '/' or '\\'); rename the file"
        )
    return image_id


def check_image_ids(pairs: Iterable[tuple[str, object]]) -> None:
    """Every ``(image_id, source)`` has a valid id and no two sources give the same id."""
    seen: dict[str, object] = {}
    for image_id, source in pairs:
        check_image_id(image_id, source)
        if image_id in seen:
            raise DataError(f"{seen[image_id]} and {source} both give image id {image_id!r}; rename one of them")
        seen[image_id] = source
