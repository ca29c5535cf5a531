"""Signals as files: a JSON file dropped in the profile's ``signals/inbox`` folder is a signal,
taken through the same pipeline as a webhook's (duplicates, staleness, the mode, the gate).

The engine's once-a-second heartbeat looks at the folder. A file is read once it has not changed
for half a second (a writer still writing is left alone; writing to ``name.tmp`` and renaming is
best). Each file is then moved, whole, to ``done/`` or ``refused/``, with what became of it in
``<name>.result.json`` beside it, so nothing dropped is lost or acted on twice. The file system's
own permissions are the guard: no passphrase is asked.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from engine.signals.desk import SignalDesk
from engine.signals.records import SignalStep
from engine.signals.tradingview import MAX_BODY_BYTES, SignalRefused, check_named, parse_alert
from engine.store.files import write_whole

log = logging.getLogger(__name__)

SETTLE_S = 0.5
REFUSED_STEPS = (SignalStep.REFUSED, SignalStep.DENIED)


class SignalInbox:
    def __init__(self, folder: Path, desk: SignalDesk) -> None:
        self.inbox = folder / "inbox"
        self.done = folder / "done"
        self.refused = folder / "refused"
        self._desk = desk
        self._broken = False

    def poll(self) -> int:
        """Take every settled file in the inbox; how many were taken."""
        try:
            entries = sorted(
                (e for e in os.scandir(self.inbox) if e.name.endswith(".json") and e.is_file()),
                key=lambda e: e.name,
            )
        except FileNotFoundError:
            return 0
        except OSError as problem:
            if not self._broken:
                log.warning("the signals inbox %s cannot be read: %s", self.inbox, problem)
                self._broken = True
            return 0
        self._broken = False
        taken = 0
        now = time.time()
        for entry in entries:
            if now - entry.stat().st_mtime < SETTLE_S:
                continue  # still being written
            self._take(Path(entry.path))
            taken += 1
        return taken

    def _take(self, path: Path) -> None:
        try:
            path.name.encode("utf-8")
        except UnicodeEncodeError:
            # Bytes the file system holds that are not UTF-8: the name cannot be journaled.
            shown = os.fsencode(path.name).decode("utf-8", "replace")
            reason = f"the file's name {shown!r} is not UTF-8 text: rename it and drop it again"
            log.warning("signal file %r refused: %s", path, reason)
            self._file(path, self.refused, {"status": "refused", "reason": reason})
            return
        origin = f"file {path.name}"
        try:
            body = path.read_bytes()[: MAX_BODY_BYTES + 1]
            alert = check_named(parse_alert(body))
        except OSError as problem:
            log.warning("signal file %s could not be read: %s", path, problem)
            return  # left where it is; looked at again next second
        except SignalRefused as refused:
            self._desk.refuse(path.stem, refused.reason, {"source": origin})
            self._file(path, self.refused, {"signal": path.stem, "status": "refused",
                                            "reason": refused.reason})  # fmt: skip
            return
        result = self._desk.receive(alert, origin=origin)
        refused_here = result.step in REFUSED_STEPS or result.refused_before
        self._file(path, self.refused if refused_here else self.done, result.to_json())

    def _file(self, path: Path, folder: Path, outcome: dict[str, object]) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / path.name
            if target.exists():
                target = folder / f"{path.stem}-{time.time_ns()}{path.suffix}"
            write_whole(folder / f"{target.stem}.result.json", json.dumps(outcome, indent=1) + "\n")
            os.replace(path, target)
        except OSError as problem:
            # The signal was journaled; left in the inbox it would be read again, and its id
            # makes that a duplicate: nothing is placed twice.
            log.warning("signal file %s could not be moved to %s: %s", path, folder, problem)
