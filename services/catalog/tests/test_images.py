"""Product images: checked by decoding, EXIF stripped, derived WebP sizes, content-addressed
objects served with long-lived cache headers; 415/413 refusals; S3 outages."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from emporium.catalog.testing import Catalog, running_catalog
from emporium.kit.storage.s3 import S3Storage
from emporium.kit.testing import eventually

PREFIX = "/api/v1/media/"


def jpeg_with_exif(width: int = 1600, height: int = 1000) -> bytes:
    image = Image.new("RGB", (width, height), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "tracking-software"  # Software
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def png(width: int = 64, height: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (0, 128, 0, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(params=["sqlite-local", "postgres-s3"])
def backends(request: pytest.FixtureRequest, unique: str) -> tuple[str, dict[str, Any]]:
    """SQLite with a local media folder, and PostgreSQL with real S3 (SeaweedFS)."""
    if request.param == "sqlite-local":
        return request.getfixturevalue("sqlite_url"), {}
    settings = {
        "storage": "s3",
        "s3_endpoint_url": request.getfixturevalue("s3_endpoint"),
        "s3_bucket": unique,
    }
    return request.getfixturevalue("postgres_url"), settings


@pytest.fixture
async def catalog(backends: tuple[str, dict[str, Any]], tmp_path: Path) -> AsyncIterator[Catalog]:
    url, settings = backends
    async with running_catalog(url, tmp_path / "media", settings=settings) as running:
        yield running


async def upload(
    catalog: Catalog,
    product_id: str,
    data: bytes,
    name: str = "photo.jpg",
    kind: str = "image/jpeg",
) -> Any:
    return await catalog.client.post(
        f"/admin/products/{product_id}/images",
        files={"file": (name, data, kind)},
        headers=catalog.admin,
    )


async def fetch(catalog: Catalog, url: str) -> Any:
    assert url.startswith(PREFIX), url
    return await catalog.client.get("/media/" + url.removeprefix(PREFIX))


async def stored_keys(catalog: Catalog) -> list[str]:
    storage = catalog.resources.require_storage()
    return [key async for key in storage.keys("images/")]


async def test_upload_stores_clean_original_and_webp_sizes(catalog: Catalog) -> None:
    product = await catalog.product()
    response = await upload(catalog, product["id"], jpeg_with_exif())
    assert response.status_code == 201, response.text
    image = response.json()
    assert (image["width"], image["height"]) == (1600, 1000)

    display = await fetch(catalog, image["url"])
    assert display.status_code == 200
    assert display.headers["content-type"] == "image/webp"
    assert display.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert max(Image.open(io.BytesIO(display.content)).size) == 1200
    thumb = await fetch(catalog, image["thumbnail_url"])
    assert Image.open(io.BytesIO(thumb.content)).format == "WEBP"
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 320
    original = await fetch(catalog, image["original_url"])
    assert original.headers["content-type"] == "image/jpeg"
    decoded = Image.open(io.BytesIO(original.content))
    assert dict(decoded.getexif()) == {}
    assert b"SecretCam" not in original.content
    etag = display.headers["etag"]
    again = await catalog.client.get(display.url.path, headers={"If-None-Match": etag})
    assert again.status_code == 304

    second = (await upload(catalog, product["id"], png(), "b.png", "image/png")).json()
    shown = (await catalog.client.get(f"/products/{product['id']}")).json()["images"]
    assert [i["id"] for i in shown] == [image["id"], second["id"]]
    listed = (await catalog.client.get("/products")).json()["items"][0]["images"]
    assert [i["id"] for i in listed] == [image["id"], second["id"]]

    deleted = await catalog.client.delete(
        f"/admin/products/{product['id']}/images/{image['id']}", headers=catalog.admin
    )
    assert deleted.status_code == 204
    shown = (await catalog.client.get(f"/products/{product['id']}")).json()["images"]
    assert [i["id"] for i in shown] == [second["id"]]
    await eventually(lambda: _gone(catalog, image["url"]))
    assert (await fetch(catalog, second["url"])).status_code == 200


async def _gone(catalog: Catalog, url: str) -> bool:
    return (await fetch(catalog, url)).status_code == 404


async def test_a_text_file_named_png_is_415_and_stores_nothing(catalog: Catalog) -> None:
    product = await catalog.product()
    response = await upload(catalog, product["id"], b"just some text\n" * 50, "x.png", "image/png")
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    truncated = await upload(catalog, product["id"], png()[:80], "y.png", "image/png")
    assert truncated.status_code == 415
    assert await stored_keys(catalog) == []
    assert (await catalog.client.get(f"/products/{product['id']}")).json()["images"] == []


async def test_unknown_product_or_image_is_404(catalog: Catalog) -> None:
    product = await catalog.product()
    missing = "01234567-89ab-7def-8123-456789abcdef"
    assert (await upload(catalog, missing, png())).status_code == 404
    gone = await catalog.client.delete(
        f"/admin/products/{product['id']}/images/{missing}", headers=catalog.admin
    )
    assert gone.status_code == 404
    assert (await catalog.client.get("/media/images/nothing/display.webp")).status_code == 404


async def test_a_60_mb_upload_is_413_without_being_read_whole(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with running_catalog(sqlite_url, tmp_path) as catalog:
        product = await catalog.product()
        boundary = "xyzzy"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"'
            "\r\nContent-Type: image/jpeg\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        total = 60 * 1024 * 1024
        sent = 0

        async def body() -> AsyncIterator[bytes]:
            nonlocal sent
            yield head
            chunk = b"\xff" * (1024 * 1024)
            for _ in range(total // len(chunk)):
                sent += len(chunk)
                yield chunk
            yield tail

        headers = {**catalog.admin, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        url = f"/admin/products/{product['id']}/images"
        chunked = await catalog.client.post(url, content=body(), headers=headers)
        assert chunked.status_code == 413
        assert chunked.headers["content-type"] == "application/problem+json"
        assert sent <= 12 * 1024 * 1024  # cut off near the 10 MiB limit, not read to the end

        sent = 0
        declared = await catalog.client.post(
            url,
            content=body(),
            headers={**headers, "Content-Length": str(len(head) + total + len(tail))},
        )
        assert declared.status_code == 413
        assert sent <= 1024 * 1024  # refused on the declared length
        assert await stored_keys(catalog) == []


async def test_too_many_pixels_is_413(sqlite_url: str, tmp_path: Path) -> None:
    async with running_catalog(
        sqlite_url, tmp_path, settings={"max_image_pixels": 100 * 100}
    ) as catalog:
        product = await catalog.product()
        response = await upload(catalog, product["id"], png(200, 200), "big.png", "image/png")
        assert response.status_code == 413
        assert response.json()["type"].endswith("/image-too-large")
        assert (await upload(catalog, product["id"], png(50, 50), "ok.png")).status_code == 201


async def test_s3_down_gives_503_on_upload_while_products_still_read(
    sqlite_url: str, tmp_path: Path
) -> None:
    # Nothing listens on port 9 of the loopback: the store is down.
    storage = S3Storage("emporium-down", endpoint_url="http://127.0.0.1:9", connect_timeout=0.5)
    await storage.start()
    try:
        async with running_catalog(sqlite_url, tmp_path, storage=storage) as catalog:
            product = await catalog.product(name="Still here")
            response = await upload(catalog, product["id"], png(), "a.png", "image/png")
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert "retry-after" in response.headers
            detail = await catalog.client.get(f"/products/{product['id']}")
            assert detail.status_code == 200
            assert detail.json()["images"] == []
            listing = (await catalog.client.get("/products")).json()
            assert [p["name"] for p in listing["items"]] == ["Still here"]
    finally:
        await storage.close()
