"""Data files shipped with DalalDesk (calendars, instrument tables, themes).

Load them through :func:`engine.core.resources.resource_path` so the same code works from a
checkout, an installed wheel and a PyInstaller bundle.
"""
