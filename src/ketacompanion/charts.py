"""Charts of check-ins, drawn with matplotlib for a phone screen (1080 x 1350 px).

matplotlib is imported inside the functions: it costs about a second at import, and
most processes never draw. The object API (``Figure`` + Agg canvas) is used instead of
pyplot, so drawing holds no global state and can run in a worker thread."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ketacompanion.core.history import ClinicianSummary, MoodHistory, Series

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SIZE_IN, DPI = (7.2, 9.0), 150  # 1080 x 1350 px
FONT = 15
COLOURS = ("#1f5fa8", "#c8553d")
# Light to dark: the band shading reads as "higher is heavier" without judging.
BAND_SHADES = ("#eef5ee", "#fbf6e3", "#fcebd9", "#f9dcd4", "#f3c9c3")


def _figure(size: tuple[float, float] = SIZE_IN) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    return fig


def _save(fig: Figure, fmt: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if fmt == "pdf":
        from matplotlib.backends.backend_pdf import FigureCanvasPdf

        FigureCanvasPdf(fig)
    else:
        FigureCanvasAgg(fig)
    out = io.BytesIO()
    fig.savefig(out, format=fmt, dpi=DPI)
    return out.getvalue()


def _time_axis(ax: Axes, history: MoodHistory) -> None:
    import matplotlib.dates as mdates

    tz = ZoneInfo(history.zone)
    ax.set_xlim(history.start.astimezone(tz), history.end.astimezone(tz))
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(tz=tz, minticks=3, maxticks=6))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d", tz=tz))
    ax.tick_params(labelsize=FONT - 2)
    for at in history.sessions:
        ax.axvline(at.astimezone(tz), color="#7a4fa3", linestyle="--", linewidth=1.5, alpha=0.8)
    ax.grid(axis="y", alpha=0.3)


def _empty_note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=FONT, color="#555555",
            transform=ax.transAxes, wrap=True)


def _plot(ax: Axes, series: Series, colour: str, history: MoodHistory) -> None:
    if not series.points:
        return
    tz = ZoneInfo(history.zone)
    xs = [at.astimezone(tz) for at, _ in series.points]
    ys = [v for _, v in series.points]
    ax.plot(xs, ys, marker="o", markersize=6, linewidth=2.5, color=colour, label=series.label)


def _scales_panel(ax: Axes, history: MoodHistory) -> None:
    for series, colour in zip(history.scales, COLOURS, strict=False):
        _plot(ax, series, colour, history)
    ax.set_ylim(-0.5, 10.5)
    ax.set_yticks([0, 2, 4, 6, 8, 10])
    _time_axis(ax, history)
    if any(s.points for s in history.scales):
        ax.legend(fontsize=FONT - 2, loc="upper left")
    else:
        _empty_note(ax, history.labels.get("empty", ""))
    ax.set_title(" / ".join(s.label for s in history.scales), fontsize=FONT + 1, loc="left")


def _score_panel(ax: Axes, series: Series, history: MoodHistory) -> None:
    top = series.top or 1
    edges = [low for low, _ in series.bands] + [top + 1]
    for i, (low, name) in enumerate(series.bands):
        ax.axhspan(low - 0.5, edges[i + 1] - 0.5, color=BAND_SHADES[min(i, len(BAND_SHADES) - 1)], zorder=0)
        ax.text(1.0, (low + edges[i + 1] - 1) / 2, f" {name}", transform=ax.get_yaxis_transform(),
                fontsize=FONT - 4, va="center", ha="right", color="#444444")
    _plot(ax, series, COLOURS[0], history)
    ax.set_ylim(-0.5, top + 0.5)
    _time_axis(ax, history)
    ax.set_title(series.label, fontsize=FONT + 1, loc="left")
    if not series.points:
        _empty_note(ax, history.labels.get("empty", ""))


def _draw_history(fig: Figure, history: MoodHistory, rows: Any) -> None:
    axes = [fig.add_subplot(rows[i]) for i in range(1 + len(history.scores))]
    _scales_panel(axes[0], history)
    for ax, series in zip(axes[1:], history.scores, strict=True):
        _score_panel(ax, series, history)


def render_mood(history: MoodHistory) -> bytes:
    """Mood and anxiety on top, then one panel per scored questionnaire; sessions dashed."""
    fig = _figure()
    fig.suptitle(history.title, fontsize=FONT + 4)
    grid = fig.add_gridspec(1 + len(history.scores), 1, height_ratios=[1.4] + [1] * len(history.scores))
    _draw_history(fig, history, [grid[i, 0] for i in range(1 + len(history.scores))])
    return _save(fig, "png")


def _summary_figure(summary: ClinicianSummary) -> Figure:
    fig = _figure()
    n = len(summary.chart.scores)
    grid = fig.add_gridspec(2 + n, 1, height_ratios=[2.2, 1.1] + [0.8] * n)
    text_ax = fig.add_subplot(grid[0, 0])
    text_ax.axis("off")
    text_ax.set_title(summary.title, fontsize=FONT + 3, loc="left")
    # Clip long lists to the page: the text block is what a clinician reads first.
    body = "\n".join(summary.lines[:28])
    text_ax.text(0, 1, body, va="top", ha="left", fontsize=FONT - 5, family="DejaVu Sans",
                 transform=text_ax.transAxes)
    _draw_history(fig, summary.chart, [grid[i + 1, 0] for i in range(1 + n)])
    # supxlabel takes part in the constrained layout, so it never overlaps the dates.
    fig.supxlabel(summary.footer, fontsize=FONT - 4, color="#333333", x=0.01, ha="left")
    return fig


def render_summary(summary: ClinicianSummary) -> tuple[bytes, bytes]:
    fig = _summary_figure(summary)
    return _save(fig, "png"), _save(fig, "pdf")


class MatplotlibCharts:
    """The core's ``ChartRenderer``."""

    def mood_png(self, history: MoodHistory) -> bytes:
        return render_mood(history)

    def summary(self, summary: ClinicianSummary) -> tuple[bytes, bytes]:
        return render_summary(summary)
