"""PNG encoding: a fast lossless writer for the crops (:func:`encode_png`), kept under Telegram's
photo size (:func:`save_png`)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

MAX_PNG_BYTES = 9_500_000  # Telegram: photos <= 10 MB


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _deflate(data: bytes, level: int) -> bytes:
    """A zlib stream of ``data``: ISA-L's deflate when installed (``isal``: ~4x faster than zlib's
    fastest level on the crops, and smaller), else zlib's run-length strategy (the filtered rows
    of a figure are mostly runs of zeros)."""
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover - a platform without isal's wheels
        deflate = zlib.compressobj(level, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
        return deflate.compress(data) + deflate.flush()
    return isal_zlib.compress(data, min(level, isal_zlib.ISAL_BEST_COMPRESSION))


def encode_png(image: Any, level: int = 1) -> bytes:
    """A PNG of an RGB image, written here rather than by PIL: every row gets PNG's "Up" filter
    (a difference with the row above, done by PIL's C code), then one fast deflate pass
    (:func:`_deflate`). PIL's own writer spends about a third of its time choosing a filter per
    row, then deflates with zlib; this is ~5x faster on the bench's crops, and as lossless. A grey
    image (R = G = B everywhere: tables, black-and-white plots) is stored as one channel."""
    from PIL import ImageChops

    if image.mode != "RGB":
        image = image.convert("RGB")
    r, g, b = image.split()
    if ImageChops.difference(r, g).getbbox() is None and ImageChops.difference(g, b).getbbox() is None:
        image, colour_type, channels = r, 0, 1
    else:
        colour_type, channels = 2, 3
    w, h = image.size
    above = ImageChops.offset(image, 0, 1)
    above.paste(0 if channels == 1 else (0, 0, 0), (0, 0, w, 1))  # the first row has none above
    data = ImageChops.subtract_modulo(image, above).tobytes()
    stride = w * channels
    up = b"\x02"
    view = memoryview(data)  # rows joined without copying each one first
    rows = up + up.join([view[i : i + stride] for i in range(0, len(data), stride)])
    del view
    del data
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0)),
            _png_chunk(b"IDAT", _deflate(rows, level)),
            _png_chunk(b"IEND", b""),
        )
    )


def save_png(image: Any, path: Path) -> tuple[int, int]:
    """Fast zlib level: encoding dominates the cost otherwise. Re-encode harder if over Telegram's
    limit, smaller if need be; returns the size saved."""
    path.write_bytes(encode_png(image))
    if path.stat().st_size > MAX_PNG_BYTES:
        image.save(path, "PNG", compress_level=9)
    while path.stat().st_size > MAX_PNG_BYTES and min(image.size) > 200:
        image = image.resize((image.size[0] * 3 // 4, image.size[1] * 3 // 4))
        image.save(path, "PNG", compress_level=9)
    return image.size
