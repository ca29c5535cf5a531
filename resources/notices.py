"""The third-party notices About shows: every library the desk ships, its licence and its text.

An installer's build writes them once from the build environment (``packaging/build.py``), since
a frozen bundle keeps no package metadata; a pip install reads them from the installed packages'
metadata when asked. The components that are not Python packages (Python itself, Qt and the
Chromium inside QtWebEngine, TradingView's Lightweight Charts) are named with their licences
first.
"""

from __future__ import annotations

import logging
import re
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement

from resources import read_text, resource_path

log = logging.getLogger(__name__)

NOTICES_FILE = "THIRD-PARTY-NOTICES.txt"
LICENCE_FILE = re.compile(r"(^|/)(LICEN[CS]E|COPYING|NOTICE|AUTHORS)[^/]*$", re.IGNORECASE)

COMPONENTS = """\
DalalDesk ships these components besides the Python packages listed after them.

Python (CPython): Python Software Foundation License Version 2.
Qt 6 (through PySide6, Qt for Python): GNU Lesser General Public License v3 (LGPLv3). The Qt
  libraries are shipped as separate shared libraries in the install folder (PySide6/Qt/lib on
  Linux, PySide6 on Windows) and may be replaced with a build of the same Qt version; the Qt
  sources are at https://download.qt.io/official_releases/qt/.
Qt WebEngine (Chromium): LGPLv3 for Qt's part; Chromium and its third-party code under their own
  licences (BSD-style, MIT, Apache 2.0 and others), listed at https://doc.qt.io/qt-6/qtwebengine-licensing.html.
TradingView Lightweight Charts 5.2.1: Apache License 2.0, copyright TradingView, Inc.
  (https://www.tradingview.com/). Its licence and NOTICE are shipped in resources/web/vendor.
"""


def third_party_notices() -> str:
    """The notices this build ships, or, for a pip install, those of the installed packages."""
    try:
        return read_text(NOTICES_FILE)
    except FileNotFoundError:
        return collect_notices()


def shipped() -> bool:
    try:
        resource_path(NOTICES_FILE)
    except FileNotFoundError:
        return False
    return True


def collect_notices(root: str = "dalaldesk") -> str:
    """The components, then every package ``root`` needs at run time (its requirements'
    closure, without extras), each with its licence and the licence files it ships."""
    sections = [COMPONENTS]
    for dist in _runtime_closure(root):
        sections.append(_notice(dist))
    return "\n\n".join(sections) + "\n"


def _runtime_closure(root: str) -> list[metadata.Distribution]:
    found: dict[str, metadata.Distribution] = {}
    pending = [root]
    while pending:
        name = _normal(pending.pop())
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a requirement for another platform (pywin32-ctypes on Linux)
        found[name] = dist
        for text in dist.requires or []:
            try:
                requirement = Requirement(text)
            except InvalidRequirement as exc:
                log.warning("%s declares an unreadable requirement %r: %s", name, text, exc)
                continue
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    found.pop(_normal(root), None)
    return sorted(found.values(), key=lambda d: _normal(d.metadata["Name"]))


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _notice(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    head = f"{'=' * 78}\n{meta['Name']} {dist.version}: {_licence(meta)}"
    home = meta.get("Home-page") or _project_url(meta)
    if home:
        head += f"\n{home}"
    texts = []
    for file in dist.files or []:
        if LICENCE_FILE.search(str(file)):
            try:
                texts.append(f"--- {file.name}\n{file.read_text(encoding='utf-8').strip()}")
            except (OSError, UnicodeDecodeError) as exc:
                log.warning(
                    "the licence file %s of %s could not be read: %s", file, meta["Name"], exc
                )
    return "\n".join([head, *texts])


def _licence(meta: metadata.PackageMetadata) -> str:
    expression = meta.get("License-Expression")
    if expression:
        return expression
    classifiers = [
        c.rsplit("::", 1)[1].strip()
        for c in meta.get_all("Classifier") or []
        if c.startswith("License ::")
    ]
    if classifiers:
        return ", ".join(classifiers)
    text = (meta.get("License") or "").strip()
    return text.splitlines()[0] if text else "licence not declared (see the package's files)"


def _project_url(meta: metadata.PackageMetadata) -> str:
    for entry in meta.get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip().lower() in ("homepage", "home", "source", "repository"):
            return url.strip()
    return ""
