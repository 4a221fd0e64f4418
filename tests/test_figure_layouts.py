"""Figure extraction on the layouts issue #13 found failing: each as a made PDF, and as the
shared PDF it was found in where there is one (skipped without ``../shared``)."""

from __future__ import annotations

import statistics
import zlib
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from bot.figures import Figure, cached_figures, extract_figures, pick_for_digest, run_extraction, save_figures
from bot.store import Store
from tests.conftest import shared_path
from tests.test_figures import PAGE_H, body_lines, build_pdf, text_op

# ---- resolution ---------------------------------------------------------------------------------------


def _text_px(pdf: Path, fig: Figure) -> float:
    """The median height in pixels of the text inside a crop (pdfium's text rectangles)."""
    with pdfium.PdfDocument(str(pdf)) as doc:
        page = doc[fig.page - 1]
        textpage = page.get_textpage()
        _, _, _, y1 = page.get_cropbox()
        left, top, right, bottom = fig.bbox
        heights = []
        for i in range(textpage.count_rects()):
            rl, rb, rr, rt = textpage.get_rect(i)
            if left <= (rl + rr) / 2 <= right and top <= y1 - (rb + rt) / 2 <= bottom:
                heights.append(rt - rb)
    return statistics.median(heights) * fig.width / (right - left)


def _image_object(width: int, height: int) -> bytes:
    """A grey raster image XObject of ``width`` x ``height`` pixels (a gradient)."""
    data = zlib.compress(bytes((x * 255 // max(1, width - 1)) for _ in range(height) for x in range(width)))
    return (
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
        b" /BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n" % (width, height, len(data))
        + data
        + b"\nendstream"
    )


def resolution_pages() -> list[str]:
    """Page 1: a full-width vector chart. Page 2: a photo of 150 x 75 pixels shown 300 pt wide.
    Page 3: a dense full-width table in 6 pt type."""
    chart, _ = body_lines(72, 8)
    chart += "0.2 0.4 0.8 rg 0 G 1 w\n" + f"72 {PAGE_H - 400} 468 170 re S\n"
    chart += "".join(f"{90 + i * 60} {PAGE_H - 390} 30 {40 + 15 * i} re f\n" for i in range(7))
    chart += text_op(72, 410, "Figure 1: A full-width vector chart of every method and data set.", size=9)
    chart += body_lines(440, 20)[0]
    photo, _ = body_lines(72, 8)
    photo += f"q 300 0 0 150 156 {PAGE_H - 400} cm /Im1 Do Q\n"
    photo += text_op(72, 410, "Figure 2: A photograph of the scene.", size=9)
    photo += body_lines(440, 20)[0]
    table, _ = body_lines(72, 4)
    table += text_op(72, 130, "Table 1: Every method on every data set. Best numbers in bold.", size=9)
    table += f"0 G 0.6 w 72 {PAGE_H - 144} m 540 {PAGE_H - 144} l S\n"
    for r in range(12):
        table += "".join(text_op(76 + 39 * c, 150 + 8 * r, f"{r}{c}.{c}{r}", size=6) for c in range(12))
    table += f"72 {PAGE_H - 250} m 540 {PAGE_H - 250} l S\n"
    table += body_lines(270, 30)[0]
    return [chart, photo, table]


def test_crops_are_as_sharp_as_telegram_shows_and_photos_no_sharper_than_their_pixels(tmp_path: Path) -> None:
    """Vector art and a dense table: the longest side at 1280 px (what Telegram shows), the
    table's 6 pt digits at least 9 px tall. A 150 px photo: not drawn past its own pixels
    beyond what keeps its caption's text 10 px tall (about 1.3x here, not 1280 px wide)."""
    pdf = tmp_path / "sharp.pdf"
    pdf.write_bytes(
        build_pdf(resolution_pages(), extra_objects={20: _image_object(150, 75)}, resources="/XObject << /Im1 20 0 R >>")
    )
    got = {(f.kind, f.number): f for f in extract_figures(pdf, tmp_path / "out", timeout=60)}
    chart, photo, table = got["figure", "1"], got["figure", "2"], got["table", "1"]
    assert 1270 <= chart.width <= 1280 and chart.width + chart.height <= 10_000  # blank margins trimmed
    assert 1270 <= table.width <= 1280 and _text_px(pdf, table) >= 9
    photo_scale = photo.width / (photo.bbox[2] - photo.bbox[0])
    assert 1.0 <= photo_scale <= 1.6, photo_scale  # 0.5 px per point of its own; its caption needs ~1.3
    assert _text_px(pdf, photo) >= 9.5
    for f in got.values():
        assert f.path is not None
        from PIL import Image

        with Image.open(f.path) as img:
            assert img.size == (f.width, f.height)


# ---- the running head ---------------------------------------------------------------------------------


def _running_head(page: int) -> str:
    """An IEEE-style head: the journal's name and the page number, a rule under them."""
    ops = text_op(72, 36, "IEEE TRANSACTIONS ON MADE-UP TESTS, VOL. 1, NO. 1", size=7)
    ops += text_op(530, 36, str(page), size=7)
    return ops + f"0 G 0.5 w 72 {PAGE_H - 47} m 540 {PAGE_H - 47} l S\n"


def headed_pages() -> list[str]:
    """Three pages with a running head; page 2 opens with a full-width figure whose panel titles
    sit 8 pt under the head's rule, above where the body text starts on every page (72 pt)."""
    plain = [_running_head(n) + body_lines(72, 50)[0] for n in (1, 3)]
    fig = _running_head(2)
    for i, title in enumerate(("(a) Input views", "(b) Reconstruction", "(c) Error map")):
        x = 80 + 160 * i
        fig += text_op(x + 20, 55, title, size=8)
        fig += f"0.3 0.5 0.7 rg {x} {PAGE_H - 200} 140 132 re f\n"
    fig += text_op(72, 210, "Figure 1: Three panels, each titled at the top of the page.", size=9)
    fig += body_lines(240, 38)[0]
    return [plain[0], fig, plain[1]]


def test_panel_titles_under_the_running_head_are_kept(tmp_path: Path) -> None:
    """The crop starts at the panel titles: not at the body text's top (which cut them off),
    nor up at the running head or its rule."""
    pdf = tmp_path / "headed.pdf"
    pdf.write_bytes(build_pdf(headed_pages()))
    figures = extract_figures(pdf, tmp_path / "out", timeout=60)
    fig = next(f for f in figures if (f.kind, f.number) == ("figure", "1"))
    top = fig.bbox[1]
    assert 48 < top <= 55, fig.bbox  # titles' glyphs start at 55; the rule is at 47
    assert fig.bbox[3] > 210


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "number", "top"),
    [
        ("2506.18890_4D-LRM_projectpage_nostamp.pdf", "4", 73.0),  # "Time" over the camera grids (72.6)
        ("2506.18890_4D-LRM_projectpage_nostamp.pdf", "8", 73.0),  # the plots' x10^4 exponents (72.5)
    ],
)
def test_real_figures_keep_what_sits_above_the_body_text(name: str, number: str, top: float, tmp_path: Path) -> None:
    pdf = shared_path("pdfs", name)
    figures = extract_figures(pdf, tmp_path / "out", timeout=120)
    fig = next(f for f in figures if (f.kind, f.number) == ("figure", number))
    assert fig.bbox[1] <= top, fig.bbox


# ---- turned pages ----------------------------------------------------------------------------------


def _landscape_table() -> str:
    """A wide table with its caption, drawn in a landscape page's coordinates (792 x 612)."""
    h = 612

    def at(x: float, top: float, text: str, size: float = 9) -> str:
        return f"BT /F1 {size} Tf {x:.1f} {h - top - size * 0.8:.1f} Td ({text}) Tj ET\n"

    ops = at(72, 72, "Table 1: Every method on every data set, set on a landscape page.")
    ops += f"0 G 0.8 w 72 {h - 90} m 720 {h - 90} l S\n"
    for r in range(10):
        ops += "".join(at(80 + 64 * c, 96 + 14 * r, f"{r}.{c}{r}") for c in range(10))
    ops += f"72 {h - 240} m 720 {h - 240} l S\n"
    return ops


def turned_pdf(rotate: bool) -> bytes:
    """Portrait pages of body text around a landscape table: with ``/Rotate 90`` (pdflscape), or
    set sideways on a portrait page with no /Rotate (a sideways float)."""
    portrait = body_lines(72, 30)[0] + f"0.3 0.5 0.7 rg 150 {PAGE_H - 540} 300 90 re f\n"
    portrait += text_op(72, 550, "Figure 1: A portrait figure on the page before.", size=9)
    sideways = "q 0 1 -1 0 612 0 cm\n" + _landscape_table() + "Q\n"
    pdf = build_pdf([portrait, sideways, body_lines(72, 50)[0]])
    return pdf.replace(b"/MediaBox [0 0 612 792] /Contents 13 0 R", b"/MediaBox [0 0 612 792] /Rotate 90 /Contents 13 0 R") if rotate else pdf


@pytest.mark.parametrize("rotate", [True, False], ids=["rotate-90", "sideways"])
def test_turned_pages_give_their_figures(rotate: bool, tmp_path: Path) -> None:
    """The table on the turned page is found, cut and drawn upright: wider than tall, its
    caption read whole, its rows in the crop."""
    pdf = tmp_path / "turned.pdf"
    data = turned_pdf(rotate)
    assert (b"/Rotate 90" in data) == rotate
    pdf.write_bytes(data)
    got = {(f.kind, f.number): f for f in extract_figures(pdf, tmp_path / "out", timeout=60)}
    table = got["table", "1"]
    assert table.page == 2
    assert table.caption == "Table 1: Every method on every data set, set on a landscape page."
    left, top, right, bottom = table.bbox
    assert right - left > 600 and 150 < bottom - top < 200, table.bbox  # the turned page is 792 wide
    assert table.width > table.height
    assert ("figure", "1") in got


@pytest.mark.shared
def test_real_sideways_figure_page(tmp_path: Path) -> None:
    """CARFF's Fig. 14 is set sideways on a portrait page, its caption along the long side."""
    pdf = shared_path("pdfs", "2401.18075v2_CARFF_radiance_field.pdf")
    got = {(f.kind, f.number): f for f in extract_figures(pdf, tmp_path / "out", timeout=120)}
    fig = got["figure", "14"]
    assert fig.page == 25 and fig.caption.startswith("Fig. 14: Single-Scene Approaching Intersection")
    assert fig.width > fig.height and fig.bbox[2] - fig.bbox[0] > 550


# ---- captions -------------------------------------------------------------------------------------


def test_words_hyphenated_across_caption_lines_are_joined(tmp_path: Path) -> None:
    """A hyphenation joins ("indi-" + "cates"); a compound the page uses elsewhere keeps its
    hyphen ("object-" + "level"); "text-" + "to-image" keeps it too."""
    ops = body_lines(72, 6, first="We compare object-level and pixel-level accuracy of the five methods here.")[0]
    ops += "0.2 0.4 0.8 rg 0 G 1 w\n" + f"100 {PAGE_H - 330} 400 150 re S\n"
    ops += "".join(f"{130 + i * 70} {PAGE_H - 320} 40 {30 + 20 * i} re f\n" for i in range(5))
    caption = [
        "Figure 1: Accuracy of every method, where a higher bar indi-",
        "cates a better score at the object-",
        "level, and the text-",
        "to-image models are shown last.",
    ]
    ops += "".join(text_op(72, 340 + 11 * k, line, size=9) for k, line in enumerate(caption))
    ops += body_lines(400, 25)[0]
    pdf = tmp_path / "hyphens.pdf"
    pdf.write_bytes(build_pdf([ops]))
    fig = extract_figures(pdf, tmp_path / "out", timeout=60)[0]
    assert fig.caption == (
        "Figure 1: Accuracy of every method, where a higher bar indicates a better score at the"
        " object-level, and the text-to-image models are shown last."
    )


@pytest.mark.shared
def test_real_captions_join_hyphenated_words(tmp_path: Path) -> None:
    pdf = shared_path("pdfs", "2309.07125v1_TECA_3D_avatars.pdf")
    got = {(f.kind, f.number): f.caption for f in extract_figures(pdf, tmp_path / "out", timeout=120)}
    assert "indicates" in got["table", "1"] and "indi cates" not in got["table", "1"]
    assert "refined" in got["figure", "7"] and "re fined" not in got["figure", "7"]


# ---- the digest's choice --------------------------------------------------------------------------


def _chart(top: float, height: float, width: float = 300) -> str:
    return f"0.2 0.4 0.8 rg {306 - width / 2} {PAGE_H - top - height} {width} {height} re f\n"


def digest_pages() -> list[str]:
    """Page 1: the teaser. Page 2: a small overview figure and the main results table. Page 3:
    the references start. Page 4: a big appendix figure, the biggest of all."""
    p1 = body_lines(72, 6)[0] + _chart(160, 120) + text_op(72, 290, "Figure 1: What the method does.", size=9)
    p1 += body_lines(320, 30)[0]
    p2 = body_lines(72, 4)[0] + _chart(130, 60, 200)
    p2 += text_op(72, 200, "Figure 2: Overview of our method. Each stage in turn.", size=9)
    p2 += body_lines(230, 4)[0]
    p2 += text_op(72, 290, "Table 1: Comparison with the state of the art on three data sets.", size=9)
    p2 += f"0 G 0.8 w 150 {PAGE_H - 306} m 460 {PAGE_H - 306} l S\n"
    for i in range(3):
        p2 += text_op(160, 312 + 13 * i, f"Method {i}", size=9) + text_op(300, 312 + 13 * i, f"{70 + i}.5", size=9)
    p2 += f"150 {PAGE_H - 354} m 460 {PAGE_H - 354} l S\n" + body_lines(380, 25)[0]
    p3 = body_lines(72, 20)[0] + text_op(72, 330, "References", size=12) + body_lines(350, 25)[0]
    p4 = _chart(72, 420, 440) + text_op(72, 500, "Figure 3: More results on every scene, the biggest figure.", size=9)
    p4 += body_lines(530, 14)[0]
    return [p1, p2, p3, p4]


def test_digest_prefers_the_overview_and_main_results_to_a_bigger_appendix_figure(
    tmp_path: Path, store: Store
) -> None:
    """Teaser, overview figure, main results table; the appendix figure last, though biggest.
    The choice is the worker's (only those crops are drawn) and survives the cache."""
    pdf = tmp_path / "digest.pdf"
    pdf.write_bytes(build_pdf(digest_pages()))
    got = run_extraction(pdf, tmp_path / "out", timeout=60, render=3)
    by = {(f.kind, f.number): f for f in got.figures}
    assert by["figure", "3"].area > max(f.area for f in got.figures if f.number != "3")
    chosen = [(f.kind, f.number) for f in pick_for_digest(got.figures, 3)]
    assert chosen == [("figure", "1"), ("figure", "2"), ("table", "1")]
    assert by["figure", "3"].path is None  # not drawn for the digest
    save_figures(store, "2401.00009", 1, got.figures)
    cached = cached_figures(store, "2401.00009", 1)
    assert cached is not None and [(f.kind, f.number) for f in pick_for_digest(cached, 3)] == chosen


# ---- neighbours -----------------------------------------------------------------------------------


def stacked_page() -> str:
    """Two plots, each captioned below, the second's tick labels starting 2 pt under the first's
    caption (4D-LRM's Figs. 8 and 9)."""
    ops = body_lines(72, 5)[0] + _chart(142, 100, 400)
    ops += text_op(72, 250, "Figure 1: The distributions under both settings.", size=9)
    for i, tick in enumerate(("0.90", "0.85", "0.80", "0.75")):
        ops += text_op(90, 260 + 22 * i, tick, size=5) + text_op(330, 260 + 22 * i, tick, size=5)
    ops += "".join(f"0.8 0.3 0.2 rg {110 + 240 * k} {PAGE_H - 354} 200 90 re f\n" for k in range(2))
    ops += text_op(72, 370, "Figure 2: Training-time scaling curves of every variant.", size=9)
    return ops + body_lines(400, 25)[0]


def test_a_caption_does_not_take_the_next_figures_labels(tmp_path: Path) -> None:
    pdf = tmp_path / "stacked.pdf"
    pdf.write_bytes(build_pdf([stacked_page()]))
    got = {(f.kind, f.number): f for f in extract_figures(pdf, tmp_path / "out", timeout=60)}
    one, two = got["figure", "1"], got["figure", "2"]
    assert one.caption == "Figure 1: The distributions under both settings."
    assert one.bbox[3] < 263 and 255 < two.bbox[1] < 261, (one.bbox, two.bbox)  # each its own plot
    assert two.bbox[3] > 370


@pytest.mark.shared
def test_real_stacked_figures_are_apart(tmp_path: Path) -> None:
    pdf = shared_path("pdfs", "2506.18890_4D-LRM_projectpage_nostamp.pdf")
    got = {(f.kind, f.number): f for f in extract_figures(pdf, tmp_path / "out", timeout=120)}
    eight, nine = got["figure", "8"], got["figure", "9"]
    assert eight.caption.endswith("on 24 frames with the same dynamic object.")
    assert nine.page == 9 and nine.caption.startswith("Figure 9: Training-time scaling curves.")
    assert eight.bbox[3] <= nine.bbox[1] + 4 and nine.bbox[3] > 300


# ---- blank margins ----------------------------------------------------------------------------------


def test_blank_margins_inside_a_crop_are_trimmed(tmp_path: Path) -> None:
    """A figure drawn on a white panel three times its size (an image's white margins): the crop
    is the chart and its caption, and its box says so."""
    ops = body_lines(72, 5)[0]
    ops += f"1 1 1 rg 72 {PAGE_H - 400} 468 260 re f\n"  # the white panel, 140..400
    ops += f"0.2 0.4 0.8 rg 256 {PAGE_H - 390} 100 60 re f\n"  # the chart, 330..390
    ops += text_op(230, 410, "Figure 1: A small chart on a big white panel.", size=9)
    ops += body_lines(440, 25)[0]
    pdf = tmp_path / "panel.pdf"
    pdf.write_bytes(build_pdf([ops]))
    fig = extract_figures(pdf, tmp_path / "out", timeout=60)[0]
    left, top, right, bottom = fig.bbox
    assert 325 <= top <= 330 and left >= 225 and right <= 460, fig.bbox
    assert abs(fig.width / (right - left) - fig.height / (bottom - top)) < 0.05  # the box is what is shown


# ---- what is blank is not the figure's: white backgrounds, transparent margins --------------------


def _masked_image(width: int, height: int, clear_rows: int, mask_id: int) -> tuple[bytes, bytes]:
    """A grey image whose top ``clear_rows`` rows are transparent (a cut-out on a transparent
    canvas), and its soft mask (object ``mask_id``)."""
    pixels = zlib.compress(bytes(((x * 7 + y * 3) % 200) for y in range(height) for x in range(width)))
    alpha = zlib.compress(bytes((0 if y < clear_rows else 255) for y in range(height) for _ in range(width)))
    image = (
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8"
        b" /SMask %d 0 R /Filter /FlateDecode /Length %d >>\nstream\n" % (width, height, mask_id, len(pixels))
        + pixels
        + b"\nendstream"
    )
    mask = (
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8"
        b" /Filter /FlateDecode /Length %d >>\nstream\n" % (width, height, len(alpha))
        + alpha
        + b"\nendstream"
    )
    return image, mask


def teaser_pages() -> list[str]:
    """Page 1: the title and a wide author line, then a teaser image whose top half is
    transparent: its box starts 3 pt under the authors, what it shows 150 pt lower (MagiCapture,
    DELTA). Page 2: body text."""
    ops = text_op(150, 60, "A Made-Up Title for a Test of Teasers", size=16)
    ops += text_op(110, 100, "Alice Author, Bob Builder, Carol Coder and Dan Developer, University of Tests")
    ops += f"q 400 0 0 300 106 {PAGE_H - 416} cm /Im1 Do Q\n"  # 116..416, showing 266..416
    ops += text_op(72, 426, "Figure 1: What the method makes, from a single photograph of the scene.", size=9)
    ops += body_lines(460, 20)[0]
    return [ops, body_lines(72, 50)[0]]


def test_a_teasers_transparent_margin_does_not_take_the_title_block(tmp_path: Path) -> None:
    image, mask = _masked_image(40, 40, 20, 21)
    pdf = tmp_path / "teaser.pdf"
    pdf.write_bytes(build_pdf(teaser_pages(), extra_objects={20: image, 21: mask}, resources="/XObject << /Im1 20 0 R >>"))
    fig = run_extraction(pdf, tmp_path / "out", timeout=60, render=0).figures[0]
    assert (fig.kind, fig.number) == ("figure", "1")
    assert 255 < fig.bbox[1] <= 266 and fig.bbox[3] > 426, fig.bbox  # from what it shows to its caption


def white_panel_page() -> str:
    """Body text, then a chart on a white panel that reaches up over the last two lines of the
    text (an included figure's background, CARFF's Fig. 6)."""
    ops = f"1 1 1 rg 60 {PAGE_H - 400} 492 244 re f\n"  # the panel, 156..400: drawn first, the text over it
    ops += body_lines(72, 10)[0]  # 72..192
    ops += f"0.2 0.4 0.8 rg 156 {PAGE_H - 390} 300 150 re f\n"  # the chart, 240..390
    ops += text_op(72, 410, "Figure 1: A chart on a white panel bigger than the chart.", size=9)
    return ops + body_lines(440, 25)[0]


def test_a_white_background_does_not_reach_the_body_text(tmp_path: Path) -> None:
    pdf = tmp_path / "panel.pdf"
    pdf.write_bytes(build_pdf([white_panel_page()]))
    fig = run_extraction(pdf, tmp_path / "out", timeout=60, render=0).figures[0]
    assert 230 < fig.bbox[1] <= 240, fig.bbox  # the chart's top, not the text's lines at 168 and 180


# ---- tables next to other things ------------------------------------------------------------------


def table_on_photos_page() -> str:
    """A table captioned above, its header row right under the caption (no rule), ruled columns,
    and a grid of photos set directly under its bottom rule, captioned below (DragAnything's
    Table 1 and Fig. 7): no gap anywhere between the caption's last line and the photos'."""
    ops = body_lines(72, 4)[0]
    ops += text_op(72, 130, "Table 1: Results of every method on the three data sets.", size=9)
    ops += "".join(text_op(90 + 110 * c, 143, name, size=7) for c, name in enumerate(("Method", "PSNR", "SSIM", "LPIPS")))
    ops += f"0 G 0.5 w 72 {PAGE_H - 153} m 540 {PAGE_H - 153} l S\n"
    for r in range(2):
        ops += "".join(text_op(90 + 110 * c, 157 + 10 * r, f"{r}{c}.{c}", size=7) for c in range(4))
    ops += f"72 {PAGE_H - 178} m 540 {PAGE_H - 178} l S\n"
    ops += "".join(f"{185 + 110 * c} {PAGE_H - 141} m {185 + 110 * c} {PAGE_H - 179.5} l S\n" for c in range(3))
    for r in range(2):  # photos from 179.5 down, no gap under the rules
        ops += "".join(f"q 150 0 0 60 {80 + 152 * c} {PAGE_H - 239.5 - 62 * r} cm /Im1 Do Q\n" for c in range(3))
    ops += text_op(72, 312, "Figure 1: Photographs of every scene, from each method.", size=9)
    return ops + body_lines(340, 25)[0]


def test_a_table_set_on_a_figures_photos_is_cut_where_they_start(tmp_path: Path) -> None:
    pdf = tmp_path / "stack.pdf"
    pdf.write_bytes(
        build_pdf([table_on_photos_page()], extra_objects={20: _image_object(60, 24)}, resources="/XObject << /Im1 20 0 R >>")
    )
    got = {(f.kind, f.number): f for f in run_extraction(pdf, tmp_path / "out", timeout=60, render=0).figures}
    table, fig = got["table", "1"], got["figure", "1"]
    assert table.caption == "Table 1: Results of every method on the three data sets."  # not its header row
    assert 172 < table.bbox[3] <= 180, table.bbox  # its rows and bottom rule, no photo
    assert 176 <= fig.bbox[1] < 181 and fig.bbox[3] > 312, fig.bbox  # the photos, no table row


def wrapped_table_page() -> str:
    """One column: body text, then a table set on the right with narrow body text beside it on
    the left (wraptable), a rule 3 pt under the caption and the header row 2 pt under the rule."""
    ops = body_lines(72, 5)[0]
    narrow = "Lorem ipsum dolor sit amet consectetur adipiscing"
    ops += "".join(text_op(72, 140 + 12 * i, narrow) for i in range(10))  # 140..260, to x = 300 or so
    ops += text_op(330, 140, "Table 2: Scores of each method.", size=9)
    ops += f"0 G 0.5 w 330 {PAGE_H - 152} m 540 {PAGE_H - 152} l S\n"
    for r in range(5):
        ops += "".join(text_op(335 + 52 * c, 154 + 10 * r, "Method" if r == 0 and c == 0 else f"{r}.{c}{r}", size=7) for c in range(4))
    ops += f"330 {PAGE_H - 206} m 540 {PAGE_H - 206} l S\n"
    return ops + body_lines(280, 30)[0]


def test_a_table_set_beside_the_text_keeps_to_its_side(tmp_path: Path) -> None:
    pdf = tmp_path / "wrapped.pdf"
    pdf.write_bytes(build_pdf([wrapped_table_page(), body_lines(72, 50)[0]]))
    table = run_extraction(pdf, tmp_path / "out", timeout=60, render=0).figures[0]
    assert (table.kind, table.number) == ("table", "2")
    assert table.caption == "Table 2: Scores of each method."
    left, top, _, bottom = table.bbox
    assert left > 315 and top > 135 and 200 < bottom < 212, table.bbox  # the table, none of the text beside it


# ---- the same, on the shared papers ----------------------------------------------------------------


def _real_boxes(name: str, tmp_path: Path) -> dict[tuple[str, str | None], Figure]:
    got = run_extraction(shared_path("pdfs", name), tmp_path / "out", timeout=120, render=0)
    return {(f.kind, f.number): f for f in got.figures}


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "above"),
    [
        ("2309.06441v1_DELTA_disentangled_avatars.pdf", 209.4),  # the "Project Page" line ends at 209.4
        ("2309.06895v2_MagiCapture_portrait.pdf", 171.3),  # the authors' e-mail line ends at 171.3
    ],
)
def test_real_teasers_start_below_the_title_block(name: str, above: float, tmp_path: Path) -> None:
    fig = _real_boxes(name, tmp_path)["figure", "1"]
    assert fig.bbox[1] > above, fig.bbox


@pytest.mark.shared
def test_real_white_backgrounds_reach_no_neighbour(tmp_path: Path) -> None:
    """CARFF: Fig. 5's background reached over Fig. 4's caption (ending at x 293.7), Fig. 6's over
    the body text above it (ending at 284.2). DragAnything: Table 2's reached over Table 3 beside
    it (from x 335.7)."""
    carff = _real_boxes("2401.18075v2_CARFF_radiance_field.pdf", tmp_path)
    assert carff["figure", "5"].bbox[0] > 294 and carff["figure", "6"].bbox[1] > 284.2
    drag = _real_boxes("2403.07420v3_DragAnything.pdf", tmp_path)
    assert drag["table", "2"].bbox[2] < 335.7, drag["table", "2"].bbox
    # Table 1's last row ends at 175.7, Fig. 7's photos start at 176.7: no gap between them
    assert 175.7 < drag["table", "1"].bbox[3] < 180 and 172 < drag["figure", "7"].bbox[1] <= 176.7
    assert drag["table", "1"].caption.endswith("did not release source code based on SVD [3].")


@pytest.mark.shared
def test_real_tables_over_figures_of_cut_outs(tmp_path: Path) -> None:
    """AGG p. 8: Table 2's rows end at 174.2, Fig. 5's cut-outs (their boxes reaching up to 136)
    show from 185. 4D-LRM p. 8: Tables 3 and 4 side by side (rows to 235.8) above Fig. 7."""
    agg = _real_boxes("2401.04099v1_AGG_3D_gaussians.pdf", tmp_path)
    assert 174 < agg["table", "2"].bbox[3] < 186 < agg["figure", "5"].bbox[1] + 8, (agg["table", "2"].bbox, agg["figure", "5"].bbox)
    lrm = _real_boxes("2506.18890_4D-LRM_projectpage_nostamp.pdf", tmp_path)
    for number in ("3", "4"):
        assert 235 < lrm["table", number].bbox[3] < 242, lrm["table", number].bbox
    assert 235.8 < lrm["figure", "7"].bbox[1] < 245, lrm["figure", "7"].bbox
    assert lrm["table", "3"].caption.endswith("4 canonical input views at each frame.")
    # Table 5 is set beside the text (wraptable): its box is the right column's
    five = lrm["table", "5"]
    assert five.bbox[0] > 316 and five.caption.endswith("by collapsing frame times to 0."), five
    # Fig. 12 is wider than the text: its last column of pictures reaches x 552
    assert lrm["figure", "12"].bbox[2] > 550


@pytest.mark.shared
def test_real_captions_stop_at_their_tables(tmp_path: Path) -> None:
    got = _real_boxes("2206.10883v3_Multi-LexSum_cs.CL.pdf", tmp_path)
    assert got["table", "8"].caption == "Table 8: Multi-LexSum train-dev-test splits."
    assert got["table", "7"].caption == "Table 7: Different Types of Source Documents in Multi-LexSum"


@pytest.mark.shared
def test_real_photo_crops_are_drawn_for_their_labels(tmp_path: Path) -> None:
    """Crops that are mostly photos are drawn no finer than the photos' pixels, unless their
    labels' own runs of text (4 pt tall here, not their lines) would be under 10 px: CARFF's
    Fig. 4 came out at 8.5 px, DragAnything's Fig. 2 at 7.2."""
    for name, number in (("2401.18075v2_CARFF_radiance_field.pdf", "4"), ("2403.07420v3_DragAnything.pdf", "2")):
        pdf = shared_path("pdfs", name)
        got = run_extraction(pdf, tmp_path / name, timeout=120, render=None)
        fig = next(f for f in got.figures if (f.kind, f.number) == ("figure", number))
        assert _text_px(pdf, fig) >= 9, (name, fig.width)
