"""The ``dalaldesk`` command's entry point, kept free of imports.

The desk's worker processes are spawned (``engine.core.workers``: the VaR worker, a sweep's
runs). A spawned worker begins by running the command's script again as ``__mp_main__``, and the
script pip writes for a command imports the entry point's module at its top. Pointed at
``app.main``, every worker loaded the whole application (Qt, the engine, the brokers' clients)
before its first job; pointed here, it loads this module and nothing else.
"""

from __future__ import annotations


def main() -> int:
    from app.main import main as run_desk

    return run_desk()
