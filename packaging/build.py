"""Build DalalDesk's installers: ``python packaging/build.py TARGET``, output in ``dist/``.

Targets:

- ``linux``: the onedir bundle (``dist/dalaldesk/``) and a tarball of it for any distribution
  (``dist/dalaldesk-VERSION-linux-x86_64.tar.gz``), with a README naming the system libraries
  it needs.
- ``deb``: the bundle as a Debian package (``dist/dalaldesk_VERSION_amd64.deb``): the app in
  ``/opt/dalaldesk``, the ``/usr/bin/dalaldesk`` launcher, a desktop entry and icons, and the
  system libraries Qt's xcb platform needs declared as dependencies.
- ``windows``: on Windows, the onedir bundle (the payload), then the NSIS installer from it when
  ``makensis`` is on PATH. PyInstaller does not cross-compile: the payload is built on Windows.
- ``nsis``: only the NSIS installer, from ``--payload DIR`` (a Windows onedir bundle); on Linux
  with no payload it compiles the script against a stand-in payload to check it.

The tarball and the package carry the bundle as its build left it: the files listed in
``dist/dalaldesk.files`` when the build ended (a run of the bundle since, such as the smoke
test, adds files and folders of its own: QtWebEngine makes a private ``locales`` folder), with
every folder readable by all (0755) and every file 0644, or 0755 when it is executable.

Every build writes a stamp (version, commit, time, platform) into the bundle's resources, which
About and ``dalaldesk --version`` show. ``--sign-command`` runs a signing command on each
Windows executable (``{file}`` is replaced by its path), the hook for Authenticode signing.

PyInstaller, dpkg-deb and makensis do the work; this script only puts their steps in order.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
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
    # What Qt's Wayland platform plugin loads, on a Wayland session.
    "libwayland-client0, libwayland-cursor0, libwayland-egl1, "
    # The time zones, for any program of the system; the bundle carries its own copy (Python's
    # tzdata package) as the desk's clock cannot start without Asia/Kolkata.
    "tzdata, "
    "fonts-dejavu-core"
)
DEB_RECOMMENDS = "gnome-keyring"
"""The Secret Service the desk keeps broker keys in (any other Secret Service works too)."""


CLIENT = "client"
"""The folder beside the executable with the local API's Python client (``dalaldesk_client``) as
source: a script runs it in the trader's own Python, which cannot import from the bundle."""


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
    ship_client(out)
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
    write_file_list(out)
    step(f"bundle {out} ({tree_size(out) / 1e6:.0f} MB) in {time.monotonic() - started:.0f} s")
    return out


def ship_client(out: Path) -> None:
    shutil.copytree(
        ROOT / "dalaldesk_client",
        out / CLIENT / "dalaldesk_client",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )


def file_list(out: Path) -> Path:
    return out.parent / f"{out.name}.files"


def write_file_list(out: Path) -> None:
    """List the bundle's files and symbolic links as the build leaves them, for the tarball and
    the package (folders follow from their files: an empty one carries nothing)."""
    entries = []
    for folder, folders, files in os.walk(out):  # a link to a folder is listed, not entered
        links = [name for name in folders if (Path(folder) / name).is_symlink()]
        entries += [(Path(folder) / name).relative_to(out).as_posix() for name in files + links]
    entries.sort()
    file_list(out).write_text("\n".join(entries) + "\n", encoding="utf-8")


def built_files(out: Path) -> list[str]:
    """The bundle's files as its build left them (``write_file_list``)."""
    listed = file_list(out)
    if not listed.is_file():
        raise BuildFailed(
            f"{out} has no list of the files its build made ({listed}): build it again with "
            "`python packaging/build.py linux`"
        )
    entries = [line for line in listed.read_text(encoding="utf-8").splitlines() if line]
    missing = [entry for entry in entries if not os.path.lexists(out / entry)]
    if missing:
        raise BuildFailed(
            f"{out} lacks {len(missing)} of the files its build made (first {missing[0]}): "
            "build it again"
        )
    return entries


def installed_mode(path: Path) -> int:
    """0755 for folders and executables, 0644 for the rest: what every user may read and run,
    whatever mode the build or a run of the bundle gave it."""
    if path.is_dir() or path.stat().st_mode & 0o100:
        return 0o755
    return 0o644


def copy_built_files(out: Path, target: Path) -> None:
    """Copy the bundle's built files (``built_files``) to ``target``, with installed modes."""
    target.mkdir(parents=True)
    target.chmod(0o755)
    for entry in built_files(out):
        source, copy = out / entry, target / entry
        for folder in reversed(copy.relative_to(target).parents[:-1]):
            if not (target / folder).is_dir():
                (target / folder).mkdir()
                (target / folder).chmod(0o755)
        if source.is_symlink():
            copy.symlink_to(os.readlink(source))
        else:
            shutil.copyfile(source, copy)
            copy.chmod(installed_mode(source))


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
    write_tarball(out, tarball)
    return [out, tarball]


def write_tarball(out: Path, tarball: Path) -> None:
    """The bundle's built files in ``dalaldesk-VERSION/``, with installed modes and a README."""
    top = f"{APP}-{version()}"

    def installed(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        if not info.issym():
            info.mode = 0o755 if info.isdir() or info.mode & 0o100 else 0o644
        return info

    entries = built_files(out)
    folders = sorted({parent for entry in entries for parent in Path(entry).parents[:-1]})
    with tarfile.open(tarball, "w:gz", compresslevel=6) as archive:
        archive.add(out, arcname=top, recursive=False, filter=installed)
        for entry in [*map(str, folders), *entries]:
            archive.add(out / entry, arcname=f"{top}/{entry}", recursive=False, filter=installed)
        readme = tarball_readme().encode("utf-8")
        info = installed(tarfile.TarInfo(f"{top}/README.txt"))
        info.size, info.mode, info.mtime = len(readme), 0o644, int(time.time())
        archive.addfile(info, io.BytesIO(readme))


def tarball_readme() -> str:
    """What the tarball's user must know: how to start it and the system libraries it needs
    (those the .deb declares; the bundle leaves them to the system, see prune.py)."""
    names = " ".join(name.strip() for name in DEB_DEPENDS.split(","))
    names = " ".join(name.strip() for name in DEB_DEPENDS.split(","))
    lines = textwrap.wrap(names, 72, break_on_hyphens=False)
    packages = " \\\n".join(f"    {line}" for line in lines)
    return f"""DalalDesk {version()} for Linux x86-64

Start it from this folder:

  ./dalaldesk                  the desk, on the built-in paper market
  ./dalaldesk --help           its options (--broker kite, --headless, --api-port PORT, ...)
  ./dalaldesk backtest --help  recording, importing, backtests and sweeps from the command line
  ./dalaldesk --smoke          checks this installation: opens every panel offscreen, fills a
                               paper order, saves dalaldesk-smoke.png and exits 0 if all worked

The folder carries Python, Qt and the desk's libraries. The display's libraries (X11/xcb and
Wayland, OpenGL/EGL, fontconfig, FreeType, D-Bus, GLib, NSS, ALSA) come from the system. On
Debian or Ubuntu, install them with:

  sudo apt-get install \\
{packages}

On other distributions, install the packages that provide the same libraries. Broker keys and
tokens are kept in the system's Secret Service (gnome-keyring, or KWallet); recommended:
{DEB_RECOMMENDS}.

A Python script that drives the desk through its local API (dalaldesk --api-port PORT) can use
the client in {CLIENT}/: run it with PYTHONPATH set to that folder (Python 3.11 or later), or
copy {CLIENT}/dalaldesk_client next to the script.

The manual is in the desk: Help > User manual (Shift+F1).
"""


def deb(args: argparse.Namespace) -> list[Path]:
    out = DIST / APP if args.reuse and (DIST / APP).is_dir() else bundle()
    package = DIST / f"{APP}_{version()}_amd64.deb"
    with tempfile.TemporaryDirectory(prefix="dalaldesk-deb-") as tmp:
        root = Path(tmp) / "root"
        (root / "opt").mkdir(parents=True)
        copy_built_files(out, root / "opt" / APP)
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
    (folder / f"{APP}-cli.exe").write_bytes(b"MZ stand-in for its console twin\n")
    ship_client(folder)
    (folder / "_internal" / "README.txt").write_text("stand-in payload\n", encoding="utf-8")
    return folder


def sign(args: argparse.Namespace, files: list[Path]) -> None:
    """The code-signing hook: ``--sign-command 'signtool sign /a /fd SHA256 {file}'``."""
    if not args.sign_command:
        return
    for file in files:
        run([part.replace("{file}", str(file)) for part in command_words(args.sign_command)])


def command_words(command: str, *, windows: bool = sys.platform == "win32") -> list[str]:
    """Split a command line into its words. On Windows a backslash is a path's separator, not an
    escape (``C:\\certs\\desk.pfx`` stays whole); quotes group words on both."""
    if not windows:
        return shlex.split(command)
    lexer = shlex.shlex(command, posix=True)
    lexer.whitespace_split = True
    lexer.escape = ""
    lexer.commenters = ""
    return list(lexer)


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
