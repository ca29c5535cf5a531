"""The third-party notices About shows and the installers ship."""

from __future__ import annotations

from resources.notices import COMPONENTS, collect_notices, third_party_notices


def package_heads(text: str) -> dict[str, str]:
    """Each package's name and its licence, from the line after its separator."""
    lines = text.splitlines()
    heads = [lines[i + 1] for i, line in enumerate(lines[:-1]) if line == "=" * 78]
    return {head.split()[0]: head.split(": ", 1)[1] for head in heads}


def test_notices_name_the_components_then_every_runtime_package_with_its_licence() -> None:
    text = collect_notices()

    assert text.startswith(COMPONENTS)
    assert "GNU Lesser General Public License v3 (LGPLv3)" in text
    assert "Apache License 2.0, copyright TradingView" in text
    heads = package_heads(text)
    assert {"PySide6", "kiteconnect", "numpy", "SQLAlchemy", "keyring"} <= set(heads)
    assert "LGPL" in heads["PySide6"]
    assert all(licence.strip() for licence in heads.values())
    # The licence texts themselves, not only their names.
    assert "Permission is hereby granted, free of charge" in text  # MIT (kiteconnect and others)
    assert "Redistribution and use in source and binary forms" in text  # BSD (numpy)


def test_notices_leave_out_test_tools_and_the_desk_itself() -> None:
    heads = package_heads(collect_notices())
    assert not {"pytest", "hypothesis", "ruff", "mypy", "dalaldesk", "pyinstaller"} & set(heads)


def test_notices_of_a_pip_install_are_collected_when_none_are_shipped() -> None:
    assert third_party_notices() == collect_notices()
