"""What object storage raises: one family, so callers can map it to HTTP answers."""

from __future__ import annotations

__all__ = [
    "InvalidKey",
    "ObjectNotFound",
    "StorageAccessDenied",
    "StorageError",
    "StorageUnavailable",
]


class StorageError(Exception):
    """Base of every object-storage error."""


class StorageUnavailable(StorageError):
    """The store did not answer in time or refused the connection (retry later: 503)."""


class StorageAccessDenied(StorageError):
    """The store refused our credentials or permissions (a configuration problem)."""


class ObjectNotFound(StorageError, KeyError):
    """No object under this key (404)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"no object under key {self.key!r}"


class InvalidKey(StorageError, ValueError):
    """The key is not a safe relative path (absolute, ``..``, empty segment, control char)."""
