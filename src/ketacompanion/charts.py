"""Charts of check-ins, drawn with matplotlib for a phone screen (1080 x 1350 px).

matplotlib is imported inside the functions: it costs about a second at import, and
commands such as ``content publish`` never draw; a running bot warms it on a background
thread so the first chart does not wait for it. The object API (``Figure`` + Agg canvas) is used instead of
pyplot, so drawing holds no global state and can run in a worker thread."""

from __future__ import annotations

import functools
import io
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ketacompanion.chart_text import printable
from ketacompanion.core.history import ClinicianSummary, MoodHistory, Series

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SIZE_IN, DPI = (7.2, 9.0), 150  # 1080 x 1350 px
FONT = 15
COLOURS = ("#1f5fa8", "#c8553d")
SESSION_COLOUR = "#7a4fa3"
PHONE_LINES = 18  # lines of the summary that fit above the charts on the phone picture
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
    # Half a day past the end, so today's answer is a whole dot, not half of one at the edge.
    ax.set_xlim(history.start.astimezone(tz), (history.end + timedelta(hours=12)).astimezone(tz))
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(tz=tz, minticks=3, maxticks=6))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d", tz=tz))
    ax.tick_params(labelsize=FONT - 2)
    label = history.labels.get("session", "session")
    for at in history.sessions:
        ax.axvline(at.astimezone(tz), color=SESSION_COLOUR, linestyle="--", linewidth=1.5, alpha=0.8)
        ax.text(at.astimezone(tz), 1.0, f" {label} {at.astimezone(tz):%b %d}", transform=ax.get_xaxis_transform(),
                rotation=90, va="top", ha="right", fontsize=FONT - 6, color=SESSION_COLOUR)
    ax.grid(axis="y", alpha=0.3)


def _empty_note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=FONT, color="#555555",
            transform=ax.transAxes, wrap=True)


def _with_gaps(series: Series, zone: str) -> tuple[list[Any], list[float]]:
    """Points in time order, with a break wherever answers stopped for longer than their
    rhythm (a day for the daily scales, a week for questionnaires), so a line never draws
    missing answers as a smooth trend."""
    tz = ZoneInfo(zone)
    points = sorted(series.points)
    limit = (2 if series.top <= 10 else 10.5) * 86400.0
    xs: list[Any] = []
    ys: list[float] = []
    for i, (at, value) in enumerate(points):
        if i and (at - points[i - 1][0]).total_seconds() > limit:
            xs.append(points[i - 1][0].astimezone(tz) + (at - points[i - 1][0]) / 2)
            ys.append(float("nan"))
        xs.append(at.astimezone(tz))
        ys.append(float(value))
    return xs, ys


def _plot(ax: Axes, series: Series, colour: str, history: MoodHistory) -> None:
    if not series.points:
        return
    xs, ys = _with_gaps(series, history.zone)
    ax.plot(xs, ys, marker="o", markersize=5, linewidth=2.2, color=colour, label=series.label)


def _scale_panel(ax: Axes, series: Series, colour: str, history: MoodHistory, ends: tuple[str, str]) -> None:
    """One 0-10 scale per panel, its ends named: for mood higher is better, for anxiety
    higher is worse, and one shared axis would invite reading them alike."""
    _plot(ax, series, colour, history)
    ax.set_ylim(-0.5, 10.5)
    ax.set_yticks([0, 5, 10])
    ax.set_ylabel(f"0 {ends[0]} … 10 {ends[1]}", fontsize=FONT - 7)
    _time_axis(ax, history)
    if not series.points:
        _empty_note(ax, history.labels.get("empty", ""))
    ax.set_title(series.label, fontsize=FONT + 1, loc="left", color=colour)


_SCALE_ENDS = {0: ("worst", "best"), 1: ("calm", "very anxious")}


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


def _panels(history: MoodHistory) -> int:
    return len(history.scales) + len(history.scores)


def _draw_history(fig: Figure, history: MoodHistory, rows: Any) -> None:
    axes = [fig.add_subplot(rows[i]) for i in range(_panels(history))]
    for i, (ax, series) in enumerate(zip(axes, history.scales, strict=False)):
        ends = history.labels.get(f"ends_{i}", "|".join(_SCALE_ENDS.get(i, ("", "")))).split("|")
        _scale_panel(ax, series, COLOURS[i % len(COLOURS)], history, (ends[0], ends[-1]))
    for ax, series in zip(axes[len(history.scales):], history.scores, strict=True):
        _score_panel(ax, series, history)


def render_mood(history: MoodHistory) -> bytes:
    """Mood and anxiety on top, then one panel per scored questionnaire; sessions dashed."""
    fig = _figure()
    fig.suptitle(history.title, fontsize=FONT + 4)
    n = _panels(history)
    grid = fig.add_gridspec(n, 1)
    _draw_history(fig, history, [grid[i, 0] for i in range(n)])
    return _save(fig, "png")


def _summary_figure(summary: ClinicianSummary) -> Figure:
    fig = _figure()
    n = _panels(summary.chart)
    grid = fig.add_gridspec(1 + n, 1, height_ratios=[2.2] + [0.8] * n)
    text_ax = fig.add_subplot(grid[0, 0])
    text_ax.axis("off")
    text_ax.set_title(summary.title, fontsize=FONT + 3, loc="left")
    # Clip long lists to the page: the text block is what a clinician reads first.
    shown = list(summary.lines[:PHONE_LINES])
    if len(summary.lines) > PHONE_LINES:
        shown[-1] = "…"  # the PDF carries every line
    body = "\n".join(printable(line) for line in shown)
    text_ax.text(0, 1, body, va="top", ha="left", fontsize=FONT - 5, family="DejaVu Sans",
                 transform=text_ax.transAxes)
    _draw_history(fig, summary.chart, [grid[i + 1, 0] for i in range(n)])
    # supxlabel takes part in the constrained layout, so it never overlaps the dates.
    fig.supxlabel(summary.footer, fontsize=FONT - 4, color="#333333", x=0.01, ha="left")
    return fig


def render_summary(summary: ClinicianSummary) -> tuple[bytes, bytes]:
    """A phone-sized picture, and a PDF on the person's paper size: the sections, then
    the charts."""
    from ketacompanion.summary_pdf import summary_pdf

    return _save(_summary_figure(summary), "png"), summary_pdf(summary, _draw_history, _panels)


def warm() -> None:
    """Import matplotlib and read the font's glyphs now: about a second that the first
    ``/mood`` or ``/summary`` would otherwise wait."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401

    printable("")


@functools.cache
def warm_in_background() -> threading.Thread:
    """Once per process, on a daemon thread: never delays start-up or exit."""
    thread = threading.Thread(target=warm, name="charts-warm", daemon=True)
    thread.start()
    return thread


class MatplotlibCharts:
    """The core's ``ChartRenderer``. Building one warms matplotlib in the background."""

    def __init__(self) -> None:
        warm_in_background()

    def mood_png(self, history: MoodHistory) -> bytes:
        return render_mood(history)

    def summary(self, summary: ClinicianSummary) -> tuple[bytes, bytes]:
        return render_summary(summary)
