"""The third-party notices About shows and the installers ship."""

from __future__ import annotations

import re

from resources.notices import COMPONENTS, collect_notices, third_party_notices

HEAD = re.compile(r"^(\S+) (\S+): (.*)$")
"""A package's head line: its name, version and licence."""


def package_heads(text: str) -> dict[str, str]:
    """Each package's name and its licence, from the head line after its separator (a licence
    file may draw the same rule inside its own text: pyarrow's, around LLVM's notice)."""
    lines = text.splitlines()
    heads = (lines[i + 1] for i, line in enumerate(lines[:-1]) if line == "=" * 78)
    return {m[1]: m[3] for head in heads if (m := HEAD.match(head))}


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
