"""The project's own checks run with the suite: layer contracts, lint and engine types."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed; it is part of the [test] extra"
    return found


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_layer_contracts_when_checked_are_all_kept() -> None:
    result = run(tool("lint-imports"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_ruff_when_run_on_the_project_finds_nothing() -> None:
    result = run(tool("ruff"), "check", "engine", "app", "ui", "tests")
    assert result.returncode == 0, result.stdout[-3000:]


def test_mypy_when_run_on_the_engine_finds_no_type_errors() -> None:
    result = run(tool("mypy"), "engine")
    assert result.returncode == 0, result.stdout[-3000:]


def engine_package_imports() -> dict[tuple[str, str], list[str]]:
    """(importer, imported) top-level engine packages or modules -> the modules that do it."""
    import grimp

    graph = grimp.build_graph("engine", cache_dir=None)
    edges: dict[tuple[str, str], list[str]] = {}
    for module in graph.modules:
        source = module.split(".")[1] if "." in module else module
        for imported in graph.find_modules_directly_imported_by(module):
            if not imported.startswith("engine."):
                continue
            target = imported.split(".")[1]
            if target != source:
                edges.setdefault((source, target), []).append(f"{module} -> {imported}")
    return edges


def test_engine_packages_when_graphed_never_import_each_other() -> None:
    edges = engine_package_imports()
    assert ("api", "oms") in edges and ("risk", "oms") in edges  # the graph is the real one
    both_ways = sorted(
        f"{a} <-> {b}: {edges[(a, b)][0]}; {edges[(b, a)][0]}"
        for a, b in edges
        if a < b and (b, a) in edges
    )
    assert not both_ways, "\n".join(both_ways)


def test_paper_desk_when_started_loads_no_library_it_does_not_use(tmp_path: Path) -> None:
    """A paper desk's start-up imports neither a live broker's client, nor the HTTP stack of the
    endpoints it does not serve, nor the recorder's Parquet, nor the schema migrations (a book
    at the newest schema opens without them): together about a second of every start."""
    unused = ("aiohttp", "kiteconnect", "requests", "pyarrow", "alembic")
    probe = (
        "import sys, app.main\n"
        "from engine.runtime import Engine, EngineConfig\n"
        "Engine.build(EngineConfig(db_url=sys.argv[1])).close()\n"
        f"print(','.join(name for name in {unused!r} if name in sys.modules))\n"
    )
    book = f"sqlite:///{tmp_path / 'book.db'}"
    first = run(sys.executable, "-c", probe, book)  # makes the book: it migrates
    assert first.returncode == 0, first.stderr[-3000:]
    assert "alembic" in first.stdout
    again = run(sys.executable, "-c", probe, book)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.strip() == "", f"loaded at start-up: {again.stdout.strip()}"


def test_command_script_when_it_spawns_a_worker_does_not_load_the_app_into_it(
    tmp_path: Path,
) -> None:
    """A spawned worker (the VaR worker, a sweep's runs) first runs the command's script again,
    and the script pip writes imports the entry point's module at its top: that module must not
    bring in the application. The same script pointed at ``app.main`` shows the probe sees it."""
    [command] = entry_points(group="console_scripts", name="dalaldesk")
    module, attr = command.value.split(":")
    probe = "sorted(m for m in ('app.main', 'PySide6', 'engine.runtime') if m in sys.modules)"

    def worker_loads(entry_module: str) -> str:
        script = tmp_path / f"dalaldesk_{entry_module.replace('.', '_')}"
        script.write_text(
            "import sys\n"  # the shape of the script pip writes for a command
            f"from {entry_module} import {attr}\n"
            "if __name__ == '__main__':\n"
            "    from engine.core.workers import worker_pool\n"
            "    with worker_pool() as pool:\n"
            f"        print(pool.submit(eval, {probe!r}).result())\n"
        )
        done = run(sys.executable, str(script))
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip()

    assert worker_loads(module) == "[]"
    assert "app.main" in worker_loads("app.main")
