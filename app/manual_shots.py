"""`python -m app.manual_shots [OUTDIR]`: the user manual's pictures, taken by the desk itself.

Drives the screenshot machinery (``app.screenshot``) on the paper market: the whole window, each
panel the manual describes, the order ticket, a running multileg portfolio with its editor, a
chart with indicators, algos and signals at work, a finished backtest, and the Performance panel
on a book that traded for two weeks. Each picture is then scaled to the width the manual shows
it at and reduced to a 256-colour palette, so the shipped manual stays small. The default OUTDIR
is the manual's own ``img`` folder (``resources/manual/img``); run it after a change to a panel
and look at the pictures before committing them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.screenshot import capture, run_offscreen

if TYPE_CHECKING:
    from PySide6.QtGui import QImage

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "resources" / "manual" / "img"
PICTURE_WIDTH = 900
"""The widest a picture is shown at (pixels): the manual's window shows it without scrolling."""
PANEL_SIZE = (1000, 440)
"""The size a panel is floated at for its picture (then scaled to ``PICTURE_WIDTH``)."""
PANEL_SIZES = {
    "payoff": (1000, 640),
    "risk": (1000, 400),
    "strategies": (1000, 260),
    "multileg": (1300, 440),
    "algos": (1150, 190),
    "signals": (900, 560),
    "performance": (1300, 560),
    "backtest": (1000, 800),
}
"""Panels that need another size to show what they hold."""


@dataclass(frozen=True)
class Session:
    """One run of the desk and the pictures taken in it."""

    window: str | None
    """File name of the whole window's picture (None: none is kept)."""
    docks: dict[str, str] = field(default_factory=dict)
    """Panel (dock object name) → file name of its picture."""
    portfolio: str | None = None
    editor: str | None = None
    chart: str | None = None
    chart_file: str | None = None
    ticket: str | None = None
    past_days: int = 0
    """Days of trading the book holds before today (the Performance panel shows them)."""


SESSIONS = (
    Session(
        window="main_window.png",
        docks={
            "marketWatch": "market_watch.png",
            "optionChain": "option_chain.png",
            "orderbook": "orderbook.png",
            "trades": "trades.png",
            "positions": "positions.png",
            "messages": "messages.png",
            "risk": "risk.png",
            "strategies": "strategies.png",
        },
        ticket="order_ticket.png",
    ),
    Session(
        window="multileg_window.png",
        docks={"multileg": "multileg.png", "payoff": "payoff.png", "greeks": "greeks.png"},
        portfolio="iron_condor",
        editor="multileg_editor.png",
        chart="NSE:RELIANCE@5m+EMA 21+VWAP",
        chart_file="chart.png",
    ),
    Session(
        window=None,
        docks={
            "signals": "signals.png",
            "backtest": "backtest.png",
            "performance": "performance.png",
            "algos": "algos.png",  # last: the TWAP has worked a while by then
        },
        past_days=14,
    ),
)


def pictures() -> list[str]:
    """Every file name the sessions write."""
    names = []
    for session in SESSIONS:
        names += [n for n in (session.window, *session.docks.values()) if n]
        names += [n for n in (session.editor, session.chart_file, session.ticket) if n]
    return names


async def take_all(raw: Path) -> None:
    """Every session's pictures, full size, into ``raw``."""
    for session in SESSIONS:
        await capture(
            raw / session.window if session.window else None,
            4.0,
            [],
            [session.portfolio] if session.portfolio else None,
            raw / session.editor if session.editor else None,
            [session.chart] if session.chart else None,
            raw / session.chart_file if session.chart_file else None,
            docks_out={name: raw / file for name, file in session.docks.items()},
            ticket_out=raw / session.ticket if session.ticket else None,
            dock_sizes={name: PANEL_SIZES.get(name, PANEL_SIZE) for name in session.docks},
            past_days=session.past_days,
        )


def shrink(source: Path, out: Path, max_width: int) -> None:
    """``source`` scaled down to ``max_width`` (never up) with a palette of its own 256 most used
    colour shades, as PNG: a third of the size, and a thin coloured line keeps its colour."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage

    image = QImage(str(source))
    if image.isNull():
        raise SystemExit(f"{source} is not a picture")
    if image.width() > max_width:
        image = image.scaledToWidth(max_width, Qt.TransformationMode.SmoothTransformation)
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    image = image.convertToFormat(
        QImage.Format.Format_Indexed8, palette_of(image), Qt.ImageConversionFlag.ThresholdDither
    )
    if not image.save(str(out), "PNG", 0):
        raise SystemExit(f"could not write {out}")


def palette_of(image: QImage, size: int = 256) -> list[int]:
    """The ``size`` most used shades of an RGB32 picture: colours are counted in 32 levels per
    channel (so an anti-aliased edge does not crowd out a line of its own colour), each shade
    given as its most used colour."""
    width = image.bytesPerLine() // 4
    pixels = np.frombuffer(image.constBits(), dtype=np.uint32).reshape(image.height(), width)
    pixels = pixels[:, : image.width()].ravel() | np.uint32(0xFF000000)
    colours, counts = np.unique(pixels, return_counts=True)
    shades = ((colours >> 19) & 0x1F) << 10 | ((colours >> 11) & 0x1F) << 5 | (colours >> 3) & 0x1F
    by_use = np.lexsort((-counts, shades))  # each shade's colours, most used first
    first = np.unique(shades[by_use], return_index=True)[1]
    representatives = colours[by_use][first]
    shade_counts = np.bincount(np.searchsorted(np.unique(shades), shades), weights=counts)
    chosen = representatives[np.argsort(shade_counts)[::-1][:size]]
    return [int(c) for c in chosen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.manual_shots")
    parser.add_argument("out", type=Path, nargs="?", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dalaldesk-shots-") as tmp:
        raw = Path(tmp)
        run_offscreen(take_all(raw))
        for name in pictures():
            shrink(raw / name, out / name, PICTURE_WIDTH)
            print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
