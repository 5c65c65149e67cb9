"""Image endpoints: admin upload/delete, and ``/media/{key}`` serving the stored files.

Uploads are bounded before they are read: the app refuses request bodies over the image
limit (``RequestSizeLimitMiddleware``: a declared ``Content-Length`` is refused at once, a
chunked body is cut off at the limit) and the multipart parser spools the file to a
temporary file on disk past 1 MiB, so a large upload is never held in memory whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, BackgroundTasks, File, Request, Response, UploadFile, status
from fastapi.responses import StreamingResponse

from emporium.catalog.dependencies import AdminDep, SessionDep, SettingsDep, StorageDep
from emporium.catalog.errors import ImageNotFound, ImageTooLarge, NotAnImage, ProductNotFound
from emporium.catalog.media import service
from emporium.catalog.media.schemas import Image
from emporium.catalog.product.views import image_view
from emporium.kit.errors import NotFound, problem_responses
from emporium.kit.storage.errors import InvalidKey, ObjectNotFound

__all__ = ["router"]

router = APIRouter(tags=["images"])


@router.post(
    "/admin/products/{product_id}/images",
    response_model=Image,
    status_code=status.HTTP_201_CREATED,
    operation_id="uploadImage",
    # Whether the bytes are a JPEG, PNG or WebP image is not something JSON Schema can say
    # of a binary part: the 415 answer documents it instead.
    responses=problem_responses(
        (ProductNotFound, "No product has this id (or it was deleted)"),
        (ImageTooLarge, "The upload is larger than the image limit"),
        (NotAnImage, "The file is not a JPEG, PNG or WebP image"),
    ),
)
async def upload_image(
    product_id: UUID,
    file: Annotated[UploadFile, File(description="A JPEG, PNG or WebP image")],
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
    _: AdminDep,
) -> Image:
    """Add an image to a product (admin); 415 if not an image, 413 if too large."""
    if file.size is not None and file.size > settings.max_image_bytes:
        raise ImageTooLarge(f"the image is larger than {settings.max_image_bytes} bytes")
    image = await service.add_image(
        session,
        storage,
        product_id,
        file.file,
        max_bytes=settings.max_image_bytes,
        max_pixels=settings.max_image_pixels,
        max_webp_pixels=settings.max_webp_pixels,
        max_concurrent=settings.image_max_concurrent,
    )
    return image_view(image, settings.media_url_prefix)


@router.delete(
    "/admin/products/{product_id}/images/{image_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteImage",
    responses=problem_responses((ImageNotFound, "The product has no image with this id")),
)
async def delete_image(
    product_id: UUID,
    image_id: UUID,
    session: SessionDep,
    storage: StorageDep,
    background: BackgroundTasks,
    _: AdminDep,
) -> Response:
    """Remove an image from a product (admin)."""
    keys = await service.delete_image(session, product_id, image_id)
    # After the response, so after the commit: objects go only once no row points at them.
    background.add_task(service.purge_objects, storage, keys)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_BINARY = {"schema": {"type": "string", "format": "binary"}}


@router.get(
    "/media/{key:path}",
    operation_id="getMedia",
    response_class=Response,
    responses={
        200: {
            "description": "The file (its stored media type)",
            "content": dict.fromkeys(("image/webp", "image/jpeg", "image/png"), _BINARY),
        },
        304: {"description": "Not modified: `If-None-Match` names the current `ETag`"},
        **problem_responses((NotFound, "No stored file has this key")),
    },
)
async def media(key: str, request: Request, storage: StorageDep) -> Response:
    """A stored image file, cacheable for a year (its key changes when its content does)."""
    if not key.startswith("images/"):
        raise NotFound("no such file")
    try:
        stream = await storage.stream(key)
    except (ObjectNotFound, InvalidKey):
        raise NotFound("no such file") from None
    info = stream.info
    headers = {"Cache-Control": service.IMMUTABLE, "Content-Length": str(info.size)}
    if info.etag:
        headers["ETag"] = f'"{info.etag}"'
        if request.headers.get("if-none-match") == headers["ETag"]:
            await stream.aclose()
            del headers["Content-Length"]
            return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await stream.aclose()

    return StreamingResponse(body(), media_type=info.content_type, headers=headers)
