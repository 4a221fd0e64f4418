"""The no-key summary (bot/extractive.py) on real abstracts: roles, no repeats, no longer than the
abstract, the contribution sentence as the one-liner, LaTeX as text, multi-word keywords."""

from __future__ import annotations

import re

import pytest

from bot.extractive import extract, keywords, latex_to_text, split_sentences
from bot.pdftext import _page_texts, split_sections
from tests.conftest import shared_path

PARTS = ("background", "past_methods", "method", "results", "conclusion")
#: arXiv's titles of the shared PDFs (the first page's, as arXiv lists them)
TITLES = {
    "1111.2011": "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit",
    "1803.08494": "Group Normalization",
    "2206.10883": "Multi-LexSum: Real-World Summaries of Civil Rights Lawsuits at Multiple Granularities",
    "2304.02623": "Beyond Summarization: Designing AI Support for Real-World Expository Writing Tasks",
    "2309.02965": "Dynamic Hyperbolic Attention Network for Fine Hand-object Reconstruction",
    "2309.06441": "Learning Disentangled Avatars with Hybrid 3D Representations",
    "2309.06895": "MagiCapture: High-Resolution Multi-Concept Portrait Customization",
    "2309.07125": "Text-Guided Generation and Editing of Compositional 3D Avatars",
    "2309.07970": "Language Embedded Radiance Fields for Zero-Shot Task-Oriented Grasping",
    "2401.04099": "AGG: Amortized Generative 3D Gaussians for Single Image to 3D",
    "2401.17509": "Anything in Any Scene: Photorealistic Video Object Insertion",
    "2401.18075": "CARFF: Conditional Auto-encoded Radiance Field for 3D Scene Forecasting",
    "2402.11929": "DiLightNet: Fine-grained Lighting Control for Diffusion-based Image Generation",
    "2402.17525": "Diffusion Model-Based Image Editing: A Survey",
    "2403.07420": "DragAnything: Motion Control for Anything using Entity Representation",
    "2506.18890": "4D-LRM: Large Space-Time Reconstruction Model From and To Any View at Any Time",
}
# what a PDF's first page has after the abstract that arXiv's abstract field does not
_AFTER_ABSTRACT = re.compile(
    r"\s(Keywords?\b|KEYWORDS|Index Terms|CCS Concepts|Preprint\.|Technical Report,|\* ?Denotes|∗).*$", re.S
)


def shared_abstracts() -> dict[str, str]:
    """The abstracts of the 16 shared PDFs: the recorded API response for 1111.2011 (its PDF has no
    "Abstract" heading), the first pages' abstract section for the others."""
    out: dict[str, str] = {}
    api = shared_path("arxiv_api", "legacy2016_id_list_1111.2011v2.xml").read_text()
    for path in sorted(shared_path("pdfs").glob("*.pdf")):
        pid = path.name.split("_")[0].split("v")[0]
        if pid == "1111.2011":
            text = re.search(r"<summary>(.*?)</summary>", api, re.S).group(1)  # type: ignore[union-attr]
        else:
            sections = split_sections("\n".join(_page_texts(str(path))[:2]))
            text = next(s.text for s in sections if s.kind == "abstract")
        text = re.sub(r"\ufffe\s*", "", text)  # pdfium's soft hyphen at a line end
        out[pid] = " ".join(_AFTER_ABSTRACT.sub("", text).split())
    assert len(out) == 16
    return out


def _pieces(fields: dict) -> list[str]:
    return [fields["summary"], *fields["key_takeaways"], *(fields[k] for k in PARTS if fields[k])]


@pytest.mark.shared
def test_no_key_summaries_of_the_shared_papers_repeat_nothing_and_stay_shorter() -> None:
    one_liners = {}
    for pid, abstract in shared_abstracts().items():
        fields = extract(TITLES[pid], abstract)
        pieces = _pieces(fields)
        total = sum(len(p) for p in pieces)
        assert total <= len(abstract), (pid, total, len(abstract))
        used = [s.rstrip("…") for p in pieces for s in split_sentences(p)]
        assert len(used) == len(set(used)), pid  # no sentence twice, across card and sections
        for a in used:
            for b in used:
                assert a is b or not b.startswith(a[:60]), (pid, a)  # nor a shortened copy of one
        assert 0 < len(fields["summary"]) <= 100 and 3 <= len(fields["key_takeaways"]) <= 7, pid
        assert any(len(k.split()) > 1 for k in fields["keywords"]), (pid, fields["keywords"])
        one_liners[pid] = fields["summary"]
    # the one-liner is what the paper does (its contribution), not the opening background
    does = [pid for pid, s in one_liners.items() if re.match(r"(We|This paper|Our) ", s)]
    assert len(does) >= 14, one_liners
    print("\n".join(f"{pid}\t{s}" for pid, s in one_liners.items()))


def test_roles_come_from_cue_words_and_position() -> None:
    abstract = (
        "Neural radiance fields render novel views of a scene. However, existing methods need hours of "
        "training per scene and fail on dynamic content. In this paper, we propose FastField, a hash-grid "
        "field that trains in minutes. FastField couples a tiny MLP with a multi-resolution hash encoding. "
        "Experiments on LLFF show it is 40$\\times$ faster and improves PSNR by $\\sim$1.2 dB over NeRF. "
        "We believe this opens the way to interactive capture. Code is available at https://github.com/x/y."
    )
    fields = extract("FastField: Radiance Fields in Minutes", abstract)
    assert fields["summary"].startswith("We propose FastField, a hash-grid field")
    assert fields["background"].startswith("Neural radiance fields")
    everything = " ".join(_pieces(fields))
    assert "40× faster" in everything and "~1.2 dB" in everything and "$" not in everything
    assert "github.com" not in everything  # links are shown as links, not as a sentence
    assert "We believe this opens" in fields["conclusion"] or any("We believe" in t for t in fields["key_takeaways"])
    assert any(" " in k for k in fields["keywords"])


def test_latex_becomes_text_and_keywords_are_terms() -> None:
    assert latex_to_text(r"about $\sim$10\% faster, $3\times$ less, \textbf{bold} $\alpha$-blending") == (
        "about ~10% faster, 3× less, bold α-blending"
    )
    words = keywords(
        "Gaussian Head Avatars from Monocular Video",
        "We build gaussian head avatars from a monocular video. Our gaussian head avatars are relightable. "
        "Monocular video capture is cheap.",
    )
    assert "gaussian head avatars" in words and "monocular video" in words
    assert all(" " in w or any(c.isupper() for c in w[1:]) for w in words)  # no lone generic word


def test_short_and_empty_abstracts() -> None:
    short = extract("A tiny paper", "We propose X, which is fast; it beats Y by 3%, and it is simple to implement.")
    assert short["summary"] and sum(len(p) for p in _pieces(short)) <= 80
    empty = extract("Only a title", "")
    assert empty["summary"] == "Only a title"
