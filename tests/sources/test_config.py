"""Source definitions: each kind has its own keys, and a key of another kind is refused saying so."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from etl.errors import ConfigError
from etl.sources.config import FolderSource, HttpSource, load_sources

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refusal(config: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_sources(config)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_a_folder_key_on_an_http_source_is_refused(tmp_path: Path) -> None:
    config = write(
        tmp_path, '[sources.tass_daily]\nkind = "http"\nurl = "https://x/{date:%Y-%m-%d}"\npattern = "*.gz"\n'
    )
    assert refusal(config) == (
        f"{config}: [sources.tass_daily]: 'pattern' is a folder-source key; this source has kind = \"http\""
    )


def test_an_http_key_on_a_folder_source_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path, '[sources.inbox]\nkind = "folder"\npath = "/srv/in"\nurl = "https://x/"\n')
    assert refusal(config) == (
        f"{config}: [sources.inbox]: 'url' is an http-source key; this source has kind = \"folder\""
    )


@pytest.mark.parametrize("kind", ['"ftp"', '"HTTP"', "3"])
def test_an_unknown_kind_is_refused(tmp_path: Path, kind: str) -> None:
    message = refusal(write(tmp_path, f'[sources.bad]\nkind = {kind}\npath = "/srv/in"\n'))
    assert re.search(r"sources\.bad\.kind must be one of http, folder, got ", message)


def test_a_missing_kind_is_refused(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, '[sources.bad]\npath = "/srv/in"\n'))
    assert message.endswith('sources.bad.kind is required ("http" or "folder")')


def test_an_unknown_key_suggests_the_close_one_of_its_kind(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, '[sources.inbox]\nkind = "folder"\npath = "/srv"\nrecursve = true\n'))
    assert "unknown key sources.inbox.recursve (did you mean recursive?); known keys: " in message
    known = message.split("known keys: ")[1].split(", ")
    assert "pattern" in known and "kind" in known and "url" not in known


def test_a_wrong_type_names_the_key_and_both_types(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, '[sources.inbox]\nkind = "folder"\npath = "/srv"\nrecursive = "yes"\n'))
    assert message.endswith("sources.inbox.recursive must be bool, got str")
    message = refusal(write(tmp_path, '[sources.w]\nkind = "http"\nurl = "https://x/"\nretries = true\n'))
    assert message.endswith("sources.w.retries must be int, got bool")


def test_every_shipped_and_documented_source_loads_as_its_kind(tmp_path: Path) -> None:
    shipped = load_sources(REPO / "config" / "sources.toml")
    assert isinstance(shipped["samples"], FolderSource) and shipped["samples"].recursive
    # config/sources.toml with its commented-out examples switched on, and README's example block.
    with_examples = re.sub(
        r"^# (?=\[sources\.|\w+ = )",
        "",
        (REPO / "config" / "sources.toml").read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    documented = readme.split("### Sources: HTTP endpoints and landing folders")[1]
    documented = documented.split("```toml\n")[1].split("```")[0]
    for i, text in enumerate((with_examples, documented)):
        (tmp_path / str(i)).mkdir()
        loaded = load_sources(write(tmp_path / str(i), text))
        assert isinstance(loaded["tass_daily"], HttpSource)
        assert isinstance(loaded["inbox"], FolderSource) and loaded["inbox"].pattern == "*.txt"
        tass = loaded["tass_daily"]
        assert tass.url_for(date(2024, 3, 4)) == "https://example.org/dumps/tass-2024-03-04.jsonl.gz"
        assert (tass.timezone, tass.retries) == ("Europe/Moscow", 5)
