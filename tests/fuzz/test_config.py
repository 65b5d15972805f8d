"""The config loader on generated YAML: the shipped files spoiled (values dropped or retyped, text cut or garbled),
arbitrary YAML documents, and environment overrides. A mistake is one ConfigError line naming the file, never
another exception."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from alerts.rules import load_alerts
from tests.fuzz.mutations import mutated_bytes, mutated_json
from vigie.config import ConfigError, load_config

SHIPPED = Path(__file__).resolve().parents[2] / "config"
FILES = ("vigie.yaml", "sources.yaml", "alerts.yaml")
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
YAML_VALUES = st.recursive(SCALARS, lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4), max_leaves=25)
ENV_KEYS = st.sampled_from(["VIGIE_STORE__BATCH_SIZE", "VIGIE_CRAWL__TIMEOUT", "VIGIE_SCHEDULE__JITTER", "VIGIE_LOG__LEVEL", "VIGIE_DASHBOARD__PORT", "VIGIE_STORE", "VIGIE_ALERTS__CHECK_EVERY", "VIGIE_CRAWL", "VIGIE_X__Y__Z"])


def shipped(name: str) -> bytes:
    return (SHIPPED / name).read_bytes()


def as_json(name: str) -> bytes:
    """The shipped YAML file as JSON (which YAML reads too), for the value mutations."""
    return json.dumps(yaml.safe_load(shipped(name))).encode()


def load_everything(folder: Path, environ: dict[str, str] | None = None) -> None:
    """What `vigie check` loads; a ConfigError must be one line naming a file or the environment."""
    try:
        load_alerts(load_config(folder, folder.parent / "data", environ=environ or {}))
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message, message
        assert message.startswith((str(folder), "environment ")), message


def folder_with(tmp_path_factory: pytest.TempPathFactory, **files: bytes) -> Path:
    folder = tmp_path_factory.mktemp("config")
    for name in FILES:
        (folder / name).write_bytes(files.get(name.replace(".yaml", ""), shipped(name)))
    (folder / "watchlists").mkdir()
    return folder


@pytest.mark.parametrize("name", FILES)
@given(data=st.data())
def test_a_shipped_file_with_spoiled_values(tmp_path_factory: pytest.TempPathFactory, name: str, data: st.DataObject) -> None:
    spoiled = data.draw(mutated_json(as_json(name), deep=100, huge=20_000))  # PyYAML's scanner is quadratic in nesting: deeper is a regression test (tests/cli/test_config.py)
    load_everything(folder_with(tmp_path_factory, **{name.replace(".yaml", ""): spoiled}))


@pytest.mark.parametrize("name", FILES)
@given(data=st.data())
def test_a_shipped_file_cut_or_garbled(tmp_path_factory: pytest.TempPathFactory, name: str, data: st.DataObject) -> None:
    load_everything(folder_with(tmp_path_factory, **{name.replace(".yaml", ""): data.draw(mutated_bytes(shipped(name)))}))


@pytest.mark.parametrize("name", FILES)
@given(document=YAML_VALUES)
def test_any_yaml_document(tmp_path_factory: pytest.TempPathFactory, name: str, document: Any) -> None:
    load_everything(folder_with(tmp_path_factory, **{name.replace(".yaml", ""): yaml.safe_dump(document, allow_unicode=True).encode()}))


@given(environ=st.dictionaries(ENV_KEYS, st.text(max_size=30), max_size=3))
def test_environment_overrides(tmp_path_factory: pytest.TempPathFactory, environ: dict[str, str]) -> None:
    load_everything(folder_with(tmp_path_factory), environ)
