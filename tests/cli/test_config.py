from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.factories import write_config
from vigie.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]


def run_vigie(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from vigie.cli import main; main()", *args], capture_output=True, text=True, env=env, timeout=60)


def test_shipped_config_is_valid() -> None:
    config = load_config(REPO / "config")
    assert config.sources, "the shipped sources.yaml watches real sources"
    assert {s.platform for s in config.sources} >= {"feed"}
    assert config.settings.store.backend == "sqlite"


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    write_config(folder)
    (folder / "sources.yaml").write_text(
        "sources:\n  - id: ok\n    platform: feed\n    url: https://example.org/feed\n  - id: tg\n    platform: telegram\n    chanel: foo\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(folder)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{folder / 'sources.yaml'}:7: sources[1].chanel: unknown key")
    assert "channel" in message


def test_malformed_yaml_gives_line_and_column(tmp_path: Path) -> None:
    folder = write_config(tmp_path / "cfg")
    (folder / "sources.yaml").write_text("sources:\n  - id: a\n    platform: feed\n    url: [https://x.org\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources\.yaml:\d+:\d+: invalid YAML"):
        load_config(folder)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"store": {"backend": "mysql"}}, "vigie.yaml:2: store.backend: Input should be 'sqlite', 'elasticsearch' or 'opensearch'"),
        ({"crawl": {"run_timeout": "soon"}}, "vigie.yaml:2: crawl.run_timeout: expected a duration"),
        ({"dashboard": {"prot": 80}}, "vigie.yaml:2: dashboard.prot: unknown key"),
        ({"alerts": {"candidates": {"current": "6h"}}}, "vigie.yaml:3: alerts.candidates.current: expected between 24h and 72h"),
        ({"dashboard": {"timezone": "x" * 300}}, "vigie.yaml:2: dashboard.timezone: unknown time zone 'xxx"),  # too long a file name for the zone database (found by the fuzz tests)
    ],
)
def test_settings_errors(tmp_path: Path, settings: dict, expected: str) -> None:
    folder = write_config(tmp_path / "cfg", settings=settings)
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.").replace("(", r"\(")):
        load_config(folder)


def test_source_rules(tmp_path: Path) -> None:
    both = [{"id": "m", "platform": "mastodon", "instance": "https://x.social", "hashtag": "a", "account": "b"}]
    with pytest.raises(ConfigError, match=r"sources\[0\]: give exactly one of hashtag or account"):
        load_config(write_config(tmp_path / "a", sources=both))
    dup = [{"id": "x", "platform": "feed", "url": "https://a.org/f"}, {"id": "x", "platform": "feed", "url": "https://b.org/f"}]
    with pytest.raises(ConfigError, match="duplicate source id 'x'"):
        load_config(write_config(tmp_path / "b", sources=dup))


def test_environment_overrides_and_durations(tmp_path: Path) -> None:
    folder = write_config(tmp_path / "cfg", sources=[{"id": "f", "platform": "feed", "url": "https://a.org/f", "every": "15m"}])
    env = {"VIGIE_STORE__BATCH_SIZE": "50", "VIGIE_DASHBOARD__PORT": "9000", "VIGIE_ES_URL": "http://127.0.0.1:9200"}
    config = load_config(folder, tmp_path / "data", environ=env)
    assert config.settings.store.batch_size == 50
    assert config.settings.dashboard.port == 9000
    assert config.settings.store.elasticsearch.url == "http://127.0.0.1:9200"
    assert config.sources[0].every == timedelta(minutes=15)
    assert config.sqlite_path == tmp_path / "data" / "vigie.db"


def test_cli_exits_2_with_one_line(tmp_path: Path) -> None:
    folder = write_config(tmp_path / "cfg", sources=[{"id": "f", "platform": "feed", "url": "ftp://nope"}])
    result = run_vigie("--config", str(folder), "check")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "sources.yaml:4: sources[0].url:" in lines[0]


@pytest.mark.parametrize(
    ("rules", "error"),
    [
        ("rules:\n  - id: r\n    kind: spike\n    min_cont: 3\n", "alerts.yaml:4: rules[0].min_cont: unknown key (and 1 more problem)"),
        ("rules:\n  - id: r\n    kind: spik\n", "alerts.yaml:2: rules[0]: unknown kind 'spik' (expected one of: spike, emerging, source_silent)"),
    ],
    ids=["unknown key", "unknown kind of a tagged union"],
)
def test_check_validates_alert_rules(tmp_path: Path, rules: str, error: str) -> None:
    folder = write_config(tmp_path / "cfg")
    (folder / "alerts.yaml").write_text(rules, encoding="utf-8")
    result = run_vigie("--config", str(folder), "check")
    assert result.returncode == 2
    assert result.stderr.strip().endswith(error)


def test_check_accepts_the_shipped_config() -> None:
    result = run_vigie("--config", str(REPO / "config"), "check")
    assert result.returncode == 0, result.stderr
    assert "ok (" in result.stdout



# Found by the fuzz tests (tests/fuzz/test_config.py): each was another exception than a ConfigError line.


def test_yaml_nested_too_deeply_is_one_line(tmp_path: Path) -> None:
    folder = write_config(tmp_path / "cfg")
    (folder / "vigie.yaml").write_text("store: " + "[" * 1000 + "]" * 1000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"vigie\.yaml: invalid YAML: nested too deeply$"):
        load_config(folder)


@pytest.mark.parametrize("every", [2**70, -(2**70), "99999999999w", ".nan"])
def test_a_duration_out_of_range_is_one_line(tmp_path: Path, every: object) -> None:
    folder = write_config(tmp_path / "cfg", sources=[{"id": "f", "platform": "feed", "url": "https://example.org/feed", "every": every}])
    if every == ".nan":  # YAML's NaN
        (folder / "sources.yaml").write_text((folder / "sources.yaml").read_text().replace("'.nan'", ".nan"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources\.yaml:\d+: sources\[0\]\.every: "):
        load_config(folder)


def test_an_environment_value_that_is_not_yaml_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^environment VIGIE_STORE__BATCH_SIZE: not a YAML value: "):
        load_config(write_config(tmp_path / "cfg"), environ={"VIGIE_STORE__BATCH_SIZE": "1\x1f"})


def test_a_key_holding_a_line_break_is_shown_escaped_on_one_line(tmp_path: Path) -> None:
    folder = write_config(tmp_path / "cfg")
    (folder / "vigie.yaml").write_text('"\\n": null\nstore: {"a\\tb": 1}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(folder)
    assert str(caught.value) == f"{folder / 'vigie.yaml'}:2: store.a\\tb: unknown key (and 1 more problem)"
