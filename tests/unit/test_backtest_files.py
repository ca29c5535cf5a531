"""The files a backtest reads its settings from: a portfolio as the desk exports it, as a
template or as the bare spec gives the same spec; anything else is refused naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.backtest.run import BacktestError, read_portfolio_file, read_settings_file
from engine.strategies.multileg.spec import exported, parse_spec

TEMPLATES = Path(__file__).resolve().parents[2] / "resources" / "multileg" / "templates"


def test_portfolio_file_reads_the_desks_export_a_template_and_the_bare_spec_alike(
    tmp_path: Path,
) -> None:
    template = next(iter(sorted(TEMPLATES.glob("*.json"))))
    data = json.loads(template.read_text(encoding="utf-8"))
    spec = data.get("portfolio", data)  # a template is the bare spec or the export's shape
    canonical = parse_spec(spec).model_dump(mode="json")
    (tmp_path / "export.json").write_text(json.dumps(exported(canonical)), encoding="utf-8")
    (tmp_path / "bare.json").write_text(json.dumps(canonical), encoding="utf-8")
    assert read_portfolio_file(tmp_path / "export.json") == canonical
    assert read_portfolio_file(tmp_path / "bare.json") == canonical
    assert parse_spec(read_portfolio_file(template)).model_dump(mode="json") == canonical


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('{"portfolio": [1, 2]}', "holds no portfolio: its 'portfolio' is not an object"),
        ("[]", "must hold one JSON object of settings"),
        ('{"portfolio": {"legs": [', "is not JSON: Expecting value at line 1, column 25"),
        ("\udcff", "cannot be read"),
    ],
)
def test_portfolio_file_when_not_a_portfolio_is_refused_in_words(
    tmp_path: Path, text: str, said: str
) -> None:
    path = tmp_path / "my portfolio.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(BacktestError) as refused:
        read_portfolio_file(path)
    assert str(refused.value).startswith(f"the portfolio file {path} ") and said in str(
        refused.value
    )


def test_settings_file_that_is_missing_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(BacktestError, match=r"the algo file .*nosuch\.json cannot be read"):
        read_settings_file(tmp_path / "nosuch.json", "algo")
