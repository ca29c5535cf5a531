"""Draws the desk's icon (a candle pair on a dark tile) at the sizes the installers need.

Run once when the icon changes; the PNG and ICO it writes are committed under packaging/icons
(and the PNG is shipped with the app for its window icon).
"""

import sys
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPainterPath

HERE = Path(__file__).parent / "icons"


def draw(size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    unit = size / 16
    tile = QPainterPath()
    tile.addRoundedRect(QRectF(0.5 * unit, 0.5 * unit, 15 * unit, 15 * unit), 3 * unit, 3 * unit)
    p.fillPath(tile, QColor("#131722"))
    for x, wick, body, colour in (
        (4.5, (3.0, 12.5), (5.0, 10.0), "#26a69a"),
        (9.5, (2.0, 13.0), (3.5, 8.5), "#ef5350"),
    ):
        p.fillRect(
            QRectF((x + 0.75) * unit, wick[0] * unit, 0.5 * unit, (wick[1] - wick[0]) * unit),
            QColor(colour),
        )
        p.fillRect(
            QRectF(x * unit, body[0] * unit, 2 * unit, (body[1] - body[0]) * unit), QColor(colour)
        )
    p.fillRect(QRectF(2.5 * unit, 13.5 * unit, 11 * unit, 0.6 * unit), QColor("#f0b90b"))
    p.end()
    return image


def main() -> int:
    QGuiApplication(sys.argv)
    HERE.mkdir(exist_ok=True)
    for size in (16, 32, 48, 64, 128):
        draw(size).save(str(HERE / f"dalaldesk-{size}.png"))
    draw(256).save(str(HERE / "dalaldesk.png"))
    if not draw(256).save(str(HERE / "dalaldesk.ico")):
        print("this Qt has no ICO writer; dalaldesk.ico not written", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
