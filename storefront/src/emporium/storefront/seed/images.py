"""Demo product pictures, drawn locally with Pillow: a coloured backdrop, a simple outline of
what the category sells and the product's name. No downloads, and the same bytes every run."""

from __future__ import annotations

import colorsys
import io
from collections.abc import Callable

from PIL import Image, ImageDraw

__all__ = ["SIZE", "product_picture"]

SIZE = 800
_Draw = Callable[[ImageDraw.ImageDraw, float], None]


def _kettle(d: ImageDraw.ImageDraw, s: float) -> None:
    d.ellipse([0.28 * s, 0.34 * s, 0.72 * s, 0.70 * s], outline="white", width=14)
    d.arc([0.36 * s, 0.22 * s, 0.64 * s, 0.48 * s], 180, 360, fill="white", width=14)
    d.line([(0.70 * s, 0.48 * s), (0.82 * s, 0.38 * s)], fill="white", width=14)


def _lamp(d: ImageDraw.ImageDraw, s: float) -> None:
    d.polygon(
        [(0.36 * s, 0.22 * s), (0.64 * s, 0.22 * s), (0.74 * s, 0.44 * s), (0.26 * s, 0.44 * s)],
        outline="white",
        width=14,
    )
    d.line([(0.5 * s, 0.44 * s), (0.5 * s, 0.68 * s)], fill="white", width=14)
    d.line([(0.36 * s, 0.70 * s), (0.64 * s, 0.70 * s)], fill="white", width=14)


def _leaf(d: ImageDraw.ImageDraw, s: float) -> None:
    d.polygon(
        [(0.5 * s, 0.18 * s), (0.72 * s, 0.40 * s), (0.5 * s, 0.70 * s), (0.28 * s, 0.40 * s)],
        outline="white",
        width=14,
    )
    d.line([(0.5 * s, 0.26 * s), (0.5 * s, 0.78 * s)], fill="white", width=10)


def _shirt(d: ImageDraw.ImageDraw, s: float) -> None:
    d.polygon(
        [
            (0.38 * s, 0.22 * s),
            (0.62 * s, 0.22 * s),
            (0.80 * s, 0.34 * s),
            (0.72 * s, 0.44 * s),
            (0.66 * s, 0.40 * s),
            (0.66 * s, 0.72 * s),
            (0.34 * s, 0.72 * s),
            (0.34 * s, 0.40 * s),
            (0.28 * s, 0.44 * s),
            (0.20 * s, 0.34 * s),
        ],
        outline="white",
        width=12,
    )


def _shoe(d: ImageDraw.ImageDraw, s: float) -> None:
    d.polygon(
        [
            (0.22 * s, 0.34 * s),
            (0.36 * s, 0.34 * s),
            (0.44 * s, 0.48 * s),
            (0.76 * s, 0.54 * s),
            (0.80 * s, 0.66 * s),
            (0.22 * s, 0.66 * s),
        ],
        outline="white",
        width=14,
    )


def _book(d: ImageDraw.ImageDraw, s: float) -> None:
    d.rectangle([0.32 * s, 0.20 * s, 0.68 * s, 0.72 * s], outline="white", width=14)
    d.line([(0.40 * s, 0.20 * s), (0.40 * s, 0.72 * s)], fill="white", width=10)
    d.line([(0.48 * s, 0.34 * s), (0.62 * s, 0.34 * s)], fill="white", width=8)


def _house(d: ImageDraw.ImageDraw, s: float) -> None:
    d.polygon(
        [(0.5 * s, 0.20 * s), (0.76 * s, 0.42 * s), (0.24 * s, 0.42 * s)],
        outline="white",
        width=14,
    )
    d.rectangle([0.30 * s, 0.42 * s, 0.70 * s, 0.72 * s], outline="white", width=14)


def _bag(d: ImageDraw.ImageDraw, s: float) -> None:
    d.rectangle([0.30 * s, 0.36 * s, 0.70 * s, 0.72 * s], outline="white", width=14)
    d.arc([0.38 * s, 0.20 * s, 0.62 * s, 0.50 * s], 180, 360, fill="white", width=12)


_OUTLINES: dict[str, _Draw] = {
    "kitchen": _kettle,
    "lighting": _lamp,
    "garden": _leaf,
    "shirts": _shirt,
    "shoes": _shoe,
    "books": _book,
    "home": _house,
    "clothing": _bag,
}


def product_picture(name: str, category: str, hue: float, *, size: int = SIZE) -> bytes:
    """A square JPEG standing in for a product photo (``hue`` in 0..1 picks its colour)."""
    image = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(image)
    for y in range(size):
        r, g, b = colorsys.hsv_to_rgb(hue % 1.0, 0.45, 0.80 - 0.30 * y / size)
        draw.line([(0, y), (size, y)], fill=(int(r * 255), int(g * 255), int(b * 255)))
    _OUTLINES.get(category, _bag)(draw, float(size))
    band = int(size * 0.84)
    draw.rectangle([0, band, size, size], fill=(0, 0, 0))
    label = name if len(name) <= 28 else name[:27] + "…"
    draw.text((size / 2, (band + size) / 2), label, fill="white", anchor="mm", font_size=size // 18)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=82, optimize=True)
    return out.getvalue()
