"""Build DalalDesk's installers: ``python packaging/build.py TARGET``, output in ``dist/``.

Targets:

- ``linux``: the onedir bundle (``dist/dalaldesk/``) and a tarball of it for any distribution
  (``dist/dalaldesk-VERSION-linux-x86_64.tar.gz``).
- ``deb``: the bundle as a Debian package (``dist/dalaldesk_VERSION_amd64.deb``): the app in
  ``/opt/dalaldesk``, the ``/usr/bin/dalaldesk`` launcher, a desktop entry and icons, and the
  system libraries Qt's xcb platform needs declared as dependencies.
- ``windows``: on Windows, the onedir bundle (the payload), then the NSIS installer from it when
  ``makensis`` is on PATH. PyInstaller does not cross-compile: the payload is built on Windows.
- ``nsis``: only the NSIS installer, from ``--payload DIR`` (a Windows onedir bundle); on Linux
  with no payload it compiles the script against a stand-in payload to check it.

Every build writes a stamp (version, commit, time, platform) into the bundle's resources, which
About and ``dalaldesk --version`` show. ``--sign-command`` runs a signing command on each
Windows executable (``{file}`` is replaced by its path), the hook for Authenticode signing.

PyInstaller, dpkg-deb and makensis do the work; this script only puts their steps in order.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from icu import trim_icu_data
from prune import prune

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from resources.notices import NOTICES_FILE, collect_notices  # noqa: E402

PACKAGING = ROOT / "packaging"
DIST = ROOT / "dist"
APP = "dalaldesk"
DEB_DEPENDS = (
    # Qt's xcb platform plugin and its helpers (not bundled: they belong to the display server's
    # stack), fonts and the libraries QtWebEngine's Chromium loads from the system.
    "libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, libxcb-shape0, libxcb-xinerama0, "
    "libxcb-randr0, libxcb-render-util0, libxcb-image0, libxkbcommon-x11-0, libxkbcommon0, "
    "libegl1, libgl1, libopengl0, libfontconfig1, libfreetype6, libdbus-1-3, libglib2.0-0, "
    "libnss3, libxcomposite1, libxdamage1, libxrandr2, libxtst6, libxkbfile1, libasound2, "
    # The rest of the X11/xcb libraries the bundle leaves to the system (prune.SYSTEM_PROVIDED).
    "libx11-6, libx11-xcb1, libxext6, libxfixes3, libxrender1, libxcb-util1, libxcb-sync1, "
    "libxcb-xfixes0, libxcb-shm0, libxcb-render0, libxcb-glx0, libxcb-xkb1, "
    "fonts-dejavu-core"
)
DEB_RECOMMENDS = "gnome-keyring"
"""The Secret Service the desk keeps broker keys in (any other Secret Service works too)."""


class BuildFailed(Exception):
    pass


def version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def commit() -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def platform_tag() -> str:
    machine = platform.machine().lower() or "unknown"
    return f"{'windows' if sys.platform == 'win32' else sys.platform}-{machine}"


def step(text: str) -> None:
    print(f"build: {text}", flush=True)


def run(command: list[str], *, quiet: bool = False, echo: bool = True, **kwargs: object) -> None:
    shown = [*command[:3], "..."] if quiet and len(command) > 3 else command
    if echo:
        step(" ".join(shlex.quote(str(part)) for part in shown))
    done = subprocess.run(command, check=False, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise BuildFailed(f"{Path(command[0]).name} failed with status {done.returncode}")


def bundle(dist: Path = DIST, *, untrimmed: bool = False) -> Path:
    """The onedir bundle in ``dist/dalaldesk``; its build stamp says what it was built from."""
    with tempfile.TemporaryDirectory(prefix="dalaldesk-build-") as tmp:
        stamp = Path(tmp) / "build.json"
        stamp.write_text(
            json.dumps(
                {
                    "version": version(),
                    "commit": commit(),
                    "built": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
                    "platform": platform_tag(),
                }
            ),
            encoding="utf-8",
        )
        notices = Path(tmp) / NOTICES_FILE
        notices.write_text(collect_notices(), encoding="utf-8")
        env = {**os.environ, "DALALDESK_BUILD_FILES": os.pathsep.join([str(stamp), str(notices)])}
        if untrimmed:
            env["DALALDESK_UNTRIMMED"] = "1"
        started = time.monotonic()
        run(
            [
                sys.executable,
                "-m",
                "PyInstaller",
                "--noconfirm",
                "--clean",
                "--log-level",
                "WARN",
                "--distpath",
                str(dist),
                "--workpath",
                str(Path(tmp) / "work"),
                str(PACKAGING / "dalaldesk.spec"),
            ],
            env=env,
        )
    out = dist / APP
    if not untrimmed:
        strip_debug_info(out)
        removed, freed = prune(out)
        step(
            f"removed {len(removed)} unused Qt plugins and libraries only they need ({freed / 1e6:.0f} MB)"
        )
        icu = trim_icu_data(out / "_internal")
        if isinstance(icu, str):
            step(icu)
        else:
            step(f"trimmed Qt's ICU data: {icu[0] / 1e6:.0f} MB -> {icu[1] / 1e6:.0f} MB")
    step(f"bundle {out} ({tree_size(out) / 1e6:.0f} MB) in {time.monotonic() - started:.0f} s")
    return out


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def strip_debug_info(out: Path) -> None:
    """Strip debugging information and static symbol tables from the libraries that carry them:
    Python's own (built from source, as pyenv does) and some wheels' extension modules
    (SQLAlchemy's Cython modules are 90 % debug info, cryptography's Rust module carries 3 MB of
    symbols). ``--strip-unneeded`` keeps the dynamic symbols that loading and linking use. Each
    stripped file must still load, or it is put back as it was.

    PyInstaller's own ``strip`` option strips every library, and that breaks the wheels'
    vendored OpenBLAS (rewritten by auditwheel: "ELF load command address/offset not
    page-aligned"), so the vendored ``*.libs`` folders are left alone."""
    strip = shutil.which("strip")
    if strip is None or sys.platform == "win32":
        return
    before = after = 0
    for path in debug_libraries(out / "_internal"):
        original = path.read_bytes()
        run([strip, "--strip-unneeded", str(path)], quiet=True, echo=False)
        if loads(path):
            before, after = before + len(original), after + path.stat().st_size
        else:
            path.write_bytes(original)
            step(f"{path.name} does not load once stripped: kept as it was")
    step(f"stripped debug information and symbols: {before / 1e6:.0f} MB -> {after / 1e6:.0f} MB")


def debug_libraries(internal: Path) -> list[Path]:
    found = []
    for path in internal.rglob("*.so*"):
        if path.is_symlink() or not path.is_file() or any(p.endswith(".libs") for p in path.parts):
            continue
        sections = subprocess.run(
            ["readelf", "--section-headers", str(path)], capture_output=True, text=True, check=False
        ).stdout
        if ".debug_info" in sections or ".symtab" in sections:
            found.append(path)
    return found


def loads(path: Path) -> bool:
    """Whether the dynamic loader still accepts ``path`` (in a process of its own)."""
    done = subprocess.run(
        [sys.executable, "-c", "import ctypes, sys; ctypes.CDLL(sys.argv[1])", str(path)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def linux(args: argparse.Namespace) -> list[Path]:
    out = bundle()
    tarball = DIST / f"{APP}-{version()}-{platform_tag()}.tar.gz"
    step(f"tarball {tarball}")
    with tarfile.open(tarball, "w:gz", compresslevel=6) as archive:
        archive.add(out, arcname=f"{APP}-{version()}")
    return [out, tarball]


def deb(args: argparse.Namespace) -> list[Path]:
    out = DIST / APP if args.reuse and (DIST / APP).is_dir() else bundle()
    package = DIST / f"{APP}_{version()}_amd64.deb"
    with tempfile.TemporaryDirectory(prefix="dalaldesk-deb-") as tmp:
        root = Path(tmp) / "root"
        shutil.copytree(out, root / "opt" / APP, symlinks=True)
        launcher = root / "usr" / "bin" / APP
        launcher.parent.mkdir(parents=True)
        launcher.symlink_to(f"/opt/{APP}/{APP}")
        applications = root / "usr" / "share" / "applications"
        applications.mkdir(parents=True)
        shutil.copy(PACKAGING / "linux" / f"{APP}.desktop", applications)
        for size in (16, 32, 48, 64, 128, 256):
            icons = root / "usr" / "share" / "icons" / "hicolor" / f"{size}x{size}" / "apps"
            icons.mkdir(parents=True)
            name = f"{APP}.png" if size == 256 else f"{APP}-{size}.png"
            shutil.copy(PACKAGING / "icons" / name, icons / f"{APP}.png")
        control = root / "DEBIAN"
        control.mkdir()
        installed_kb = tree_size(root) // 1024
        (control / "control").write_text(
            (PACKAGING / "linux" / "control.in")
            .read_text(encoding="utf-8")
            .format(
                version=version(),
                depends=DEB_DEPENDS,
                recommends=DEB_RECOMMENDS,
                installed_kb=installed_kb,
            ),
            encoding="utf-8",
        )
        run(
            [
                "dpkg-deb",
                "--root-owner-group",
                "-Zxz",
                "-z6",
                "--build",
                str(root),
                str(package),
            ]
        )
    return [package]


def windows(args: argparse.Namespace) -> list[Path]:
    if sys.platform != "win32":
        raise BuildFailed(
            "the Windows payload is built on Windows (PyInstaller does not cross-compile): run "
            "packaging\\windows\\build_payload.ps1 there, or `build.py nsis --payload DIR` here"
        )
    out = bundle()
    sign(args, sorted(out.rglob("*.exe")))
    if shutil.which("makensis") is None:
        step("makensis is not on PATH: the payload is built, the installer is not")
        return [out]
    args.payload = out
    return [out, *nsis(args)]


def nsis(args: argparse.Namespace) -> list[Path]:
    makensis = shutil.which("makensis")
    if makensis is None:
        raise BuildFailed("makensis is not installed (Debian/Ubuntu: apt-get install nsis)")
    with tempfile.TemporaryDirectory(prefix="dalaldesk-nsis-") as tmp:
        payload = args.payload
        if payload is None:
            payload = stand_in_payload(Path(tmp) / "payload")
            suffix = "-stand-in"
        else:
            suffix = ""
        installer = DIST / f"{APP}-{version()}-windows-setup{suffix}.exe"
        DIST.mkdir(exist_ok=True)
        run(
            [
                makensis,
                "-V2",
                "-NOCD",
                f"-DVERSION={version()}",
                f"-DPAYLOAD={Path(payload).resolve()}",
                f"-DOUTFILE={installer}",
                f"-DICON={PACKAGING / 'icons' / f'{APP}.ico'}",
                str(PACKAGING / "windows" / f"{APP}.nsi"),
            ],
            cwd=PACKAGING / "windows",
        )
    sign(args, [installer])
    return [installer]


def stand_in_payload(folder: Path) -> Path:
    """A payload shaped like the Windows bundle (the executable, its _internal folder), to check
    the installer script compiles where no Windows build exists."""
    (folder / "_internal").mkdir(parents=True)
    (folder / f"{APP}.exe").write_bytes(b"MZ stand-in for the Windows executable\n")
    (folder / "_internal" / "README.txt").write_text("stand-in payload\n", encoding="utf-8")
    return folder


def sign(args: argparse.Namespace, files: list[Path]) -> None:
    """The code-signing hook: ``--sign-command 'signtool sign /a /fd SHA256 {file}'``."""
    if not args.sign_command:
        return
    for file in files:
        run([part.replace("{file}", str(file)) for part in shlex.split(args.sign_command)])


TARGETS = {"linux": linux, "deb": deb, "windows": windows, "nsis": nsis}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python packaging/build.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--payload", type=Path, help="nsis: the Windows onedir bundle to install")
    parser.add_argument("--reuse", action="store_true", help="deb: package dist/dalaldesk as it is")
    parser.add_argument(
        "--sign-command", default="", help="run on each Windows executable; {file} is its path"
    )
    args = parser.parse_args(argv)
    try:
        outputs = TARGETS[args.target](args)
    except BuildFailed as failure:
        print(f"build: FAILED: {failure}", file=sys.stderr)
        return 1
    for output in outputs:
        step(f"built {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
