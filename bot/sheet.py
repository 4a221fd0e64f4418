"""A paper's digest figures as one image, so its Telegram message can carry buttons.

Telegram albums take no inline keyboard, and a paper's 👍 / 👎 and "Full summary" buttons must
sit on the paper's own message. Instead of an album plus a second message for the buttons
(twice the messages, against a group's 20 a minute), the 2–4 figures a digest shows are stacked
into one PNG, sent as one photo with the caption and the buttons. The sheet is made once per
set of figures (its name hashes their files) next to them and reused by every chat; Telegram's
file-id cache then uploads it once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    from .figures import Figure

WIDTH = 1280  # px: Telegram shows photos up to 1280 wide in most clients
GAP = 24  # white between figures
MAX_SUM = 9000  # width + height stays under Telegram's 10,000
MAX_RATIO = 19  # height / width stays under Telegram's 20


def sheet(figures: list[Figure]) -> Figure | None:
    """One figure stacking ``figures`` top to bottom at one width (the first figure's metadata,
    the stacked PNG), or None when there is nothing to stack. A single figure is itself."""
    drawn = [f for f in figures if f.path is not None and Path(f.path).is_file()]
    if not drawn:
        return None
    if len(drawn) == 1:
        return drawn[0]
    key = hashlib.sha1("|".join(f"{f.path}:{Path(f.path).stat().st_size}" for f in drawn).encode()).hexdigest()[:12]  # type: ignore[arg-type]
    out = Path(drawn[0].path).parent / f"sheet-{key}.png"  # type: ignore[arg-type]
    if out.is_file():
        with Image.open(out) as im:
            w, h = im.size
        return replace(drawn[0], path=out, width=w, height=h)
    width = min(WIDTH, max(f.width for f in drawn))
    images = []
    for f in drawn:
        with Image.open(f.path) as im:  # type: ignore[arg-type]
            im = im.convert("RGB")
            scale = min(1.0, width / max(1, im.width))
            images.append(im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale)))))
    height = sum(im.height for im in images) + GAP * (len(images) - 1)
    limit = min(MAX_SUM - width, MAX_RATIO * width)
    if height > limit:  # too tall for Telegram: shrink every figure alike
        factor = (limit - GAP * (len(images) - 1)) / sum(im.height for im in images)
        images = [im.resize((max(1, round(im.width * factor)), max(1, round(im.height * factor)))) for im in images]
        height = sum(im.height for im in images) + GAP * (len(images) - 1)
    canvas = Image.new("RGB", (width, height), "white")
    y = 0
    for im in images:
        canvas.paste(im, ((width - im.width) // 2, y))
        y += im.height + GAP
    # a temporary file of this writer's own (0600, like every figure), then renamed: whole or not
    # at all, whoever else is making or reading the same sheet
    fd, name = tempfile.mkstemp(prefix=out.stem, suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            canvas.save(fh, "PNG", optimize=True)
        os.replace(name, out)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return replace(drawn[0], path=out, width=width, height=height)
