"""Every crop's box on the shared PDFs, as JSON: to compare the extractor before and after a change.

    .venv/bin/python -m bench.figure_boxes OUT.json [--pdfs DIR] [--render N]
    .venv/bin/python -m bench.figure_boxes --compare BEFORE.json AFTER.json

Each paper maps to its rows (kind, number, page, bbox in points, caption, pixel size), found with
nothing drawn, through the figure server as the bot calls it. With ``--render N`` the N crops a
digest shows are drawn too (the digest path): their rows carry the box shown once blank margins
are trimmed, the PNG's size and an MD5 of its decoded pixels, so drawing can be compared as well.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path

from PIL import Image

from bot.figures import FigureWorkers, run_extraction

from .figures import PDFS


def boxes(pdfs: Path, render: int = 0) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = {}
    with FigureWorkers() as workers, tempfile.TemporaryDirectory() as tmp:
        for pdf in sorted(pdfs.glob("*.pdf")):
            got = run_extraction(pdf, Path(tmp) / pdf.stem, timeout=120, workers=workers, render=render)
            out[pdf.stem] = [
                {k: v for k, v in f.to_json().items() if k != "path"} | _pixels(f.path) for f in got.figures
            ]
    return out


def _pixels(png: Path | None) -> dict[str, object]:
    if png is None:
        return {}
    with Image.open(png) as img:
        return {"pixels": f"{img.mode} {hashlib.md5(img.convert('RGB').tobytes()).hexdigest()}"}


def compare(before: dict[str, list[dict[str, object]]], after: dict[str, list[dict[str, object]]]) -> int:
    """Print every row that differs; the number of differences."""
    diffs = 0
    for paper in sorted(set(before) | set(after)):
        a = {(r["kind"], r["number"]): r for r in before.get(paper, [])}
        b = {(r["kind"], r["number"]): r for r in after.get(paper, [])}
        for key in sorted(set(a) | set(b), key=str):
            if a.get(key) != b.get(key):
                diffs += 1
                print(f"{paper} {key[0]} {key[1]}:\n  before {a.get(key)}\n  after  {b.get(key)}")
    n = sum(len(v) for v in after.values())
    print(f"{diffs} rows differ; {n} rows after, {sum(len(v) for v in before.values())} before")
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("--pdfs", type=Path, default=PDFS)
    parser.add_argument("--compare", nargs=2, type=Path)
    parser.add_argument("--render", type=int, default=0, help="crops drawn per paper, as for a digest")
    args = parser.parse_args()
    if args.compare:
        raise SystemExit(1 if compare(*(json.loads(p.read_text()) for p in args.compare)) else 0)
    args.out.write_text(json.dumps(boxes(args.pdfs, args.render), indent=1))


if __name__ == "__main__":
    main()
