"""Build the object storage a service's settings ask for."""

from __future__ import annotations

from emporium.kit.settings import StorageSettings
from emporium.kit.storage.base import ObjectStorage
from emporium.kit.storage.local import LocalStorage

__all__ = ["make_storage"]


def make_storage(settings: StorageSettings) -> ObjectStorage:
    """``S3Storage`` when ``storage == "s3"``, else ``LocalStorage`` in ``media_dir``.

    S3 credentials not set in the settings come from the standard AWS environment
    (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``). Call ``await storage.start()`` (or
    use ``async with``) before use and ``ensure_bucket()`` once at startup.
    """
    if settings.storage == "s3":
        from emporium.kit.storage.s3 import S3Storage  # loads aiobotocore: only if used

        secret = settings.s3_secret_access_key
        return S3Storage(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
        )
    return LocalStorage(settings.media_dir)
