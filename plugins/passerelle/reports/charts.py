"""Report charts as inline SVG: matplotlib figures on the Agg canvas, no pyplot, no files, no network.

Figures are built with the object API (``Figure`` + ``FigureCanvasAgg``) so no GUI backend is ever
loaded and nothing global (pyplot's figure registry) keeps them alive in a long-running worker. Text
stays text (``svg.fonttype = none``), so the numbers of a chart can be searched in the page. Each SVG is
made fit to inline in an HTML page: no XML prolog or DOCTYPE (which name the W3C's URLs), no namespace
declarations (the HTML parser supplies them), and every element id prefixed with the chart's name so
several charts can share one page. Matplotlib needs floats: amounts are converted here, for drawing only.
"""

from __future__ import annotations

import html
import io
import re
import textwrap
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

Number = int | float | Decimal
NumberText = Callable[[Number], str]  # how the report's language writes a number (``1 234,5`` in French)

WIDTH, HEIGHT = 7.0, 3.2  # inches
PALETTE = ("#1b6ca8", "#e07b39", "#3a9d5d", "#c0392b", "#8e6bbf", "#7f8c8d", "#d4ac0d", "#16a085")
READY, NOT_READY = "#3a9d5d", "#c0392b"
TICK_LABEL_WIDTH = 18  # characters per line of a category label under its bar
SVG_RC = {"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}
# Matplotlib writes its name, the date and RDF namespaces into <metadata> unless every key is None.
NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}


def _plain(text: str) -> str:
    """Text as matplotlib should print it: a '$' would otherwise start mathtext."""
    return text.replace("$", r"\$")


def _figure(height: float = HEIGHT) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(WIDTH, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots()


def to_svg(figure: Figure, name: str, spoken: str | None = None) -> str:
    """The figure as an ``<svg>`` element ready to inline, its ids prefixed with ``name``; ``spoken`` (default:
    ``name``) is what a screen reader says of it, in the page's language."""
    buffer = io.StringIO()
    with matplotlib.rc_context({**SVG_RC, "svg.hashsalt": name}):
        figure.savefig(buffer, format="svg", metadata=NO_METADATA)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg, count=2)
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{name}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{name}-\1)", svg)
    svg = re.sub(r'href="#([^"]+)"', rf'href="#{name}-\1"', svg)
    said = html.escape(spoken or name, quote=True)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{said}" data-chart="{name}" ', 1).strip()


def _written(axis: Any, number: NumberText) -> None:
    """Tick labels of ``axis`` written as the report writes numbers, not as matplotlib does."""
    axis.set_major_formatter(FuncFormatter(lambda value, _position: _plain(number(value))))


def _legend(axes: Axes) -> None:
    """Legend beside the plot, where it can hide no bar or point."""
    axes.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def stacked_bars(name: str, categories: Sequence[str], series: dict[str, Sequence[Number]], *, ylabel: str,
                 number: NumberText = str, colors: Sequence[str] = PALETTE, spoken: str | None = None) -> str:
    """One bar per category, stacked by series (in the order given), its total written on top."""
    with matplotlib.rc_context(SVG_RC):
        figure, axes = _figure()
        labels = [textwrap.fill(_plain(c), TICK_LABEL_WIDTH) for c in categories]  # long labels never overlap
        bottom = [0.0] * len(categories)
        container = None
        for index, (label, values) in enumerate(series.items()):
            heights = [float(v) for v in values]
            container = axes.bar(labels, heights, bottom=bottom, label=_plain(label), color=colors[index % len(colors)],
                                 width=0.5)
            bottom = [b + h for b, h in zip(bottom, heights)]
        if container is not None:
            totals = [sum(values[i] for values in series.values()) for i in range(len(categories))]
            axes.bar_label(container, labels=[_plain(number(total)) for total in totals], padding=2)
        if all(isinstance(v, int) for values in series.values() for v in values):
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        _written(axes.yaxis, number)
        axes.set_xlim(-0.75, len(categories) - 0.25)  # a lone bar stays a bar, not a wall
        axes.margins(y=0.12)
        axes.set_ylabel(_plain(ylabel))
        _legend(axes)
        axes.grid(axis="y", alpha=0.3)
        return to_svg(figure, name, spoken)


def lines(name: str, x_labels: Sequence[str], series: dict[str, Sequence[Number | None]], *, ylabel: str,
          number: NumberText = str, ylim: tuple[float, float] | None = None, spoken: str | None = None) -> str:
    """One line with markers per series over the x labels; None leaves a gap."""
    with matplotlib.rc_context(SVG_RC):
        figure, axes = _figure()
        positions = range(len(x_labels))
        for index, (label, values) in enumerate(series.items()):
            ys = [float(v) if v is not None else float("nan") for v in values]
            axes.plot(positions, ys, marker="o", label=_plain(label), color=PALETTE[index % len(PALETTE)])
        axes.set_xticks(list(positions), [_plain(x) for x in x_labels], rotation=30 if len(x_labels) > 6 else 0)
        axes.set_ylabel(_plain(ylabel))
        _written(axes.yaxis, number)
        if ylim:
            axes.set_ylim(*ylim)
        _legend(axes)
        axes.grid(axis="y", alpha=0.3)
        return to_svg(figure, name, spoken)


def bars(name: str, labels: Sequence[str], values: Sequence[Number], *, xlabel: str, number: NumberText = str,
         spoken: str | None = None) -> str:
    """Horizontal bars, one per label, each with its value written at its end."""
    with matplotlib.rc_context(SVG_RC):
        figure, axes = _figure(height=max(1.6, 0.4 * len(labels) + 0.8))
        container = axes.barh([_plain(label) for label in labels], [float(v) for v in values], color=PALETTE[0])
        axes.bar_label(container, labels=[_plain(number(v)) for v in values], padding=3)
        axes.invert_yaxis()
        if all(isinstance(v, int) for v in values):
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel(_plain(xlabel))
        _written(axes.xaxis, number)
        axes.grid(axis="x", alpha=0.3)
        return to_svg(figure, name, spoken)
