"""The installers' files (packaging/): what the bundle collects, what the .deb and the tarball
carry and declare, the Windows installer's checks and the signing hook. The bundle itself is
built by .ci/run's packaging step (minutes); these read the build's parts without running
PyInstaller."""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import pkgutil
import shutil
import subprocess
import sys
import tarfile
import tomllib
import types
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"


def _load_build() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(
        "dalaldesk_packaging_build", PACKAGING / "build.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()


def _deb_depends() -> set[str]:
    return {name.strip() for name in build.DEB_DEPENDS.split(",")}


# -- time zones: the desk's clock is IST ---------------------------------------------------------


def test_packaging_dependencies_when_read_include_tzdata() -> None:
    with (ROOT / "pyproject.toml").open("rb") as file:
        dependencies = tomllib.load(file)["project"]["dependencies"]
    assert "tzdata" in {Requirement(text).name for text in dependencies}


def test_packaging_deb_depends_when_read_name_tzdata_and_the_wayland_libraries() -> None:
    assert {"tzdata", "libwayland-client0", "libwayland-cursor0", "libwayland-egl1"} <= (
        _deb_depends()
    )


class _SpecRun:
    """PyInstaller's spec names (Analysis, PYZ, EXE, COLLECT) as recorders, and its hooks'
    helpers as plain walks of the installed packages."""

    def __init__(self) -> None:
        self.analysis: dict[str, Any] = {}
        self.executables: list[dict[str, Any]] = []
        self.collected: tuple[Any, ...] = ()

    def names(self) -> dict[str, Any]:
        run = self

        class Analysis:
            def __init__(self, scripts: list[str], **options: Any) -> None:
                run.analysis = {"scripts": scripts, **options}
                self.datas = list(options["datas"])
                self.binaries: list[Any] = []
                self.pure: list[Any] = []
                self.scripts = scripts

        def EXE(*parts: Any, **options: Any) -> dict[str, Any]:  # PyInstaller's name
            run.executables.append(options)
            return options

        def COLLECT(*parts: Any, **options: Any) -> None:
            run.collected = parts

        return {
            "Analysis": Analysis,
            "PYZ": lambda *parts, **options: parts,
            "EXE": EXE,
            "COLLECT": COLLECT,
            "SPECPATH": str(PACKAGING),
        }


def _collect_data_files(package: str) -> list[tuple[str, str]]:
    origin = importlib.util.find_spec(package)
    assert origin is not None and origin.submodule_search_locations
    base = Path(next(iter(origin.submodule_search_locations)))
    return [
        (str(path), str(Path(package, *path.relative_to(base).parent.parts)))
        for path in base.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc")
    ]


def _collect_submodules(package: str) -> list[str]:
    """The package's modules, found on disk without importing them (the spec runs with a
    stand-in ``sys.platform``: an import then would keep the wrong platform's choices)."""
    origin = importlib.util.find_spec(package)
    assert origin is not None and origin.submodule_search_locations
    names = [package]

    def walk(paths: list[str], prefix: str) -> None:
        for found in pkgutil.iter_modules(paths, prefix):
            names.append(found.name)
            if found.ispkg:
                folder = Path(found.module_finder.path) / found.name.rsplit(".", 1)[-1]
                walk([str(folder)], f"{found.name}.")

    walk(list(origin.submodule_search_locations), f"{package}.")
    return names


def _run_spec(monkeypatch: pytest.MonkeyPatch, platform: str) -> _SpecRun:
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_data_files = _collect_data_files  # type: ignore[attr-defined]
    hooks.collect_submodules = _collect_submodules  # type: ignore[attr-defined]
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    monkeypatch.setattr(sys, "platform", platform)
    run = _SpecRun()
    source = (PACKAGING / "dalaldesk.spec").read_text(encoding="utf-8")
    exec(compile(source, "dalaldesk.spec", "exec"), run.names())  # the spec is ours
    return run


def test_packaging_spec_when_analysed_collects_tzdata_with_its_zone_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = _run_spec(monkeypatch, "linux")

    hidden = set(run.analysis["hiddenimports"])
    assert {"tzdata", "tzdata.zoneinfo", "tzdata.zoneinfo.Asia"} <= hidden
    kolkata = [dest for src, dest in run.analysis["datas"] if src.endswith("Asia/Kolkata")]
    assert kolkata == [str(Path("tzdata", "zoneinfo", "Asia"))]
    assert "tzdata" not in run.analysis["excludes"]


def test_packaging_spec_when_analysed_collects_the_backtest_command_line_and_its_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = _run_spec(monkeypatch, "linux")

    hidden = set(run.analysis["hiddenimports"])
    assert {"engine.runtime.backtest_cli", "engine.backtest.sweep"} <= hidden
    assert {"engine.runtime.backtests", "engine.core.workers"} <= hidden  # what workers unpickle
    assert run.analysis["scripts"] == [str(PACKAGING / "launch.py")]  # freeze_support first
    assert "multiprocessing.freeze_support()" in (PACKAGING / "launch.py").read_text("utf-8")
    assert [exe["name"] for exe in run.executables] == ["dalaldesk"]  # Linux: one, a console one
    assert run.executables[0]["console"] is True


def test_packaging_spec_when_built_for_windows_adds_a_console_twin_for_the_command_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = _run_spec(monkeypatch, "win32")

    windowed, console = run.executables
    assert (windowed["name"], windowed["console"]) == ("dalaldesk", False)
    assert (console["name"], console["console"]) == ("dalaldesk-cli", True)
    assert run.collected[:2] == (windowed, console)  # one _internal folder for both


# -- the tarball and the .deb carry the bundle as its build left it ------------------------------


def _built_bundle(dist: Path) -> Path:
    """A bundle shaped like the build's, its file list written, then run once: the run leaves a
    private (0700) folder and a file of its own, as QtWebEngine does under the smoke test."""
    out = dist / "dalaldesk"
    internal = out / "_internal"
    (internal / "PySide6" / "Qt" / "resources").mkdir(parents=True)
    program = out / "dalaldesk"
    program.write_bytes(b"\x7fELF stand-in for the program\n")
    program.chmod(0o700)  # built executable, only its owner may run it
    library = internal / "libpython3.12.so.1.0"
    library.write_bytes(b"\x7fELF stand-in for a library\n")
    library.chmod(0o600)  # a wheel's file only its owner could read
    (internal / "libpython3.12.so").symlink_to("libpython3.12.so.1.0")
    (internal / "PySide6" / "Qt" / "resources" / "icudtl.dat").write_bytes(b"icu")
    build.ship_client(out)
    build.write_file_list(out)

    locales = internal / "PySide6" / "Qt" / "resources" / "locales"
    locales.mkdir()
    locales.chmod(0o700)
    (locales / "en-US.pak").write_bytes(b"made by a run")
    (internal / "made-by-a-run.txt").write_text("not the build's", encoding="utf-8")
    return out


def test_packaging_tarball_when_written_after_a_run_carries_the_built_files_and_a_readme(
    tmp_path: Path,
) -> None:
    out = _built_bundle(tmp_path / "dist")
    tarball = tmp_path / "dist" / "dalaldesk.tar.gz"

    build.write_tarball(out, tarball)

    top = f"dalaldesk-{build.version()}"
    with tarfile.open(tarball) as archive:
        members = {member.name: member for member in archive.getmembers()}
        readme = archive.extractfile(f"{top}/README.txt")
        assert readme is not None
        text = io.TextIOWrapper(readme, encoding="utf-8").read()
    assert f"{top}/_internal/PySide6/Qt/resources/icudtl.dat" in members
    assert f"{top}/client/dalaldesk_client/__init__.py" in members
    assert not [name for name in members if "locales" in name or "made-by-a-run" in name]
    assert members[f"{top}/dalaldesk"].mode == 0o755
    assert members[f"{top}/_internal/libpython3.12.so.1.0"].mode == 0o644
    assert members[f"{top}/_internal/libpython3.12.so"].issym()
    assert all(m.mode == 0o755 for m in members.values() if m.isdir())
    # The README asks for every library the bundle leaves to the system, by its package's name.
    for package in _deb_depends():
        assert package in text.split(), package
    assert "./dalaldesk backtest --help" in text and "PYTHONPATH" in text


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian/Ubuntu)")
def test_packaging_deb_when_made_after_a_run_has_the_built_files_readable_by_every_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build, "DIST", tmp_path / "dist")
    _built_bundle(tmp_path / "dist")

    (package,) = build.deb(argparse.Namespace(reuse=True))

    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(package)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    entries = {
        line.split()[-1] if " -> " not in line else line.split()[-3]: line for line in listing
    }
    assert not [line for line in listing if line.startswith("drwx------")]
    assert not [name for name in entries if "locales" in name or "made-by-a-run" in name]
    assert entries["./opt/dalaldesk/dalaldesk"].startswith("-rwxr-xr-x")
    assert entries["./opt/dalaldesk/_internal/libpython3.12.so.1.0"].startswith("-rw-r--r--")
    assert "./opt/dalaldesk/client/dalaldesk_client/__init__.py" in entries
    depends = subprocess.run(
        ["dpkg-deb", "--field", str(package), "Depends"], capture_output=True, text=True, check=True
    ).stdout
    assert "tzdata" in depends and "libwayland-egl1" in depends


def test_packaging_deb_when_the_bundle_has_no_file_list_refuses_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build, "DIST", tmp_path / "dist")
    out = _built_bundle(tmp_path / "dist")
    build.file_list(out).unlink()

    with pytest.raises(build.BuildFailed, match="has no list of the files its build made"):
        build.deb(argparse.Namespace(reuse=True))


def test_packaging_client_when_shipped_is_importable_by_the_traders_own_python(
    tmp_path: Path,
) -> None:
    """The client ships as source beside the program: a script's own Python imports it from
    there (nothing else on its path: -S leaves site-packages out)."""
    build.ship_client(tmp_path / "install")

    done = subprocess.run(
        [sys.executable, "-S", "-c", "import dalaldesk_client as c; print(c.__file__, c.Client)"],
        env={**os.environ, "PYTHONPATH": str(tmp_path / "install" / "client")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(str(tmp_path / "install" / "client" / "dalaldesk_client"))


# -- Windows: the installer, the smoke test, signing ---------------------------------------------


def test_packaging_sign_command_when_on_windows_keeps_the_backslashes_of_paths() -> None:
    command = r'signtool sign /f C:\certs\desk.pfx /tr http://ts.example /d "Dalal Desk" {file}'

    assert build.command_words(command, windows=True) == [
        "signtool",
        "sign",
        "/f",
        r"C:\certs\desk.pfx",
        "/tr",
        "http://ts.example",
        "/d",
        "Dalal Desk",
        "{file}",
    ]
    quoted = r'signtool sign /f "C:\My Certs\desk.pfx" {file}'
    assert build.command_words(quoted, windows=True)[3] == r"C:\My Certs\desk.pfx"
    assert build.command_words("sign --key 'my key' {file}", windows=False) == [
        "sign",
        "--key",
        "my key",
        "{file}",
    ]


def test_packaging_windows_smoke_when_scripted_waits_for_the_windowed_desk_and_reads_its_exit() -> (
    None
):
    """PowerShell's ``&`` does not wait for a windowed program nor set $LASTEXITCODE from it;
    no PowerShell runs here, so the script is read."""
    script = (PACKAGING / "windows" / "build_payload.ps1").read_text(encoding="utf-8")
    smoke = script[script.index("Start-Process") :]
    assert "-Wait" in smoke.split("\n\n")[0] and "-PassThru" in smoke.split("\n\n")[0]
    assert "$smoke.ExitCode -ne 0" in script and "Test-Path $shot" in script
    assert '& "dist\\dalaldesk\\dalaldesk.exe"' not in script


@pytest.mark.skipif(shutil.which("makensis") is None, reason="needs NSIS (apt-get install nsis)")
def test_packaging_nsis_installer_when_compiled_checks_for_a_running_desk_on_both_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build, "DIST", tmp_path / "dist")

    (installer,) = build.nsis(argparse.Namespace(payload=None, sign_command=""))

    assert installer.stat().st_size > 100_000  # makensis compiled the whole script
    script = (PACKAGING / "windows" / "dalaldesk.nsi").read_text(encoding="utf-8")
    on_init = script[script.index("Function .onInit") :].split("FunctionEnd")[0]
    un_on_init = script[script.index("Function un.onInit") :].split("FunctionEnd")[0]
    assert "Call DeskClosed" in on_init and "Call un.DeskClosed" in un_on_init
    uninstall = script[script.index('Section "Uninstall"') :]
    assert "Call un.DeskClosed" in uninstall and "dalaldesk-cli.exe" in script
    assert "Credential Manager" in script
    assert r"%LOCALAPPDATA%\dalaldesk\dalaldesk" in script
    assert r"%APPDATA%\dalaldesk" not in script
