"""Image uploads cannot blow the catalog's memory: bombs are refused unread, and the largest
accepted images, four at once, stay inside a 512 MiB pod.

The catalog runs as its own process (``python -m emporium.catalog serve --migrate``, as in
production, one uvicorn worker) on SQLite, the in-process bus and a local media folder, with
a JWKS of the test's own; its memory is read from ``/proc/<pid>/status``: ``VmHWM`` (peak
resident set), reset between scenarios by writing ``5`` to ``/proc/<pid>/clear_refs``.

Figures are printed (``pytest -s``) and asserted:

- a decompression bomb (PNG, WebP, JPEG declaring 6300x6300 up to 65500x65500 pixels) is a
  413 naming the pixel limit, and adds almost nothing to the peak;
- one largest accepted image (16 MP JPEG, EXIF-rotated: the worst JPEG path; 16 MP RGBA
  PNG; 8 MP RGBA WebP, WebP's own cap) adds <= 150 MB;
- four largest accepted uploads at once (JPEG, PNG, WebP rounds) keep the whole process
  under 512 MiB (the pod limit).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from emporium.kit.testing.tokens import TokenMint

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
MB = 1000 * 1000
POD_LIMIT = 512 * MiB
PER_UPLOAD = 150 * MB
MAX_PIXELS = 16_000_000  # the catalog's default CATALOG_MAX_IMAGE_PIXELS
SIDE = 4000  # 4000 x 4000 = exactly the default cap
MAX_WEBP_PIXELS = 8_000_000  # CATALOG_MAX_WEBP_PIXELS
WEBP_SIDE = 2828  # 2828 x 2828 = 7,997,584: the largest square WebP accepted

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads /proc/<pid>/status (Linux)"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _status(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` memory figure, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)


# -- the files --------------------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_bomb(side: int) -> bytes:
    """A real, valid ``side`` x ``side`` RGB PNG of zeros: a few hundred KB that decode to
    ``side * side * 4`` bytes."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + side * 3)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    chunks = _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def webp_bomb() -> bytes:
    """A WebP whose VP8X header declares the largest canvas WebP allows, 16383 x 16383."""
    small = io.BytesIO()
    Image.new("RGB", (16, 16)).save(small, format="WEBP", lossless=True)
    body = small.getvalue()[12:]  # the VP8L chunk of a real image
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0" * 4 + (16382).to_bytes(3, "little") * 2
    payload = b"WEBP" + vp8x + body
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def jpeg_bomb(side: int) -> bytes:
    """A small JPEG whose frame header (SOF0) is patched to declare ``side`` x ``side``."""
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 90, 90)).save(out, format="JPEG", quality=50)
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", side, side)
    return bytes(data)


def _photo(mode: str = "RGB", *, noise: bool = True, side: int = SIDE) -> Image.Image:
    """A ``side`` x ``side`` picture with some texture (compresses like a product photo)."""
    size = (side, side)
    red = Image.linear_gradient("L").resize(size)
    green = Image.radial_gradient("L").resize(size)
    smooth = Image.linear_gradient("L").rotate(90).resize(size)
    blue = Image.effect_noise(size, 24) if noise else smooth
    alpha = [Image.radial_gradient("L").resize(size)] if mode == "RGBA" else []
    return Image.merge(mode, [red, green, blue, *alpha])


def largest_jpeg() -> bytes:
    """16 MP, EXIF-rotated (the pipeline's most expensive path: it turns the pixels)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    _photo().save(out, format="JPEG", quality=85, exif=exif.tobytes())
    return out.getvalue()


def largest_png() -> bytes:
    out = io.BytesIO()
    _photo("RGBA", noise=False).save(out, format="PNG", compress_level=6)
    return out.getvalue()


def largest_webp() -> bytes:
    out = io.BytesIO()
    _photo("RGBA", noise=False, side=WEBP_SIDE).save(out, format="WEBP", quality=80, method=0)
    return out.getvalue()


# -- the catalog process --------------------------------------------------------------------


class _Jwks(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@dataclass
class Catalog:
    pid: int
    url: str
    admin: dict[str, str]
    log: Path

    def rss(self) -> int:
        return _status(self.pid, "VmRSS")

    def peak(self) -> int:
        return _status(self.pid, "VmHWM")


@pytest.fixture(scope="module")
def catalog_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    work = tmp_path_factory.mktemp("image-bombs")
    mint = TokenMint()
    handler = type("Jwks", (_Jwks,), {"body": json.dumps(mint.jwks()).encode()})
    jwks = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=jwks.serve_forever, daemon=True).start()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
    env.update(
        CATALOG_PORT=str(port),
        CATALOG_HOST="127.0.0.1",
        CATALOG_DATABASE_URL=f"sqlite+aiosqlite:///{work / 'catalog.db'}",
        CATALOG_BUS="memory",
        CATALOG_STORAGE="local",
        CATALOG_MEDIA_DIR=str(work / "media"),
        CATALOG_JWKS_URL=f"http://127.0.0.1:{jwks.server_address[1]}/jwks",
        CATALOG_LOG_JSON="false",
        CATALOG_LOG_LEVEL="WARNING",
        WEB_WORKERS="1",
    )
    log = work / "catalog.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "emporium.catalog", "serve", "--migrate"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"the catalog exited: {log.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the catalog did not start: {log.read_text()[-3000:]}")
            time.sleep(0.2)
        admin = {"Authorization": f"Bearer {mint.token(role='admin', ttl=3600)}"}
        yield Catalog(process.pid, url, admin, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        jwks.shutdown()
        jwks.server_close()


@pytest.fixture
async def client(catalog_process: Catalog) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=catalog_process.url, headers=catalog_process.admin, timeout=300
    ) as http:
        yield http


async def _product(client: httpx.AsyncClient) -> str:
    slug = f"bombs-{time.monotonic_ns()}"
    category = await client.post("/admin/categories", json={"slug": slug, "name": slug})
    assert category.status_code == 201, category.text
    product = await client.post(
        "/admin/products",
        json={
            "sku": slug,
            "name": "Bomb target",
            "description": "",
            "price": {"amount": 100, "currency": "EUR"},
            "category_id": category.json()["id"],
        },
    )
    assert product.status_code == 201, product.text
    product_id: str = product.json()["id"]
    return product_id


async def _upload(
    client: httpx.AsyncClient, product_id: str, data: bytes, name: str
) -> httpx.Response:
    return await client.post(
        f"/admin/products/{product_id}/images", files={"file": (name, data, "image/*")}
    )


async def _settled(catalog: Catalog, client: httpx.AsyncClient) -> int:
    """The process's resident set once a small upload has warmed every code path."""
    product_id = await _product(client)
    small = io.BytesIO()
    Image.new("RGB", (64, 64)).save(small, format="PNG")
    assert (await _upload(client, product_id, small.getvalue(), "warm.png")).status_code == 201
    return catalog.rss()


def _report(label: str, baseline: int, peak: int) -> None:
    print(
        f"\n[image-bombs] {label}: baseline {baseline / MiB:.1f} MiB, peak {peak / MiB:.1f} MiB,"
        f" extra {(peak - baseline) / MiB:.1f} MiB"
    )


@pytest.mark.parametrize(
    ("name", "make", "limit"),
    [
        ("png-6300.png", lambda: png_bomb(6300), MAX_PIXELS),
        ("png-20000.png", lambda: png_bomb(20000), MAX_PIXELS),
        ("webp-16383.webp", webp_bomb, MAX_WEBP_PIXELS),
        ("jpeg-6300.jpg", lambda: jpeg_bomb(6300), MAX_PIXELS),
        ("jpeg-65500.jpg", lambda: jpeg_bomb(65500), MAX_PIXELS),
    ],
)
async def test_a_decompression_bomb_is_413_and_costs_no_memory(
    catalog_process: Catalog, client: httpx.AsyncClient, name: str, make: Any, limit: int
) -> None:
    baseline = await _settled(catalog_process, client)
    product_id = await _product(client)
    bomb = make()
    _reset_peak(catalog_process.pid)

    response = await _upload(client, product_id, bomb, name)

    peak = catalog_process.peak()
    _report(f"{name} ({len(bomb)} bytes)", baseline, peak)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert f"at most {limit} pixels" in response.json()["detail"]
    assert peak - baseline < 40 * MiB


@pytest.mark.parametrize(
    ("name", "make", "side"),
    [
        ("largest.jpg", largest_jpeg, SIDE),
        ("largest.png", largest_png, SIDE),
        ("largest.webp", largest_webp, WEBP_SIDE),
    ],
)
async def test_one_largest_accepted_image_costs_at_most_150_mb(
    catalog_process: Catalog, client: httpx.AsyncClient, name: str, make: Any, side: int
) -> None:
    data = make()
    assert len(data) < 10 * MiB
    baseline = await _settled(catalog_process, client)
    product_id = await _product(client)
    _reset_peak(catalog_process.pid)

    response = await _upload(client, product_id, data, name)

    peak = catalog_process.peak()
    _report(f"one {name}, {side}x{side} ({len(data) / MiB:.1f} MiB)", baseline, peak)
    assert response.status_code == 201, response.text
    assert (response.json()["width"], response.json()["height"]) == (side, side)
    assert peak - baseline <= PER_UPLOAD


async def test_a_webp_over_its_own_cap_is_413(
    catalog_process: Catalog, client: httpx.AsyncClient
) -> None:
    out = io.BytesIO()
    Image.new("RGB", (3000, 3000)).save(out, format="WEBP", lossless=True)
    product_id = await _product(client)

    response = await _upload(client, product_id, out.getvalue(), "nine-mp.webp")

    assert response.status_code == 413, response.text
    assert f"at most {MAX_WEBP_PIXELS} pixels" in response.json()["detail"]


@pytest.mark.parametrize(
    ("name", "make"),
    [("largest.jpg", largest_jpeg), ("largest.png", largest_png), ("largest.webp", largest_webp)],
)
async def test_four_largest_uploads_at_once_stay_under_the_pod_limit(
    catalog_process: Catalog, client: httpx.AsyncClient, name: str, make: Any
) -> None:
    data = make()
    assert len(data) < 10 * MiB, len(data)
    baseline = await _settled(catalog_process, client)
    products = [await _product(client) for _ in range(4)]
    _reset_peak(catalog_process.pid)

    answers = await asyncio.gather(*(_upload(client, p, data, name) for p in products))

    peak = catalog_process.peak()
    _report(f"four {name} at once ({len(data) / MiB:.1f} MiB each)", baseline, peak)
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert peak < POD_LIMIT
    # Two images are decoded at a time (CATALOG_IMAGE_MAX_CONCURRENT): two uploads' worth.
    assert peak - baseline <= 2 * PER_UPLOAD
