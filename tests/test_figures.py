"""Figure and table extraction: captions found and cropped, references ignored, bad PDFs refused,
results cached, the digest's pick and the licence policy.

The core tests write their own small PDFs by hand (Helvetica text, vector rectangles and rules),
so they need no shared data; the last few run on real arXiv PDFs when ../shared/data is present.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.core import Paperbot
from bot.figures import (
    RUNS_TABLE,
    Figure,
    FigureWorkers,
    cached_figures,
    extract_figures,
    figures_dir,
    may_post_figures,
    pick_for_digest,
    render_figures,
    run_extraction,
    save_figures,
)
from bot.models import Paper
from bot.settings import Settings
from bot.store import Store
from tests.conftest import shared_path
from tests.pdfbytes import serialise

# ---- a tiny PDF writer ---------------------------------------------------------------------------------

PAGE_W, PAGE_H = 612, 792
BODY = "Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore"


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def text_op(x: float, top: float, text: str, size: float = 10, font: str = "F1") -> str:
    """Text whose glyph tops sit at ``top`` (measured from the top of the page)."""
    y = PAGE_H - top - size * 0.8
    return f"BT /{font} {size} Tf {x:.1f} {y:.1f} Td ({_esc(text)}) Tj ET\n"


def body_lines(top: float, count: int, x: float = 72, first: str = BODY) -> tuple[str, float]:
    ops = "".join(text_op(x, top + 12 * i, first if i == 0 else BODY) for i in range(count))
    return ops, top + 12 * count


def build_pdf(
    contents: list[str],
    *,
    extra_objects: dict[int, bytes] | None = None,
    resources: str = "",
    trailer: str = "",
) -> bytes:
    """A valid PDF with one page per content stream, Helvetica as /F1 and Helvetica-Bold as /F2."""
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        4: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold >>",
    }
    kids = []
    next_id = 10
    for content in contents:
        data = content.encode("latin-1")
        objects[next_id + 1] = b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"
        objects[next_id] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] /Contents {next_id + 1} 0 R "
            f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> {resources} >> >>"
        ).encode()
        kids.append(f"{next_id} 0 R")
        next_id += 2
    objects[2] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>".encode()
    objects.update(extra_objects or {})
    return serialise(objects, trailer)


def figure_page() -> str:
    """Body text, a vector chart, its caption; an in-text reference that wraps to a line start."""
    ops, y = body_lines(72, 10)
    # the chart: a frame, bars, an axis, a label
    chart = "0.2 0.4 0.8 rg 0 G 1 w\n"
    chart += f"100 {PAGE_H - 400} 400 170 re S\n"
    for i, h in enumerate((40, 90, 130, 70, 110)):
        chart += f"{130 + i * 70} {PAGE_H - 390} 40 {h} re f\n"
    chart += f"110 {PAGE_H - 392} m 490 {PAGE_H - 392} l S\n"
    ops += chart
    ops += text_op(280, 404, "epochs", size=7)
    ops += text_op(
        72, 426, "Figure 1: Accuracy of the five methods on the test set, higher is better.", size=9
    )
    body, y = body_lines(456, 8)
    ops += body
    # a reference that wraps to the start of a line: never a caption
    ops += text_op(72, y, "Figure 2 shows that the method works on the remaining data sets as well.")
    body, y = body_lines(y + 12, 10)
    return ops + body


def table_page() -> str:
    """A table with its caption above, rules and rows, between body paragraphs."""
    ops, _ = body_lines(72, 6, first="as shown in Figure 1, we can see that " + BODY[:40])
    ops += text_op(72, 160, "Table 1: Results of all methods. Best numbers in bold.", size=9)
    ops += f"0 G 0.8 w 150 {PAGE_H - 176} m 460 {PAGE_H - 176} l S\n"
    ops += (
        text_op(160, 182, "Method", size=9)
        + text_op(300, 182, "Acc", size=9)
        + text_op(400, 182, "F1", size=9)
    )
    ops += f"150 {PAGE_H - 196} m 460 {PAGE_H - 196} l S\n"
    for i, (name, acc, f1) in enumerate(
        (("Baseline", "71.2", "65.0"), ("Ours", "80.3", "77.9"), ("Oracle", "91.0", "90.1"))
    ):
        top = 202 + 13 * i
        ops += (
            text_op(160, top, name, size=9) + text_op(300, top, acc, size=9) + text_op(400, top, f1, size=9)
        )
    ops += f"150 {PAGE_H - 246} m 460 {PAGE_H - 246} l S\n"
    body, _ = body_lines(270, 30)
    return ops + body


@pytest.fixture
def paper_pdf(tmp_path: Path) -> Path:
    path = tmp_path / "paper.pdf"
    path.write_bytes(build_pdf([figure_page(), table_page()]))
    return path


# ---- extraction ----------------------------------------------------------------------------------------


def test_vector_figure_and_table_found_and_cropped(paper_pdf: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    figures = extract_figures(paper_pdf, out, timeout=60)
    by_key = {(f.kind, f.number): f for f in figures}
    assert set(by_key) == {("figure", "1"), ("table", "1")}  # "Figure 2 shows ..." is a reference

    fig = by_key[("figure", "1")]
    assert fig.page == 1
    assert fig.caption.startswith("Figure 1: Accuracy of the five methods")
    left, top, right, bottom = fig.bbox
    # the chart frame spans x 100..500 and y 230..400 (from the top); the caption ends near 435
    assert left <= 100 and right >= 500
    assert 200 < top <= 230 and 430 <= bottom < 456  # no body text above or below
    assert fig.path == out / "figure-1.png" and fig.path.is_file()
    with Image.open(fig.path) as img:
        assert img.size == (fig.width, fig.height)
        assert img.width >= 800
        assert img.width + img.height <= 10_000 and max(img.size) / min(img.size) <= 20

    table = by_key[("table", "1")]
    assert table.page == 2
    assert table.caption == "Table 1: Results of all methods. Best numbers in bold."
    t_left, t_top, t_right, t_bottom = table.bbox
    assert t_top <= 160 and 246 <= t_bottom < 270  # caption above, down to the bottom rule
    assert t_left <= 150 and t_right >= 460
    assert table.to_json()["path"] == str(out / "table-1.png")


def test_figure_json_shape(paper_pdf: Path, tmp_path: Path) -> None:
    fig = extract_figures(paper_pdf, tmp_path / "out", timeout=60)[0]
    data = fig.to_json()
    assert set(data) == {"kind", "number", "caption", "page", "bbox", "path", "width", "height", "rank"}
    assert isinstance(data["path"], str) and len(data["bbox"]) == 4


def test_two_column_figure_stays_in_its_column(tmp_path: Path) -> None:
    col = "Lorem ipsum dolor sit amet consectetur adip"
    ops = ""
    for i in range(50):
        ops += text_op(50, 72 + 12 * i, col) + text_op(320, 72 + 12 * i, col) if not 20 <= i < 34 else ""
    # a figure in the right column only, rows 20..33 of the right column; the left keeps its text
    for i in range(20, 34):
        ops += text_op(50, 72 + 12 * i, col)
    ops += f"0 G 330 {PAGE_H - 450} 200 128 re S 340 {PAGE_H - 440} 60 90 re f\n"  # y 322..450 from the top
    ops += text_op(320, 460, "Fig. 3. A small diagram in the right column.", size=9)
    pdf = tmp_path / "twocol.pdf"
    pdf.write_bytes(build_pdf([ops]))
    figures = extract_figures(pdf, tmp_path / "out", timeout=60)
    assert [(f.kind, f.number) for f in figures] == [("figure", "3")]
    left, top, right, bottom = figures[0].bbox
    assert left >= 300 and right <= 560  # not the left column's text
    assert 312 < top <= 322 and 465 < bottom < 480


def _ruled_table(top: float, rows: tuple[str, ...]) -> tuple[str, float]:
    """A booktabs-like table: a top rule, a header, a mid rule, rows, a bottom rule."""
    ops = f"0 G 0.8 w 150 {PAGE_H - top} m 460 {PAGE_H - top} l S\n"
    ops += text_op(160, top + 6, "Method", size=9) + text_op(360, top + 6, "Score", size=9)
    ops += f"150 {PAGE_H - top - 20} m 460 {PAGE_H - top - 20} l S\n"
    for i, name in enumerate(rows):
        ops += text_op(160, top + 26 + 13 * i, name, size=9) + text_op(360, top + 26 + 13 * i, f"{70 + i}.5", size=9)
    bottom = top + 26 + 13 * len(rows) + 4
    ops += f"150 {PAGE_H - bottom} m 460 {PAGE_H - bottom} l S\n"
    return ops, bottom


def test_tables_captioned_below_each_get_their_own_rows(tmp_path: Path) -> None:
    """Two tables stacked, each with its caption beneath it (as many papers set them): the first
    caption's own table is above it, and the second table (below it) is the second caption's."""
    ops, y = body_lines(72, 5)
    table_a, a_bottom = _ruled_table(y + 14, ("Baseline", "Ours"))
    ops += table_a + text_op(72, a_bottom + 10, "Table 1: Results on the first data set.", size=9)
    table_b, b_bottom = _ruled_table(a_bottom + 40, ("Baseline", "Ours", "Oracle"))
    ops += table_b + text_op(72, b_bottom + 10, "Table 2: Results on the second data set.", size=9)
    body, _ = body_lines(b_bottom + 40, 20)
    pdf = tmp_path / "stacked.pdf"
    pdf.write_bytes(build_pdf([ops + body]))
    by_number = {f.number: f for f in extract_figures(pdf, tmp_path / "out", timeout=60)}
    assert set(by_number) == {"1", "2"}
    one, two = by_number["1"].bbox, by_number["2"].bbox
    assert one[1] <= y + 14 and a_bottom + 10 < one[3] < a_bottom + 40  # its rules and rows, then its caption
    assert two[1] <= a_bottom + 40 and two[1] > a_bottom + 20 and b_bottom + 10 < two[3] < b_bottom + 40


# ---- broken input ----------------------------------------------------------------------------------------


def _assert_refused(pdf: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, why: str) -> None:
    caplog.set_level(logging.INFO, logger="bot.figures")
    out = tmp_path / "out"
    assert extract_figures(pdf, out, timeout=60, memory_mb=1024) == []
    assert any("no figures from" in r.getMessage() and why in r.getMessage() for r in caplog.records), [
        r.getMessage() for r in caplog.records
    ]
    assert not list(out.glob("*.png"))


def test_truncated_pdf(paper_pdf: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(paper_pdf.read_bytes()[: paper_pdf.stat().st_size * 2 // 3])
    _assert_refused(cut, tmp_path, caplog, "truncated")


@pytest.mark.parametrize(
    "body",
    [bytes(range(256)) * 40, b"<!DOCTYPE html><html><body>Rate exceeded.</body></html>", b""],
    ids=["random-bytes", "html", "empty"],
)
def test_not_a_pdf(body: bytes, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(body)
    _assert_refused(bad, tmp_path, caplog, "not a PDF")


def test_missing_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _assert_refused(tmp_path / "nope.pdf", tmp_path, caplog, "no such file")


def _rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def test_encrypted_pdf(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Standard security handler, revision 2 (RC4-40), with a user password we do not know."""
    pad = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")
    user, owner, perms, file_id = b"secret", b"owner", -4, hashlib.md5(b"paperbot").digest()
    o_value = _rc4(hashlib.md5((owner + pad)[:32]).digest()[:5], (user + pad)[:32])
    key = hashlib.md5((user + pad)[:32] + o_value + struct.pack("<i", perms) + file_id).digest()[:5]
    u_value = _rc4(key, pad)
    encrypt = (
        f"<< /Filter /Standard /V 1 /R 2 /O <{o_value.hex()}> /U <{u_value.hex()}> /P {perms} >>".encode()
    )
    data = build_pdf(
        [figure_page()],
        extra_objects={9: encrypt},
        trailer=f"/Encrypt 9 0 R /ID [<{file_id.hex()}> <{file_id.hex()}>]",
    )
    pdf = tmp_path / "locked.pdf"
    pdf.write_bytes(data)
    _assert_refused(pdf, tmp_path, caplog, "PDFium")


def test_two_thousand_pages_is_bounded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Tiny pages, one shared content stream: only the first pages are looked at."""
    content = b"BT /F1 4 Tf 2 10 Td (Figure 1: tiny) Tj ET 2 2 10 5 re f"
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        4: b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    }
    kids = []
    for i in range(2000):
        objects[10 + i] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 40 20] /Contents 4 0 R /Resources << /Font << /F1 3 0 R >> >> >>"
        )
        kids.append(f"{10 + i} 0 R")
    objects[2] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count 2000 >>".encode()
    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(serialise(objects))
    _assert_refused(pdf, tmp_path, caplog, "of 2000 pages")


def test_decompression_bomb(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A 13,000 x 13,000 image that inflates from ~170 KB to 169 MB, under a caption."""
    side = 13_000
    comp = zlib.compressobj(9)
    row_block = bytes(side * 1000)
    stream = b"".join(comp.compress(row_block) for _ in range(side // 1000)) + comp.flush()
    image = (
        (
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 "
            b"/Filter /FlateDecode /Length %d >>\nstream\n" % (side, side, len(stream))
        )
        + stream
        + b"\nendstream"
    )
    ops, _ = body_lines(72, 10)
    ops += f"q 400 0 0 200 100 {PAGE_H - 420} cm /Im1 Do Q\n"
    ops += text_op(72, 426, "Figure 1: A picture that is far bigger than it looks.", size=9)
    body, _ = body_lines(456, 20)
    pdf = tmp_path / "bomb.pdf"
    pdf.write_bytes(build_pdf([ops + body], extra_objects={9: image}, resources="/XObject << /Im1 9 0 R >>"))
    _assert_refused(pdf, tmp_path, caplog, "pixels")


def test_hung_worker_is_killed(paper_pdf: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.figures")
    result = run_extraction(paper_pdf, tmp_path / "out", timeout=0.001)
    assert result.figures == [] and result.status == "timeout"
    assert any("FIGURE_TIMEOUT" in r.getMessage() for r in caplog.records)


def test_worker_is_kept_between_pdfs(paper_pdf: Path, tmp_path: Path) -> None:
    """One server process serves extraction after extraction."""
    with FigureWorkers() as workers:
        workers.start()
        (server,) = workers.idle
        first = run_extraction(paper_pdf, tmp_path / "a", timeout=60, workers=workers)
        second = run_extraction(paper_pdf, tmp_path / "b", timeout=60, workers=workers)
        assert first.status == second.status == "ok"
        assert [(f.kind, f.number, f.bbox) for f in first.figures] == [
            (f.kind, f.number, f.bbox) for f in second.figures
        ]
        assert server.alive() and workers.idle == [server]
    assert not server.alive()  # closed with its owner


def test_worker_survives_a_timeout_and_a_killed_server(paper_pdf: Path, tmp_path: Path) -> None:
    with FigureWorkers() as workers:
        workers.start()
        (first,) = workers.idle
        assert run_extraction(paper_pdf, tmp_path / "a", timeout=0.001, workers=workers).status == "timeout"
        assert not first.alive()  # an overrun server is killed, with its helper
        assert run_extraction(paper_pdf, tmp_path / "b", timeout=60, workers=workers).status == "ok"  # a new one
        for server in workers.idle:
            server.proc.kill()
            server.proc.wait()
        assert run_extraction(paper_pdf, tmp_path / "c", timeout=60, workers=workers).status == "ok"  # a new one


def test_a_dead_server_is_a_reason_not_an_exception(
    paper_pdf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PDF that crashes PDFium takes the server down mid-request: the caller gets "failed"
    and why, and the next PDF a new server."""
    with FigureWorkers() as workers:
        take = workers.take

        def take_then_crash() -> Any:
            server = take()
            server.proc.kill()  # dies as the request goes out, as a segfault in PDFium would
            server.proc.wait()
            return server

        monkeypatch.setattr(workers, "take", take_then_crash)
        result = run_extraction(paper_pdf, tmp_path / "a", timeout=60, workers=workers)
        assert result.status == "failed" and "figure worker died" in result.reason and result.figures == []
        assert workers.idle == []
        monkeypatch.setattr(workers, "take", take)
        assert run_extraction(paper_pdf, tmp_path / "b", timeout=60, workers=workers).status == "ok"


def test_png_encoder_is_lossless() -> None:
    """The crops' own PNG writer: colour stays RGB, grey becomes one channel, pixels unchanged."""
    import io

    from bot.figures.png import encode_png

    colour = Image.new("RGB", (801, 37), "white")
    colour.putdata([((x * 7) % 256, (y * 13) % 256, (x * y) % 256) for y in range(37) for x in range(801)])
    grey = Image.new("RGB", (5, 300), "white")
    grey.paste((40, 40, 40), (1, 10, 4, 200))
    tiny = Image.new("RGB", (1, 1), (255, 0, 0))
    for image, mode in ((colour, "RGB"), (grey, "L"), (tiny, "RGB")):
        back = Image.open(io.BytesIO(encode_png(image)))
        back.load()
        assert back.mode == mode and back.size == image.size
        assert back.convert("RGB").tobytes() == image.tobytes()


def numbered_figure_page(n: int, chart_h: float) -> str:
    """Body text, a vector chart ``chart_h`` points tall, its caption "Figure n:", more text."""
    ops, _ = body_lines(72, 4)
    top = 130
    ops += f"0.8 0.3 0.2 rg 0 G 1 w 100 {PAGE_H - top - chart_h} 400 {chart_h} re S\n"
    for i in range(5):
        ops += f"{130 + i * 70} {PAGE_H - top - chart_h + 5} 40 {chart_h * (i + 1) / 6:.1f} re f\n"
    ops += text_op(72, top + chart_h + 8, f"Figure {n}: Result number {n} of the experiments, as bars.", size=9)
    body, _ = body_lines(top + chart_h + 40, 12)
    return ops + body


@pytest.fixture
def five_figures_pdf(tmp_path: Path) -> Path:
    path = tmp_path / "five.pdf"
    path.write_bytes(build_pdf([numbered_figure_page(n, h) for n, h in ((1, 80), (2, 200), (3, 120), (4, 260), (5, 60))]))
    return path


def test_only_the_digest_crops_are_drawn_and_the_rest_when_asked(five_figures_pdf: Path, tmp_path: Path) -> None:
    """Every figure is found; the digest's (Figure 1, then the biggest) are drawn at once, the
    others later, to the very PNGs (and pixel sizes) drawing all at once gives."""
    lazy = run_extraction(five_figures_pdf, tmp_path / "lazy", timeout=60, render=2)
    assert lazy.status == "ok"
    assert [(f.number, f.path is not None) for f in lazy.figures] == [
        ("1", True), ("2", False), ("3", False), ("4", True), ("5", False)
    ]
    assert pick_for_digest(lazy.figures, 2) == [lazy.figures[0], lazy.figures[3]]
    full = render_figures(five_figures_pdf, lazy.figures, tmp_path / "lazy", timeout=60)
    assert all(f.path is not None and f.path.is_file() for f in full)
    eager = run_extraction(five_figures_pdf, tmp_path / "eager", timeout=60).figures
    assert [(f.number, f.bbox, f.width, f.height) for f in full] == [(f.number, f.bbox, f.width, f.height) for f in eager]
    assert [(f.width, f.height) for f in lazy.figures] == [(f.width, f.height) for f in eager]  # foretold exactly
    for later, now in zip(full, eager, strict=True):
        assert later.path is not None and now.path is not None
        assert later.path.read_bytes() == now.path.read_bytes()


def test_two_processes_find_and_draw_what_one_does(five_figures_pdf: Path, paper_pdf: Path, tmp_path: Path) -> None:
    """The server and its helper share the pages and the crops; the result is one process's."""
    from bot.figures.document import extract
    from bot.figures.server import Helper

    helper = Helper()
    try:
        for pdf in (five_figures_pdf, paper_pdf):
            one, _ = extract(pdf, tmp_path / f"one-{pdf.stem}")
            two, _ = extract(pdf, tmp_path / f"two-{pdf.stem}", helper=helper)
            assert one == two and len(one) >= 2
            for row in one:
                assert (tmp_path / f"one-{pdf.stem}" / row["file"]).read_bytes() == (
                    tmp_path / f"two-{pdf.stem}" / row["file"]
                ).read_bytes()
        broken = tmp_path / "cut.pdf"
        broken.write_bytes(five_figures_pdf.read_bytes()[:-200])
        with pytest.raises(Exception, match="truncated"):
            extract(broken, tmp_path / "cut", helper=helper)
        again, _ = extract(five_figures_pdf, tmp_path / "again", helper=helper)  # a fresh helper after a failure
        assert [r["number"] for r in again] == ["1", "2", "3", "4", "5"]
    finally:
        helper.reset()


def test_tickets_share_out_two_queues() -> None:
    """Each process takes the front of its own queue first, then the other's (drawing); planning
    steals from the back of the other's while two or more are left there; across a fork every
    place is handed out once."""
    import json
    import os

    from bot.figures.server import Tickets

    tickets = Tickets()
    tickets.reset(0, (3, 1))
    assert tickets.own(1) == 0 and tickets.own(1) is None
    assert [tickets.steal(0), tickets.steal(0), tickets.steal(0)] == [2, 1, None]  # the owner keeps its last
    assert [tickets.own(0), tickets.own(0)] == [0, None]
    tickets.reset(0, (2, 1))
    assert [tickets.take_row(1), tickets.take_row(1), tickets.take_row(0), tickets.take_row(1)] == [
        (1, 0), (0, 0), (0, 1), None
    ]
    tickets.reset(0, (300, 300))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        taken = list(iter(lambda: tickets.take_row(1), None))
        os.write(write, json.dumps(taken).encode())
        os._exit(0)
    os.close(write)
    mine = list(iter(lambda: tickets.take_row(0), None))
    os.waitpid(pid, 0)
    with os.fdopen(read) as fh:
        theirs = [tuple(pair) for pair in json.loads(fh.read())]
    assert sorted(mine + theirs) == [(q, n) for q in (0, 1) for n in range(300)]


# ---- cache ------------------------------------------------------------------------------------------------


def _runs(s: Store, paper_id: str) -> list[dict[str, Any]]:
    return list(s.db.query(f"select * from {RUNS_TABLE} where paper_id = ?", [paper_id]))


def _pdf_requests(fake_arxiv: Any) -> int:
    return sum(1 for kind, _ in fake_arxiv.log if kind == "pdf")


async def test_cache_second_request_renders_nothing(arxiv_settings: Settings, fake_arxiv: Any, paper_pdf: Path) -> None:
    """Through the core, as the bot and the CLI ask: one download, one extraction, then the cache."""
    fake_arxiv.pdfs["2401.00001"] = paper_pdf.read_bytes()
    paper = Paper(id="2401.00001", version=2)
    async with Paperbot(arxiv_settings) as core:
        first = await core.figures(paper)
        assert [(f.kind, f.number) for f in first] == [("figure", "1"), ("table", "1")]
        assert all(f.path and f.path.parent == figures_dir(arxiv_settings, "2401.00001", 2) for f in first)
        mtimes = {f.path: f.path.stat().st_mtime_ns for f in first if f.path}
        second = await core.figures(paper)
        assert second == first
        assert {f.path: f.path.stat().st_mtime_ns for f in second if f.path} == mtimes
        (run,) = await core.store.run(_runs, "2401.00001")
    assert run["runs"] == 1 and run["status"] == "ok" and run["count"] == 2
    assert _pdf_requests(fake_arxiv) == 1


async def test_cache_draws_later_figures_once(arxiv_settings: Settings, fake_arxiv: Any, five_figures_pdf: Path) -> None:
    """A digest draws its crops; asking for every figure draws the rest once, then nothing."""
    fake_arxiv.pdfs["2401.00003"] = five_figures_pdf.read_bytes()
    paper = Paper(id="2401.00003")
    async with Paperbot(arxiv_settings.model_copy(update={"digest_figures": 2})) as core:
        digest = await core.figures(paper)
        assert [f.number for f in digest if f.path] == ["1", "4"]
        cached = await core.store.run(cached_figures, "2401.00003", 1)
        assert [f.number for f in cached or [] if f.path] == ["1", "4"]
        every = await core.figures(paper, every=True)
        assert all(f.path and f.path.is_file() for f in every) and len(every) == 5
        mtimes = {f.path: f.path.stat().st_mtime_ns for f in every if f.path}
        assert await core.figures(paper, every=True) == every
        assert await core.figures(paper) == every
        assert {f.path: f.path.stat().st_mtime_ns for f in every if f.path} == mtimes
        (run,) = await core.store.run(_runs, "2401.00003")
    assert run["runs"] == 1 and run["count"] == 5
    assert _pdf_requests(fake_arxiv) == 1


async def test_cache_remembers_papers_without_figures(arxiv_settings: Settings, fake_arxiv: Any) -> None:
    """A PDF that cannot be read is recorded with its reason and not extracted again."""
    fake_arxiv.pdfs["hep-th/9901001"] = b"%PDF-1.4\n1 0 obj << /Type /Catalog"  # cut short
    paper = Paper(id="hep-th/9901001")
    async with Paperbot(arxiv_settings) as core:
        assert await core.figures(paper) == []
        assert await core.figures(paper) == []
        assert await core.store.run(cached_figures, "hep-th/9901001", 1) == []
        (run,) = await core.store.run(_runs, "hep-th/9901001")
    assert run["status"] == "failed" and "truncated" in run["reason"] and run["runs"] == 1
    assert figures_dir(arxiv_settings, "hep-th/9901001", 1).name == "hep-th_9901001v1"


def test_cache_versions_are_separate_and_save_replaces(store: Store, tmp_path: Path) -> None:
    png = tmp_path / "f.png"
    Image.new("RGB", (800, 400), "white").save(png)
    fig = Figure("figure", "2", "Figure 2: x", 3, (1.0, 2.0, 3.0, 4.0), png, 800, 400)
    save_figures(store, "2401.00002", 1, [fig, fig])
    save_figures(store, "2401.00002", 1, [fig])
    assert cached_figures(store, "2401.00002", 1) == [fig]
    assert cached_figures(store, "2401.00002", 2) is None
    png.unlink()
    assert cached_figures(store, "2401.00002", 1) is None  # files gone: extract again


# ---- digest pick and policy ----------------------------------------------------------------------------


def _fig(kind: str, number: str | None, area: float, path: Path | None = Path("x.png")) -> Figure:
    return Figure(kind, number, "", 1, (0.0, 0.0, area, 1.0), path, 800, 400)


def test_pick_for_digest_puts_figure_one_first_then_by_size() -> None:
    f1, f2, f3, t1 = (
        _fig("figure", "1", 10),
        _fig("figure", "2", 50),
        _fig("figure", "3", 30),
        _fig("table", "1", 40),
    )
    assert pick_for_digest([f3, t1, f2, f1], 4) == [f1, f2, t1, f3]
    assert pick_for_digest([f3, t1, f2, f1], 2) == [f1, f2]
    assert pick_for_digest([f3, t1], 0) == []
    page = _fig("page", None, 5)
    assert pick_for_digest([f3, page, f2], 2) == [page, f2]
    assert pick_for_digest([_fig("figure", "1", 10, path=None), f3], 4) == [f3]


@pytest.mark.parametrize(
    ("policy", "licence", "allowed"),
    [
        ("all", None, True),
        ("all", "http://arxiv.org/licenses/nonexclusive-distrib/1.0/", True),
        ("open", "http://creativecommons.org/licenses/by/4.0/", True),
        ("open", "http://arxiv.org/licenses/nonexclusive-distrib/1.0/", False),
        ("open", None, False),
        ("none", "http://creativecommons.org/licenses/by/4.0/", False),
    ],
)
def test_may_post_figures(settings: Settings, policy: str, licence: str | None, allowed: bool) -> None:
    settings.figure_policy = policy  # type: ignore[assignment]
    assert may_post_figures(settings, Paper(id="2401.00001", license=licence)) is allowed


# ---- real papers ------------------------------------------------------------------------------------------


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "figures", "tables"),
    [
        ("2309.07125v1_TECA_3D_avatars.pdf", 17, 1),  # two columns, raster figures
        ("1803.08494v3_GroupNorm_vector_figures.pdf", 7, 8),  # vector-only figures, tables captioned below
        ("2403.07420v3_DragAnything.pdf", 11, 3),  # one column, mixed
    ],
)
def test_real_papers(name: str, figures: int, tables: int, tmp_path: Path) -> None:
    pdf = shared_path("pdfs", name)
    found = extract_figures(pdf, tmp_path / "out", timeout=120)
    numbers = {(f.kind, f.number) for f in found}
    want = {("figure", str(i)) for i in range(1, figures + 1)} | {
        ("table", str(i)) for i in range(1, tables + 1)
    }
    assert len(numbers & want) >= 0.9 * len(want), sorted(want - numbers)
    for f in found:
        assert f.path is not None and f.path.is_file()
        assert max(f.width, f.height) <= 1281 and f.width + f.height <= 10_000  # Telegram shows up to 1280
        assert f.caption.lower().startswith(("fig", "tab"))


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "table", "top", "bottom"),
    [  # tables set above their captions, which used to come out as the caption alone (or plus body text)
        ("2309.02965v1_hand_object_reconstruction.pdf", "2", 69.8, 196.4),
        ("2309.06895v2_MagiCapture_portrait.pdf", "1", 50.6, 212.8),  # body text below the caption
        ("2309.06895v2_MagiCapture_portrait.pdf", "3", 50.6, 186.5),  # Figure 9 below, captioned beneath it
        ("2309.07970v2_LERF_TOGO_grasping.pdf", "1", 264.7, 351.8),
        ("2401.17509v1_Anything_in_Any_Scene.pdf", "1", 253.0, 366.7),  # Table 2 below, captioned beneath it
    ],
)
def test_real_tables_above_their_captions(name: str, table: str, top: float, bottom: float, tmp_path: Path) -> None:
    found = {(f.kind, f.number): f for f in extract_figures(shared_path("pdfs", name), tmp_path / "out", timeout=120)}
    box = found[("table", table)].bbox
    assert abs(box[1] - top) < 3 and abs(box[3] - bottom) < 3, box
