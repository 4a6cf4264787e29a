"""The clinician summary as a PDF on US Letter or A4: its sections as text and aligned
tables (as many pages as they need), then a page of charts.

Drawn with matplotlib's PDF backend, imported lazily like ``charts.py``; text in the PDF
stays text, so it can be searched, copied and read back."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ketacompanion.chart_text import printable
from ketacompanion.core.history import ClinicianSummary, MoodHistory

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PAPER_IN = {"a4": (8.27, 11.69), "letter": (8.5, 11.0)}
LINE = 0.0175  # of the page height, at FONT points
FONT = 9.5
TOP, BOTTOM, LEFT = 0.95, 0.07, 0.07
WRAP = 100  # characters per line at FONT on the narrower page
TABLE_COLUMNS = (0.0, 0.16, 0.38, 0.53)  # offsets from LEFT for "a | b | c | d"


def _page(size: tuple[float, float], summary: ClinicianSummary) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    fig.text(LEFT, BOTTOM - 0.035, printable(summary.footer), fontsize=FONT - 1.5, color="#333333")
    return fig


def summary_pdf(
    summary: ClinicianSummary,
    draw_history: Callable[[Any, MoodHistory, Any], None],
    panels: Callable[[MoodHistory], int],
) -> bytes:
    from matplotlib.backends.backend_pdf import FigureCanvasPdf, PdfPages

    size = PAPER_IN.get(summary.paper, PAPER_IN["a4"])
    pages: list[Figure] = []
    fig = _page(size, summary)
    fig.text(LEFT, TOP, printable(summary.title), fontsize=FONT + 5, weight="bold", va="top")
    y = TOP - 2.2 * LINE
    pages.append(fig)

    def room(lines: int) -> None:
        nonlocal fig, y
        if y - lines * LINE < BOTTOM:
            fig = _page(size, summary)
            pages.append(fig)
            y = TOP

    for section in summary.sections:
        if section.heading:
            room(2)
            y -= 0.4 * LINE
            fig.text(LEFT, y, printable(section.heading), fontsize=FONT + 1.5, weight="bold", va="top")
            y -= 1.3 * LINE
        for index, line in enumerate(section.lines):
            if section.table:
                room(1)
                weight = "bold" if index == 0 else "normal"
                for offset, cell in zip(TABLE_COLUMNS, line.split(" | "), strict=False):
                    fig.text(LEFT + offset, y, printable(cell), fontsize=FONT, va="top", weight=weight)
                y -= LINE
                continue
            for part in textwrap.wrap(line, WRAP) or [""]:
                room(1)
                fig.text(LEFT, y, printable(part), fontsize=FONT, va="top")
                y -= LINE
    from matplotlib.figure import Figure

    charts = Figure(figsize=size, layout="constrained")
    charts.get_layout_engine().set(w_pad=0.3, h_pad=0.15)  # type: ignore[union-attr]
    n = panels(summary.chart)
    grid = charts.add_gridspec(n, 1)
    charts.suptitle(printable(summary.chart.title), fontsize=FONT + 4, weight="bold", x=0.07, ha="left")
    draw_history(charts, summary.chart, [grid[i, 0] for i in range(n)])
    charts.supxlabel(printable(summary.footer), fontsize=FONT - 1.5, color="#333333", x=0.07, ha="left")
    pages.append(charts)
    out = io.BytesIO()
    with PdfPages(out, metadata={"Title": summary.title, "Creator": "ketacompanion"}) as pdf:
        for page in pages:
            FigureCanvasPdf(page)
            pdf.savefig(page)
    return out.getvalue()
