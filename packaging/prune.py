"""Remove the Qt plugins the desk does not use from a built bundle, with the libraries only they
need.

PyInstaller collects every plugin of the Qt modules the desk imports, and with each plugin the
system libraries it links: the GTK theme brings GTK 3 and its stack, the CUPS print plugin brings
CUPS, GnuTLS and Kerberos, the PDF image plugin brings Qt PDF. A library goes only when every
file that needs it goes: what remains is read from the bundle itself (each ELF file's NEEDED
entries, through ``readelf``), so a library another part still links is never removed. Libraries
loaded at run time by name (NSS's modules, Python's own) are never NEEDED by a plugin, so they
stay.

The system libraries the installed system provides (what the .deb declares: X11/xcb, fontconfig,
FreeType, D-Bus, GLib, NSS, ALSA) go the same way: the bundle uses the system's copies, and the
libraries only they needed (libsystemd, libgcrypt, libmount, libselinux, PCRE2, ...) go with them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

PLUGIN_FOLDERS_UNUSED = (
    "egldeviceintegrations",
    "generic",
    "printsupport",
    "sqldrivers",
    "multimedia",
    "position",
    "qmltooling",
    "qmllint",
    "sceneparsers",
    "geometryloaders",
    "renderers",
    "renderplugins",
    "texttospeech",
    "virtualkeyboard",
    "designer",
    "canbus",
    "sensors",
    "webview",
    "assetimporters",
    "help",
)
SYSTEM_PROVIDED = (
    # Libraries the installed system provides: the packages build.py's DEB_DEPENDS declares
    # (X11/xcb and xkbcommon, fontconfig and FreeType, D-Bus, GLib, NSS/NSPR, ALSA), which the
    # .deb pulls in and the tarball's README asks for. Bundled copies only duplicate them (and an
    # old bundled GLib or NSS next to the system's newer modules is a known source of trouble).
    # The libraries only they need go with them; the system's copies bring their own.
    "libX11",
    "libXau.",
    "libXcomposite.",
    "libXdamage.",
    "libXdmcp.",
    "libXext.",
    "libXfixes.",
    "libXrandr.",
    "libXrender.",
    "libXtst.",
    "libxcb-",
    "libxkbcommon",
    "libfontconfig.",
    "libfreetype.",
    "libdbus-1.",
    "libglib-2.0.",
    "libgio-2.0.",
    "libgobject-2.0.",
    "libgmodule-2.0.",
    "libgthread-2.0.",
    "libnss3.",
    "libnssutil3.",
    "libnssckbi.",
    "libnssdbm3.",
    "libsmime3.",
    "libsoftokn3.",
    "libfreebl3.",
    "libfreeblpriv3.",
    "libnspr4.",
    "libplc4.",
    "libplds4.",
    "libasound.",
)
PLUGINS_UNUSED = (
    "libqgtk3.so",  # the GTK theme: the desk draws its own theme; GTK 3 alone is ~20 MB
    "libqtvirtualkeyboardplugin.so",  # kiosks' on-screen keyboard
    "libqpdf.so",  # PDF as an image format (brings Qt PDF)
    "libqeglfs.so",
    "libqlinuxfb.so",
    "libqvnc.so",
    "libqvkkhrdisplay.so",
    "libqminimalegl.so",
    "libqtiff.so",
    "libqwebp.so",
    "libqicns.so",
    "libqtga.so",
    "libqwbmp.so",
)


def is_elf(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def needed(path: Path) -> list[str]:
    """The sonames ``path`` links (its dynamic section's NEEDED entries)."""
    out = subprocess.run(
        ["readelf", "--dynamic", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return [
        line.split("[", 1)[1].split("]", 1)[0] for line in out.splitlines() if "(NEEDED)" in line
    ]


def unused_plugins(internal: Path) -> list[Path]:
    plugins = internal / "PySide6" / "Qt" / "plugins"
    return [
        path
        for path in plugins.rglob("*.so")
        if path.relative_to(plugins).parts[0] in PLUGIN_FOLDERS_UNUSED
        or path.name in PLUGINS_UNUSED
    ]


def closure(roots: Iterable[Path], libraries: dict[str, Path]) -> set[Path]:
    """The bundle's libraries ``roots`` load, directly or through each other."""
    found: set[Path] = set()
    stack = [name for root in roots for name in needed(root)]
    while stack:
        library = libraries.get(stack.pop())
        if library is not None and library not in found:
            found.add(library)
            stack.extend(needed(library))
    return found


def prune(bundle: Path) -> tuple[list[Path], int]:
    """Remove the unused plugins and the libraries only they load; what went and the bytes freed."""
    internal = bundle / "_internal"
    files = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink() and is_elf(p)]
    # A soname resolves to the bundled file: the top-level copy or symlink, or Qt's own lib folder.
    libraries = {p.name: p.resolve() for p in internal.glob("lib*.so*")}
    libraries.update(
        {p.name: p.resolve() for p in (internal / "PySide6" / "Qt" / "lib").glob("*.so*")}
    )
    plugins = unused_plugins(internal)
    provided = {
        path
        for name, path in libraries.items()
        if name.startswith(SYSTEM_PROVIDED) and path.parent == internal
    }
    # NSS's modules and their checksums are loaded by name, never NEEDED: they go with NSS.
    provided |= {
        p for p in internal.glob("lib*") if p.name.startswith(SYSTEM_PROVIDED) and p.is_file()
    }
    kept = [p for p in files if p not in plugins and p not in set(libraries.values())]
    own = {name: path for name, path in libraries.items() if path not in provided}
    still_needed = closure(kept, own)
    roots = [*plugins, *(p for p in provided if is_elf(p))]
    only_theirs = closure(roots, libraries) - still_needed
    removed = [*plugins, *sorted(provided | only_theirs)]
    freed = sum(p.stat().st_size for p in removed)
    for path in removed:
        path.unlink()
    for link in internal.glob("lib*.so*"):  # symlinks to what was removed
        if link.is_symlink() and not link.exists():
            link.unlink()
    for folder in sorted((internal / "PySide6" / "Qt" / "plugins").iterdir()):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return removed, freed
