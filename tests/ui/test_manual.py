"""The user manual: opened offline from Help, its pictures loaded, its links followed inside the
window (web addresses handed to the desktop instead), and every page's links and pictures there.
Also the Help menu's diagnostics bundle, which the manual's troubleshooting page describes."""

from __future__ import annotations

import argparse
import glob
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QImage, QTextDocument
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from app.manual_shots import PICTURE_WIDTH, pictures
from resources import resource_path
from ui.layout_store import LayoutStore
from ui.main_window import MainWindow
from ui.manual import ManualBrowser
from ui.panel_registry import SHORTCUTS
from ui.panels.risk_settings import label_of

MANUAL = resource_path("manual")
PAGES = sorted(MANUAL.glob("*.html"))
ROOT = Path(__file__).resolve().parents[2]
WEB = ("http", "https", "mailto")
KEYS_OF_A_TABLE = {"Ctrl+C"}
"""Keys every table panel takes (copy rows) that are not in the window's own list."""


class PageParts(HTMLParser):
    """The links, pictures, anchors and keys of one manual page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[str] = []
        self.anchors: set[str] = set()
        self.keys: list[str] = []
        self._in_kbd = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "a" and "href" in values:
            self.links.append(values["href"])
        if tag == "a" and "name" in values:
            self.anchors.add(values["name"])
        if "id" in values:
            self.anchors.add(values["id"])
        if tag == "img":
            self.images.append(values.get("src", ""))
        if tag == "link" and values.get("rel") == "stylesheet":
            self.links.append(values.get("href", ""))
        self._in_kbd = tag == "kbd"

    def handle_endtag(self, tag: str) -> None:
        if tag == "kbd":
            self._in_kbd = False

    def handle_data(self, data: str) -> None:
        if self._in_kbd:
            self.keys.append(data.strip())


def parts_of(page: Path) -> PageParts:
    parser = PageParts()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def images_of(document: QTextDocument) -> list[str]:
    names = []
    block = document.begin()
    while block.isValid():
        fragments = block.begin()
        while not fragments.atEnd():
            style = fragments.fragment().charFormat()
            if style.isImageFormat():
                names.append(style.toImageFormat().name())
            fragments += 1
        block = block.next()
    return names


def open_window(qtbot, engine, tmp_path, **options) -> MainWindow:  # type: ignore[no-untyped-def]
    """The whole window on the test engine, shown; ``options`` go to ``MainWindow``."""
    shown = MainWindow(engine.api, layouts=LayoutStore(tmp_path / "layout.ini"), **options)
    qtbot.addWidget(shown)
    shown.show()
    qtbot.waitExposed(shown)
    return shown


@pytest.fixture
def window(qtbot, engine, tmp_path):  # type: ignore[no-untyped-def]
    shown = open_window(qtbot, engine, tmp_path)
    yield shown
    shown.stop()


def help_action(window: MainWindow, text: str):  # type: ignore[no-untyped-def]
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    return next(a for a in help_menu.actions() if a.text() == text)


def test_user_manual_when_opened_from_help_shows_the_index_with_its_pictures_loaded(
    qtbot, window
) -> None:
    help_action(window, "User manual").trigger()
    manual = window.manual
    assert manual is not None
    qtbot.waitUntil(manual.isVisible, timeout=2000)
    browser = manual.browser
    assert browser.source().fileName() == "index.html"
    assert browser.documentTitle() == "DalalDesk user manual"
    assert "Getting started" in browser.toPlainText()
    pictures_shown = images_of(browser.document())
    assert pictures_shown, "the index shows the window's picture"
    for name in pictures_shown:
        picture = browser.document().resource(
            QTextDocument.ResourceType.ImageResource.value, QUrl(name)
        )
        assert picture is not None and not picture.isNull(), f"{name} did not load"
    assert help_action(window, "User manual").shortcut().toString() == "Shift+F1"


def test_user_manual_when_a_link_is_followed_opens_the_page_and_back_returns(qtbot, window) -> None:
    manual = window.show_manual()
    browser = manual.browser
    browser.follow(QUrl("keys.html#shortcuts"))
    assert browser.source().fileName() == "keys.html"
    assert browser.source().fragment() == "shortcuts"
    assert manual.back_button.isEnabled()
    manual.back_button.click()
    assert browser.source().fileName() == "index.html"
    assert manual.forward_button.isEnabled()
    manual.forward_button.click()
    assert browser.source().fileName() == "keys.html"
    manual.home_button.click()
    assert browser.source().fileName() == "index.html"
    assert window.show_manual() is manual  # asked again: the same window, to the front
    window.close()
    assert not manual.isVisible()  # the manual goes with the desk


def test_user_manual_when_a_web_link_is_clicked_hands_it_to_the_desktop_and_stays(
    qtbot, window, monkeypatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr(
        "ui.manual.QDesktopServices.openUrl", lambda url: opened.append(url.toString()) or True
    )
    browser = window.show_manual().browser
    browser.follow(QUrl("getting-started.html#kite"))
    before = browser.source()
    browser.follow(QUrl("https://developers.kite.trade/"))
    assert browser.source() == before
    assert opened == ["https://developers.kite.trade/"]
    assert (
        browser.loadResource(
            QTextDocument.ResourceType.ImageResource.value, QUrl("https://example.com/x.png")
        )
        is None
    )  # nothing on the manual's pages is ever fetched from the web


def test_user_manual_keys_page_lists_every_shortcut_of_the_window(qtbot, window) -> None:
    browser = window.show_manual().browser
    browser.follow(QUrl("keys.html"))
    text = browser.toPlainText()
    for key, action in SHORTCUTS:
        assert key in text and action in text, f"{key} ({action}) missing from the manual"
    assert "The full list of keys is shown here" not in text  # the fallback was replaced


def test_user_manual_risk_page_lists_every_limit_of_the_engine(qtbot, window, engine) -> None:
    browser = window.show_manual().browser
    browser.follow(QUrl("risk.html#limits"))
    text = browser.toPlainText()
    for limit in engine.api.risk_limit_schema():
        assert label_of(limit.name) in text, f"{limit.name} missing from the manual"
    assert "Daily loss limit" in text and "₹50,000" in text


def test_user_manual_when_every_link_of_every_page_is_followed_each_page_opens(
    qtbot, window
) -> None:
    browser = window.show_manual().browser
    for page in PAGES:
        for link in parts_of(page).links:
            if urlsplit(link).scheme in WEB or link.endswith(".css"):
                continue
            browser.setSource(QUrl.fromLocalFile(str(page)))
            browser.follow(QUrl(link))
            target = urlsplit(link).path or page.name
            assert browser.source().fileName() == target, f"{page.name}: {link}"
            assert browser.documentTitle() and "Page not found" not in browser.toPlainText()


def test_user_manual_find_when_text_is_on_the_page_selects_it_and_wraps_around(
    qtbot, window
) -> None:
    manual = window.show_manual("troubleshooting.html")
    manual.find_box.setText("static IP")
    assert manual.find_next()
    first = manual.browser.textCursor().position()
    assert manual.browser.textCursor().selectedText().lower() == "static ip"
    while manual.find_next() and manual.browser.textCursor().position() > first:
        pass  # on to the last one, then round to the top
    assert manual.browser.textCursor().position() == first
    manual.find_box.setText("no such words anywhere")
    assert not manual.find_next()


def test_manual_browser_when_a_page_is_missing_says_so_in_words(qtbot, tmp_path) -> None:
    browser = ManualBrowser({})
    qtbot.addWidget(browser)
    browser.setSource(QUrl.fromLocalFile(str(tmp_path / "gone.html")))
    assert "could not be read" in browser.toPlainText()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_manual_page_when_parsed_every_local_link_and_picture_exists(page: Path) -> None:
    parts = parts_of(page)
    assert parts.links, f"{page.name} links nowhere"
    for target in parts.links + parts.images:
        address = urlsplit(target)
        if address.scheme in WEB:
            continue
        assert not address.scheme, f"{page.name}: {target} is neither local nor a web address"
        path = (page.parent / address.path) if address.path else page
        assert path.is_file(), f"{page.name}: {target} does not exist"
        if address.fragment:
            assert address.fragment in parts_of(path).anchors, (
                f"{page.name}: {target} names no anchor of {path.name}"
            )


def test_manual_pages_when_followed_from_the_index_are_all_reachable() -> None:
    reached = {"index.html"}
    waiting = ["index.html"]
    while waiting:
        for link in parts_of(MANUAL / waiting.pop()).links:
            name = urlsplit(link).path
            if name.endswith(".html") and name not in reached:
                reached.add(name)
                waiting.append(name)
    assert reached == {p.name for p in PAGES}


def test_manual_keys_when_named_in_the_text_are_keys_the_desk_has() -> None:
    known = {key for key, _action in SHORTCUTS} | KEYS_OF_A_TABLE
    named = {key for page in PAGES for key in parts_of(page).keys}
    assert named, "the manual names keys"
    assert named - known == set()


def test_manual_pictures_when_taken_by_the_desk_are_all_shipped_and_all_used() -> None:
    shipped = {p.name for p in (MANUAL / "img").glob("*.png")}
    used = {Path(src).name for page in PAGES for src in parts_of(page).images}
    assert set(pictures()) == shipped, "run python -m app.manual_shots to refresh the pictures"
    assert used == shipped
    total = sum(p.stat().st_size for p in (MANUAL / "img").glob("*.png"))
    assert total < 3_000_000, f"the manual's pictures weigh {total:,} bytes"
    for picture in (MANUAL / "img").glob("*.png"):
        width = QImage(str(picture)).width()
        assert 0 < width <= PICTURE_WIDTH, f"{picture.name} is {width} pixels wide"


def test_manual_files_when_packaged_are_all_in_the_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["resources"]
    shipped = {
        Path(match)
        for pattern in patterns
        for match in glob.glob(pattern, root_dir=ROOT / "resources", recursive=True)
    }
    files = {p.relative_to(ROOT / "resources") for p in MANUAL.rglob("*") if p.is_file()}
    assert files and files <= shipped, f"not shipped: {sorted(map(str, files - shipped))}"


def test_manual_pages_when_read_promise_nothing_the_desk_does_not_have() -> None:
    """Every command-line option the manual names is one the desk (or its backtest command
    line) takes."""
    text = " ".join(p.read_text(encoding="utf-8") for p in PAGES)
    commands = " ".join(re.findall(r"<code>dalaldesk ([^<]*)</code>", text))
    named = set(re.findall(r"(--[a-z][a-z-]+)", commands)) | set(
        re.findall(r"<code>(--[a-z][a-z-]+)", text)
    )
    assert {"--api-port", "--also", "--broker"} <= named, named
    unknown = {option for option in named if not _known_option(option)}
    assert not unknown, f"the manual names options the desk does not take: {unknown}"
    automation = (MANUAL / "automation.html").read_text(encoding="utf-8")
    assert "not in this version" not in text
    assert "/webhook/tradingview" in automation and "/api/v1/stream" in automation
    backtests = (MANUAL / "backtests.html").read_text(encoding="utf-8")
    shown = " ".join(re.findall(r"<pre>(.*?)</pre>", backtests, re.DOTALL))
    options = set(re.findall(r"(--[a-z][a-z-]+)", shown))
    assert {"--grid", "--dask", "--bars", "--token"} <= options, options
    unknown = options - _backtest_options()
    assert not unknown, f"the manual names backtest options the command does not take: {unknown}"


def _backtest_options() -> set[str]:
    """Every option of every command of ``python -m engine.runtime.backtest_cli``."""
    from engine.runtime.backtest_cli import _parser

    commands = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {
        option
        for command in commands.choices.values()
        for action in command._actions
        for option in action.option_strings
    }


def _known_option(option: str) -> bool:
    import contextlib
    import io

    from app.main import parse_args

    with contextlib.redirect_stdout(io.StringIO()) as shown, contextlib.suppress(SystemExit):
        parse_args(["--help"])
    return option in shown.getvalue()


# -- the diagnostics bundle from the Help menu -----------------------------------------------------


def test_diagnostics_when_a_path_is_chosen_writes_there_and_tells_the_trader(
    qtbot, engine, tmp_path
) -> None:
    asked: list[Path] = []

    def save(path: Path, done) -> None:  # type: ignore[no-untyped-def]
        asked.append(path)
        done(False, f"The diagnostics bundle could not be saved to {path}: No space left.")

    window = open_window(qtbot, engine, tmp_path, save_diagnostics=save)
    help_action(window, "Save diagnostics bundle…").trigger()
    dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QFileDialog))
    assert dialog.isVisible() and dialog.selectedFiles()[0].endswith(".zip")
    dialog.fileSelected.emit(str(tmp_path / "bundle.zip"))
    assert asked == [tmp_path / "bundle.zip"]
    box = window.findChild(QMessageBox, "diagnosticsResult")
    assert box is not None and box.isVisible() and "No space left" in box.text()
    box.close()
    dialog.close()
    window.stop()


def test_diagnostics_menu_entry_when_the_desk_cannot_write_one_is_not_offered(window) -> None:
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    assert "Save diagnostics bundle…" not in [a.text() for a in help_menu.actions()]


# -- the first start of a profile ------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_desk_when_a_profile_starts_for_the_first_time_opens_the_manual_beside_it(
    qapp, tmp_path, monkeypatch
) -> None:
    import qasync
    from PySide6.QtCore import QTimer

    import app.gui as gui
    from app.main import engine_config, parse_args

    qapp.setQuitOnLastWindowClosed(False)
    monkeypatch.setattr(gui, "settings_path", lambda profile: tmp_path / profile / "layout.ini")
    config = engine_config(parse_args(["--db", f"sqlite:///{tmp_path / 'first.db'}"]))
    seen: list[str] = []

    def look_then_close() -> None:
        desks = [
            w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()
        ]
        try:
            manual = desks[-1].manual
            shown = manual is not None and manual.isVisible()
            page = manual.browser.source().fileName() if manual is not None else ""
            seen.append(page if shown else "no manual")
        finally:
            for desk in desks:  # whatever was seen, the desk closes and the test goes on
                desk.close()

    async def start_then_close() -> int:
        QTimer.singleShot(1200, look_then_close)
        return await gui.run_window(config, profile="new", reset_layout=False, crash=None)

    for _start in range(2):
        loop = qasync.QEventLoop(qapp)
        try:
            assert loop.run_until_complete(start_then_close()) == 0
        finally:
            loop.close()
    assert seen == [gui.FIRST_RUN_PAGE, "no manual"]  # at the first start only


def test_manual_shots_shrink_when_a_picture_has_many_colours_keeps_a_thin_line_its_colour(
    qapp, tmp_path
) -> None:
    from PySide6.QtGui import QColor

    from app.manual_shots import shrink

    picture = QImage(1200, 300, QImage.Format.Format_RGB32)
    for x in range(1200):  # a dark background in a thousand shades, as anti-aliasing makes
        for y in range(300):
            picture.setPixelColor(x, y, QColor(20 + x % 40, 22 + y % 25, 30 + (x * y) % 30))
    purple = QColor(171, 71, 188)
    for x in range(1200):
        for y in (150, 151, 152, 153):  # an indicator's line: four rows of one colour
            picture.setPixelColor(x, y, purple)
    source, out = tmp_path / "big.png", tmp_path / "small.png"
    assert picture.save(str(source))

    shrink(source, out, 600)

    small = QImage(str(out))
    assert small.width() == 600 and small.format() == QImage.Format.Format_Indexed8
    kept = small.pixelColor(300, 75)
    assert (
        max(
            abs(kept.red() - purple.red()),
            abs(kept.green() - purple.green()),
            abs(kept.blue() - purple.blue()),
        )
        <= 8
    )
