"""The reference documents say what the code does: every setting is in docs/settings.md with
its default, and nothing documented there is unknown to the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from movierec.config import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"
_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \| ([^|]*) \|", re.MULTILINE)


def documented_settings() -> dict[str, str]:
    """Variable name -> its default column, from every table row of docs/settings.md."""
    text = (DOCS / "settings.md").read_text(encoding="utf-8")
    return {name: default.strip() for name, default in _ROW.findall(text)}


def variables() -> dict[str, object]:
    """Every setting's environment variable and its default."""
    return {
        (field.alias or name).upper(): field.default
        for name, field in Settings.model_fields.items()
    }


def test_every_setting_is_documented_and_every_documented_one_exists() -> None:
    documented, known = documented_settings(), variables()
    assert sorted(set(known) - set(documented)) == [], "settings missing from docs/settings.md"
    assert sorted(set(documented) - set(known)) == [], "docs/settings.md names unknown settings"


@pytest.mark.parametrize("name", sorted(variables()))
def test_the_documented_default_is_the_code_default(name: str) -> None:
    default, column = variables()[name], documented_settings().get(name)
    if column is None:
        pytest.skip(f"{name} is not documented (the test above fails for it)")
    if default in (None, "", (), [], {}):
        # No default value: a dash or words ("one per available core"), never a literal.
        assert not column.startswith("`"), (name, column)
        return
    shown = re.search(r"`([^`]*)`", column)
    assert shown is not None, (name, column)
    value = shown.group(1)
    if isinstance(default, bool):
        assert value.lower() in ({"true", "1", "on"} if default else {"false", "0", "off"})
    elif isinstance(default, int | float):
        assert float(value) == float(default), (name, value, default)
    else:
        assert value == str(default), (name, value, default)
