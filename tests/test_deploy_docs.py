"""docs/DEPLOY.md stays true: its settings table is collector/settings.py's, with the
real defaults, and every `clerk-collector` command it shows exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from collector.cli import parser
from collector.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = (ROOT / "docs" / "DEPLOY.md").read_text()
SETTINGS_SOURCE = (ROOT / "collector" / "settings.py").read_text()


def read_by_settings() -> set[str]:
    """Every environment variable settings.py reads: env.get("X"...), _int(env, "X"...),
    _flag(env, "X")."""
    return set(re.findall(r"""env(?:\.get\(|, )"([A-Z][A-Z0-9_]*)\"""", SETTINGS_SOURCE))


def table() -> dict[str, str]:
    """The settings table of DEPLOY.md: variable -> its default cell."""
    section = DEPLOY.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \| ([^|]*) \|", section, re.MULTILINE)
    return {name: default.strip() for name, default in rows}


def test_the_finders_find_what_they_look_for():
    assert {"DATABASE_URL", "RETENTION_DAYS", "ACCESS_LOG", "SECRET_KEY"} <= read_by_settings()
    assert {"DATABASE_URL", "FORWARDED_ALLOW_IPS"} <= set(table())


def test_every_setting_read_is_in_the_table():
    missing = read_by_settings() - set(table())
    assert not missing, f"docs/DEPLOY.md's settings table lacks {sorted(missing)}"


def test_every_setting_in_the_table_is_read():
    unknown = set(table()) - read_by_settings()
    assert not unknown, f"docs/DEPLOY.md documents settings nobody reads: {sorted(unknown)}"


def literal_defaults() -> list[tuple[str, str]]:
    """(variable, value) for each default written as one literal value, `like this`, of
    a setting settings.py reads."""
    found = []
    for name, default in table().items():
        match = re.fullmatch(r"`([^`]*)`", default)
        if match and name in read_by_settings():
            found.append((name, match.group(1)))
    return found


@pytest.mark.parametrize("name, value", literal_defaults())
def test_a_documented_default_is_the_real_one(name, value, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .env file
    assert Settings.from_env({name: value}) == Settings.from_env({})


def test_a_default_that_is_not_the_real_one_would_be_told(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({"RETENTION_DAYS": "395"}) != Settings.from_env({})
    assert len(literal_defaults()) >= 12


def test_every_command_shown_in_a_code_block_exists():
    code = "\n".join(re.findall(r"^```\w*\n(.*?)^```", DEPLOY, re.MULTILINE | re.DOTALL))
    commands = set(re.findall(r"clerk-collector ([a-z][a-z-]+)", code))
    choices = set(parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert {"serve", "migrate", "backup", "purge"} <= commands
    assert commands <= choices, sorted(commands - choices)
