"""Object storage on any S3-compatible server (AWS S3, SeaweedFS, MinIO) with aiobotocore.

One client per process, opened by ``start()`` and closed by ``close()``. Path-style
addressing (``<endpoint>/<bucket>/<key>``), which SeaweedFS and MinIO need. Credentials come
from the arguments or, when not given, from the standard AWS chain (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` ...).

A store that is down fails fast: small connect/read timeouts and one retry, then
``StorageUnavailable``. Bodies that are not plain bytes are sent as they are read: in one
request up to ``part_size`` bytes, as a multipart upload beyond (aborted if anything fails).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import TYPE_CHECKING, cast

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from emporium.kit.storage.base import (
    ObjectInfo,
    ObjectStorage,
    ObjectStream,
    StoredObject,
    check_key,
    check_prefix,
    guess_content_type,
)
from emporium.kit.storage.body import Body, chunks
from emporium.kit.storage.errors import (
    ObjectNotFound,
    StorageAccessDenied,
    StorageError,
    StorageUnavailable,
)

if TYPE_CHECKING:
    from aiobotocore.response import StreamingBody
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.literals import BucketLocationConstraintType
    from types_aiobotocore_s3.type_defs import (
        CompletedPartTypeDef,
        CreateMultipartUploadRequestTypeDef,
        PutObjectRequestTypeDef,
    )

__all__ = ["S3Storage"]

#: Smallest part S3 accepts in a multipart upload (except the last one).
MIN_PART_SIZE = 5 * 1024 * 1024

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_NO_BUCKET = {"NoSuchBucket"}
_DENIED = {
    "403",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AuthorizationHeaderMalformed",
}
_UNREACHABLE = (BotoConnectionError, HTTPClientError, OSError, asyncio.TimeoutError)


class S3Storage(ObjectStorage):
    """Objects in one bucket of an S3-compatible server."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        part_size: int = 8 * 1024 * 1024,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        self.part_size = part_size
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._config = AioConfig(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"total_max_attempts": 2, "mode": "standard"},
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            # S3-compatible servers do not all understand the newer default checksums.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._exit_stack: contextlib.AsyncExitStack | None = None
        self._s3: S3Client | None = None

    async def start(self) -> None:
        if self._s3 is not None:
            return
        stack = contextlib.AsyncExitStack()
        self._s3 = await stack.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                config=self._config,
                aws_access_key_id=self._access_key_id,
                aws_secret_access_key=self._secret_access_key,
            )
        )
        self._exit_stack = stack

    async def close(self) -> None:
        stack, self._exit_stack, self._s3 = self._exit_stack, None, None
        if stack is not None:
            await stack.aclose()

    @property
    def client(self) -> S3Client:
        """The aiobotocore client (``start()`` first)."""
        if self._s3 is None:
            raise RuntimeError("S3Storage is not started: call `await storage.start()` first")
        return self._s3

    async def ensure_bucket(self) -> None:
        with self._errors():
            try:
                await self.client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as error:
                if _code(error) not in _NOT_FOUND | _NO_BUCKET:
                    raise
            try:
                if self.region == "us-east-1":
                    await self.client.create_bucket(Bucket=self.bucket)
                else:
                    await self.client.create_bucket(
                        Bucket=self.bucket,
                        CreateBucketConfiguration={
                            "LocationConstraint": cast("BucketLocationConstraintType", self.region)
                        },
                    )
            except ClientError as error:
                if _code(error) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                    raise
                # Created meanwhile (another process starting up), or taken by another
                # account: only in the first case can we use it.
                await self.client.head_bucket(Bucket=self.bucket)

    async def put(
        self,
        key: str,
        data: Body,
        *,
        content_type: str | None = None,
        cache_control: str | None = None,
    ) -> None:
        check_key(key)
        ctype = content_type or guess_content_type(key)
        # Only the calls to S3 are translated: an error reading ``data`` is the caller's.
        if isinstance(data, bytes | bytearray | memoryview):
            with self._errors(key):
                await self.client.put_object(
                    **self._put_params(key, bytes(data), ctype, cache_control)
                )
            return
        source = chunks(data)
        try:
            first = await _fill(source, self.part_size)
            if len(first) < self.part_size:  # it all fits in one request
                with self._errors(key):
                    await self.client.put_object(
                        **self._put_params(key, first, ctype, cache_control)
                    )
            else:
                await self._multipart(key, first, source, ctype, cache_control)
        finally:
            await source.aclose()

    async def get(self, key: str) -> StoredObject:
        check_key(key)
        with self._errors(key):
            response = await self.client.get_object(Bucket=self.bucket, Key=key)
            async with response["Body"] as body:
                data = await body.read()
        return StoredObject(
            key=key,
            data=data,
            content_type=response.get("ContentType") or guess_content_type(key),
            etag=_etag(response.get("ETag")),
            cache_control=response.get("CacheControl"),
            last_modified=response.get("LastModified"),
        )

    async def stream(self, key: str, *, chunk_size: int = 64 * 1024) -> ObjectStream:
        check_key(key)
        with self._errors(key):
            response = await self.client.get_object(Bucket=self.bucket, Key=key)
        info = ObjectInfo(
            key=key,
            size=response.get("ContentLength", 0),
            content_type=response.get("ContentType") or guess_content_type(key),
            etag=_etag(response.get("ETag")),
            cache_control=response.get("CacheControl"),
            last_modified=response.get("LastModified"),
        )
        body = response["Body"]
        return ObjectStream(info, self._read(key, body, chunk_size), body.aclose)

    async def head(self, key: str) -> ObjectInfo:
        check_key(key)
        with self._errors(key):
            response = await self.client.head_object(Bucket=self.bucket, Key=key)
        return ObjectInfo(
            key=key,
            size=response.get("ContentLength", 0),
            content_type=response.get("ContentType") or guess_content_type(key),
            etag=_etag(response.get("ETag")),
            cache_control=response.get("CacheControl"),
            last_modified=response.get("LastModified"),
        )

    async def delete(self, key: str) -> None:
        check_key(key)
        with self._errors(key):
            await self.client.delete_object(Bucket=self.bucket, Key=key)

    async def keys(self, prefix: str = "") -> AsyncIterator[str]:
        check_prefix(prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=prefix).__aiter__()
        while True:
            with self._errors():
                try:
                    page = await pages.__anext__()
                except StopAsyncIteration:
                    return
            for item in page.get("Contents", []):
                if "Key" in item:
                    yield item["Key"]

    async def url_for(self, key: str, *, expires: int = 3600) -> str:
        check_key(key)
        with self._errors(key):
            return await self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires
            )

    async def ping(self) -> bool:
        try:
            with self._errors():
                await self.client.head_bucket(Bucket=self.bucket)
        except StorageError:
            return False
        return True

    # -- helpers ----------------------------------------------------------------------------

    def _put_params(
        self, key: str, data: bytes, content_type: str, cache_control: str | None
    ) -> PutObjectRequestTypeDef:
        params: PutObjectRequestTypeDef = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": data,
            "ContentType": content_type,
        }
        if cache_control:
            params["CacheControl"] = cache_control
        return params

    async def _multipart(
        self,
        key: str,
        first: bytes,
        rest: AsyncIterator[bytes],
        content_type: str,
        cache_control: str | None,
    ) -> None:
        params: CreateMultipartUploadRequestTypeDef = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentType": content_type,
        }
        if cache_control:
            params["CacheControl"] = cache_control
        with self._errors(key):
            upload_id = (await self.client.create_multipart_upload(**params))["UploadId"]
        parts: list[CompletedPartTypeDef] = []
        try:
            part = first
            while part:
                number = len(parts) + 1
                with self._errors(key):
                    answer = await self.client.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=part,
                    )
                parts.append({"ETag": answer["ETag"], "PartNumber": number})
                part = await _fill(rest, self.part_size)
            with self._errors(key):
                await self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            # Leave no half upload behind (S3 would keep its parts, and bill them).
            with contextlib.suppress(BotoCoreError, ClientError, OSError, asyncio.TimeoutError):
                await self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id
                )
            raise

    async def _read(
        self, key: str, body: StreamingBody, chunk_size: int
    ) -> AsyncGenerator[bytes, None]:
        try:
            while True:
                with self._errors(key):
                    chunk = await body.read(chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            body.close()

    @contextlib.contextmanager
    def _errors(self, key: str | None = None) -> Iterator[None]:
        """Turn what botocore raises into the storage errors."""
        try:
            yield
        except ClientError as error:
            raise _translate(error, self.bucket, key) from error
        except (NoCredentialsError, PartialCredentialsError) as error:
            raise StorageAccessDenied(f"no usable S3 credentials: {error}") from error
        except _UNREACHABLE as error:
            raise StorageUnavailable(f"S3 at {self.endpoint_url or 'AWS'}: {error}") from error


def _translate(error: ClientError, bucket: str, key: str | None) -> StorageError:
    code = _code(error)
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if key is not None and code in _NOT_FOUND:
        return ObjectNotFound(key)
    if code in _DENIED:
        return StorageAccessDenied(f"S3 refused access to bucket {bucket!r} ({code}): {error}")
    if code in _NO_BUCKET:
        return StorageError(f"S3 bucket {bucket!r} does not exist (call ensure_bucket)")
    if status >= 500 or code in {"SlowDown", "ServiceUnavailable", "InternalError"}:
        return StorageUnavailable(f"S3 answered {code}: {error}")
    return StorageError(f"S3 error {code}: {error}")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


async def _fill(source: AsyncIterator[bytes], size: int) -> bytes:
    """Up to ``size`` bytes (more if a chunk overshoots) from ``source``; b"" at its end."""
    buffer = bytearray()
    async for chunk in source:
        buffer += chunk
        if len(buffer) >= size:
            break
    return bytes(buffer)
