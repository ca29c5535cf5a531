"""Help → User manual: the manual shipped with the desk, read offline in a window of its own.

The pages are plain HTML files under ``resources/manual`` (reached through ``resource_path``, so
the same files open from a checkout, a wheel and the installed bundle). The window is a
``QTextBrowser`` with back, forward and contents; links between pages and to anchors are followed
inside it, while a web address (http, https, mailto) goes to the desktop's browser and never
loads here: the manual works with no network.

Some parts of the manual are generated when a page is opened, so they cannot drift from the
desk: a page marks such a block ``<!--generated:NAME-->…<!--/generated-->`` and the window puts
the named fragment in its place (the keyboard shortcuts from the window's own table, the risk
limits from the engine's schema). Opened in an ordinary browser the page shows the text between
the markers instead, which says where to find the list.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QKeySequence, QShortcut, QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from engine.api import RiskLimitField
from resources import resource_path
from ui.panels.risk_settings import GROUPS, label_of, value_text

log = logging.getLogger(__name__)

EXTERNAL_SCHEMES = frozenset({"http", "https", "mailto", "ftp"})
GENERATED_BLOCK = re.compile(r"<!--generated:([a-z-]+)-->.*?<!--/generated-->", re.DOTALL)


def manual_index() -> Path:
    """The manual's first page, as shipped."""
    return resource_path("manual", "index.html")


def fill_generated(page: str, blocks: Mapping[str, str]) -> str:
    """``page`` with each generated block replaced by its fragment; a block without one keeps
    its fallback text."""

    def replace(match: re.Match[str]) -> str:
        fragment = blocks.get(match.group(1))
        return match.group(0) if fragment is None else fragment

    return GENERATED_BLOCK.sub(replace, page)


def shortcuts_table(shortcuts: Iterable[tuple[str, str]]) -> str:
    """The keyboard shortcuts as an HTML table (the window's own list, so it never drifts)."""
    rows = "".join(
        f"<tr><td class='key'><kbd>{html.escape(key)}</kbd></td><td>{html.escape(action)}</td></tr>"
        for key, action in shortcuts
    )
    return (
        "<table class='grid' cellspacing='0' cellpadding='4'>"
        f"<tr><th>Key</th><th>What it does</th></tr>{rows}</table>"
    )


def risk_limits_table(schema: Sequence[RiskLimitField]) -> str:
    """Every risk limit the engine declares, grouped as the Limits… page shows them, with its
    default and whether an underlying may override it."""
    by_name = {f.name: f for f in schema}
    placed = {name for _title, names in GROUPS for name in names}
    groups = [(title, [by_name[n] for n in names if n in by_name]) for title, names in GROUPS]
    others = [f for f in schema if f.name not in placed]
    if others:
        groups.append(("Other", others))
    parts = ["<table class='grid' cellspacing='0' cellpadding='4'>"]
    parts.append("<tr><th>Limit</th><th>Default</th><th>What it does</th></tr>")
    for title, limits in groups:
        if not limits:
            continue
        parts.append(f"<tr><td colspan='3' class='group'>{html.escape(title)}</td></tr>")
        for limit in limits:
            parts.append(
                f"<tr><td>{html.escape(label_of(limit.name))}</td>"
                f"<td class='num'>{html.escape(_default_text(limit))}</td>"
                f"<td>{html.escape(limit.description)}{_scope_note(limit)}</td></tr>"
            )
    parts.append("</table>")
    return "".join(parts)


def _default_text(limit: RiskLimitField) -> str:
    if limit.default is None:
        return "off"
    if limit.kind == "bool":
        return "on" if limit.default else "off"
    text = value_text(limit, limit.default)
    if limit.unit == "₹":
        return f"₹{text}"
    return f"{text} {limit.unit}".strip()


def _scope_note(limit: RiskLimitField) -> str:
    return " <i>(can be set per underlying)</i>" if limit.per_underlying else ""


class ManualBrowser(QTextBrowser):
    """A text browser over the manual's files that fills in the generated blocks of each page
    as it loads it and hands web addresses to the desktop instead of loading them."""

    def __init__(self, blocks: Mapping[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("manualBrowser")
        self._blocks = dict(blocks)
        self.setOpenLinks(False)  # every click goes through follow(): nothing loads from the web
        self.anchorClicked.connect(self.follow)
        # A page of paper whatever the desk's theme: the manual's colours are chosen for it.
        self.setStyleSheet("QTextBrowser { background: #ffffff; color: #1d232b; }")

    def loadResource(self, kind: int, url: QUrl) -> Any:
        if url.scheme() in EXTERNAL_SCHEMES:
            return None  # an image or style sheet on the web is never fetched
        if kind == QTextDocument.ResourceType.HtmlResource.value and url.isLocalFile():
            path = Path(url.toLocalFile())
            try:
                page = path.read_text(encoding="utf-8")
            except OSError as exc:
                log.warning("manual page %s could not be read: %s", path, exc)
                return _missing_page(path.name, exc.strerror or str(exc))
            return fill_generated(page, self._blocks)
        return super().loadResource(kind, url)

    def follow(self, url: QUrl) -> None:
        """A clicked link: a page or an anchor of the manual opens here, a web address in the
        desktop's browser."""
        if url.scheme() in EXTERNAL_SCHEMES:
            if not QDesktopServices.openUrl(url):
                log.info("no desktop browser opened %s", url.toString())
            return
        target = self.source().resolved(url) if url.isRelative() else url
        self.setSource(target)


def _missing_page(name: str, reason: str) -> str:
    return (
        f"<h1>Page not found</h1><p>The manual page <b>{html.escape(name)}</b> could not be read "
        f"({html.escape(reason)}). Reinstalling DalalDesk restores it.</p>"
        "<p><a href='index.html'>Back to the contents</a></p>"
    )


class ManualWindow(QWidget):
    """The user manual, non-modal: back, forward, contents, a find box and the page."""

    def __init__(self, blocks: Mapping[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("userManual")
        self.setWindowTitle("DalalDesk — User manual")
        self.browser = ManualBrowser(blocks, self)
        self.back_button = QPushButton("◀ Back")
        self.forward_button = QPushButton("Forward ▶")
        self.home_button = QPushButton("Contents")
        self.back_button.clicked.connect(self.browser.backward)
        self.forward_button.clicked.connect(self.browser.forward)
        self.home_button.clicked.connect(self.browser.home)
        self.browser.backwardAvailable.connect(self.back_button.setEnabled)
        self.browser.forwardAvailable.connect(self.forward_button.setEnabled)
        self.back_button.setEnabled(False)
        self.forward_button.setEnabled(False)
        self.title_label = QLabel()
        self.browser.sourceChanged.connect(self._source_changed)
        self.find_box = QLineEdit()
        self.find_box.setObjectName("manualFind")
        self.find_box.setPlaceholderText("Find in this page (Ctrl+F)")
        self.find_box.setClearButtonEnabled(True)
        self.find_box.setMinimumWidth(240)
        self.find_box.returnPressed.connect(self.find_next)
        self.find_box.textEdited.connect(lambda _text: self.find_box.setStyleSheet(""))
        find_key = QShortcut(QKeySequence.StandardKey.Find, self)
        find_key.activated.connect(self._focus_find)
        bar = QHBoxLayout()
        for button in (self.back_button, self.forward_button, self.home_button):
            bar.addWidget(button)
        bar.addSpacing(12)
        bar.addWidget(self.title_label, 1)
        bar.addWidget(self.find_box)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.browser)
        self.resize(980, 760)
        try:
            index = manual_index()
        except FileNotFoundError as exc:
            log.warning("the user manual is missing: %s", exc)
            self.browser.setHtml(_missing_page("index.html", str(exc)))
        else:
            self.browser.setSource(QUrl.fromLocalFile(str(index)))

    def open_page(self, page: str) -> None:
        """Show the manual's ``page`` (``getting-started.html``, ``risk.html#limits``)."""
        self.browser.follow(QUrl(page))

    def find_next(self) -> bool:
        """The next place the find box's text appears in the page, from the top again after the
        last one; False (and the box marked) when it is nowhere in the page."""
        text = self.find_box.text().strip()
        if not text:
            return False
        found = self.browser.find(text)
        if not found:
            self.browser.moveCursor(QTextCursor.MoveOperation.Start)
            found = self.browser.find(text)
        self.find_box.setStyleSheet("" if found else "QLineEdit { color: #e5484d; }")
        return found

    def _focus_find(self) -> None:
        self.find_box.setFocus()
        self.find_box.selectAll()

    def _source_changed(self, _url: QUrl) -> None:
        self.title_label.setText(self.browser.documentTitle())
