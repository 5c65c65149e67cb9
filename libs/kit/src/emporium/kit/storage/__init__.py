"""Object storage: media files (product images ...) by key, on S3 or in a local folder.

``make_storage(settings)`` picks ``S3Storage`` or ``LocalStorage`` from ``StorageSettings``;
both keep the ``ObjectStorage`` contract (see ``emporium.kit.storage.base``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emporium.kit.storage.base import ObjectInfo, ObjectStorage, ObjectStream, StoredObject
from emporium.kit.storage.body import Body
from emporium.kit.storage.errors import (
    InvalidKey,
    ObjectNotFound,
    StorageAccessDenied,
    StorageError,
    StorageUnavailable,
)
from emporium.kit.storage.factory import make_storage
from emporium.kit.storage.local import LocalStorage

if TYPE_CHECKING:
    from emporium.kit.storage.s3 import S3Storage

__all__ = [
    "Body",
    "InvalidKey",
    "LocalStorage",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStorage",
    "ObjectStream",
    "S3Storage",
    "StorageAccessDenied",
    "StorageError",
    "StorageUnavailable",
    "StoredObject",
    "make_storage",
]


def __getattr__(name: str) -> object:
    # ``S3Storage`` loads aiobotocore (slow to import): only when it is asked for.
    if name == "S3Storage":
        from emporium.kit.storage.s3 import S3Storage

        return S3Storage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
