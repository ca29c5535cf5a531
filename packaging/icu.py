"""Trim the ICU data Qt ships (``libicudata.so.NN``, 32 MB) to what Qt uses.

Qt Core links ICU for collation (QCollator), locale-aware case mapping, text codecs
(QStringDecoder) and normalisation; all of that data stays. What goes is the data Qt never reads
and the desk never asks for: the localised display names of languages, regions, currencies, units
and time zones (``lang/``, ``region/``, ``curr/``, ``unit/``, ``zone/``: Qt's own CLDR tables name
those, and the desk shows no time-zone names through Qt), transliteration rules (``translit/``)
and spelled-out numbers (``rbnf/``). Chromium (QtWebEngine) has its own ``icudtl.dat``, untouched.

The library is a single exported array (``icudtNN_dat``, ICU's common data package). It is read out
of the built library, trimmed with ICU's own ``icupkg -r`` and assembled back into a library of the
same soname with the same symbol. The result is checked before it replaces the original: ICU from
the bundle must open its root bundle and a German collator from it (in a process of its own).
Needs ``icupkg`` (Debian: ``icu-devtools``) and a C compiler; without them the data stays whole.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TREES_UNUSED = ("lang", "region", "curr", "unit", "zone", "translit", "rbnf")

ASSEMBLY = """    .section .rodata
    .globl {symbol}
    .type {symbol}, @object
    .balign 16
{symbol}:
    .incbin "{data}"
    .size {symbol}, . - {symbol}
    .section .note.GNU-stack,"",@progbits
"""

CHECK = """
import ctypes, sys
data, uc, i18n, version = sys.argv[1:5]
ctypes.CDLL(data, mode=ctypes.RTLD_GLOBAL)
uc = ctypes.CDLL(uc, mode=ctypes.RTLD_GLOBAL)
i18n = ctypes.CDLL(i18n)
error = ctypes.c_int(0)
uc[f"u_init_{version}"](ctypes.byref(error))
assert error.value <= 0, f"u_init: {error.value}"
open_bundle = uc[f"ures_open_{version}"]
open_bundle.restype = ctypes.c_void_p
assert open_bundle(None, b"en_IN", ctypes.byref(error)) and error.value <= 0, error.value
open_collator = i18n[f"ucol_open_{version}"]
open_collator.restype = ctypes.c_void_p
assert open_collator(b"de", ctypes.byref(error)) and error.value <= 0, error.value
"""


def tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")


def symbol_and_range(library: Path, symbol: str) -> tuple[int, int]:
    """The file offset and size of ``symbol``'s bytes in ``library``."""
    syms = subprocess.run(
        ["readelf", "--dyn-syms", "-W", str(library)], capture_output=True, text=True, check=True
    ).stdout
    value = size = section = None
    for line in syms.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[7] == symbol:
            value, size, section = int(parts[1], 16), int(parts[2], 0), parts[6]
    if value is None or size is None or section is None:
        raise ValueError(f"{library.name} exports no {symbol}")
    headers = subprocess.run(
        ["readelf", "--section-headers", "-W", str(library)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in headers.splitlines():
        parts = line.replace("[ ", "[").split()
        if len(parts) > 5 and parts[0] == f"[{section}]":
            address, offset = int(parts[3], 16), int(parts[4], 16)
            return value - address + offset, size
    raise ValueError(f"{library.name}: no section {section}")


def trim_icu_data(internal: Path) -> tuple[int, int] | str:
    """Replace the bundle's ICU data library by a trimmed one: (bytes before, after), or why not."""
    found = sorted((internal / "PySide6" / "Qt" / "lib").glob("libicudata.so.*"))
    icupkg, cc = tool("icupkg"), tool("cc") or tool("gcc")
    if sys.platform != "linux" or not found:
        return "no ICU data library in the bundle"
    if icupkg is None or cc is None:
        return "icupkg (icu-devtools) or a C compiler is missing: ICU data left whole"
    library = found[0]
    version = library.name.split(".so.")[1].split(".")[0]
    symbol, name = f"icudt{version}_dat", f"icudt{version}l"
    offset, size = symbol_and_range(library, symbol)
    with tempfile.TemporaryDirectory(prefix="dalaldesk-icu-") as tmp:
        work = Path(tmp)
        (work / "in").mkdir()
        (work / "out").mkdir()
        with library.open("rb") as file:
            file.seek(offset)
            (work / "in" / f"{name}.dat").write_bytes(file.read(size))
        items = subprocess.run(
            [icupkg, "-l", str(work / "in" / f"{name}.dat")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        unused = [item for item in items if item.split("/")[0] in TREES_UNUSED]
        (work / "remove.txt").write_text("\n".join(unused) + "\n", encoding="utf-8")
        subprocess.run(
            [
                icupkg,
                "-r",
                str(work / "remove.txt"),
                str(work / "in" / f"{name}.dat"),
                str(work / "out" / f"{name}.dat"),
            ],
            check=True,
            capture_output=True,
        )
        (work / "data.S").write_text(
            ASSEMBLY.format(symbol=symbol, data=work / "out" / f"{name}.dat"), encoding="utf-8"
        )
        trimmed = work / library.name
        subprocess.run(
            [
                cc,
                "-shared",
                "-nostdlib",
                f"-Wl,-soname,{library.name}",
                "-Wl,-z,noexecstack",
                "-o",
                str(trimmed),
                str(work / "data.S"),
            ],
            check=True,
            capture_output=True,
        )
        lib = library.parent
        check = subprocess.run(
            [
                sys.executable,
                "-c",
                CHECK,
                str(trimmed),
                str(next(lib.glob("libicuuc.so.*"))),
                str(next(lib.glob("libicui18n.so.*"))),
                version,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            return f"the trimmed ICU data does not open ({check.stderr.strip()[-300:]}): left whole"
        before = library.stat().st_size
        shutil.copyfile(trimmed, library)
        return before, library.stat().st_size
