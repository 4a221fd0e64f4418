"""Every captioned figure and table of a paper, cropped from its PDF, cached per paper version.

The PDF work (:mod:`bot.figures.server` and the stages it runs) runs in another process, never in the bot's: PDFium is
not thread-safe, and a hostile or broken PDF must neither hang nor crash the bot. A small server
process (PDFium loaded, started on first use and kept, with a helper process for the second
core) does one PDF per request under a memory cap (``RLIMIT_AS``); when it overruns
``FIGURE_TIMEOUT`` or dies, it is killed and the next PDF gets a new one. Only paths and JSON
cross the pipes (the PNGs are files). Any failure becomes "no figures" plus a logged reason.

Every figure is found at once, but only the crops a digest posts (``DIGEST_FIGURES``, the
teaser first, then the biggest) are drawn then; the others are drawn the first time they are
wanted (:func:`render_figures`: the CLI, a bigger ``DIGEST_FIGURES``). Results are cached: the
PNGs under ``DATA_DIR/figures/<id>v<version>/`` and rows in two tables, ``figure_runs`` (one per
extracted version, so a paper without figures is cached too) and ``figures`` (one per figure or
table, its ``path`` empty until drawn). The async core calls :func:`cached_figures` /
:func:`save_figures` / :func:`save_drawn` on its database thread and :func:`run_extraction` /
:func:`render_figures` in a worker thread, one request at a time.

The package, stage by stage (as pdffigures2 keeps them apart); only the first four are imported
by the bot, the rest run in the figure server with PDFium:

- :mod:`.model` the :class:`Figure` rows; :mod:`.cache` their tables and PNG directory;
  :mod:`.pick` which a digest shows; :mod:`.client` the server process, seen from the bot.
- :mod:`.server` the server process and its page helper (no geometry);
  :mod:`.document` one PDF: pages shared between the two processes, rows joined, crops drawn.
- :mod:`.text` reading text lines; :mod:`.layout` the paper's layout statistics;
  :mod:`.captions` body text and captions; :mod:`.objects` images and vector paths;
  :mod:`.assemble` the walk from a caption to its figure; :mod:`.crop` the crop's box and size;
  :mod:`.png` PNG encoding; :mod:`.pdf` opening files and pages; :mod:`.geometry` the shapes.
"""

from __future__ import annotations

from .cache import (
    FIGURES_TABLE,
    RUNS_TABLE,
    cached_figures,
    ensure_tables,
    figures_dir,
    save_drawn,
    save_figures,
)
from .client import FigureWorkers, extract_figures, render_figures, run_extraction
from .model import Extraction, Figure
from .pick import digest_order, may_post_figures, pick_for_digest, wanted

__all__ = [
    "FIGURES_TABLE",
    "RUNS_TABLE",
    "Extraction",
    "Figure",
    "FigureWorkers",
    "cached_figures",
    "digest_order",
    "ensure_tables",
    "extract_figures",
    "figures_dir",
    "may_post_figures",
    "pick_for_digest",
    "render_figures",
    "run_extraction",
    "save_drawn",
    "save_figures",
    "wanted",
]
