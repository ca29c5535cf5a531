"""Builds and runs one engine: the wiring of clock, bus, feed, store, order manager and broker.

``app`` (the composition root) and the headless runner call ``Engine.build``; nothing here is a
global, so a test can run two engines side by side.
"""

from engine.runtime.config import EngineConfig
from engine.runtime.engine import Engine

__all__ = ["Engine", "EngineConfig"]
