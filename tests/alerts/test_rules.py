"""`config/alerts.yaml`: the shipped file, mistakes reported in one line, subscriptions merged with the dashboard's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from alerts.digest import digest_period
from alerts.rules import AlertsFile, EmergingRule, SourceSilentRule, SpikeRule, SubscriptionEntry, load_alerts, search_rules, subscribers, subscriptions
from tests.support.factories import write_config
from vigie.config import ConfigError, load_config, validate_file
from vigie.models import SavedSearch, Subscription

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "alerts.yaml"


def load(tmp_path: Path, text: str, sources: list[dict] | None = None) -> AlertsFile:
    folder = write_config(tmp_path / "config", sources=sources)
    (folder / "alerts.yaml").write_text(text, encoding="utf-8")
    return load_alerts(load_config(folder, tmp_path / "data", environ={}))


def test_shipped_rules_alert_on_a_fresh_install() -> None:
    shipped = validate_file(SHIPPED, AlertsFile)
    spike = next(r for r in shipped.rules if isinstance(r, SpikeRule))
    assert (spike.watch.subject_type, spike.watch.subject, spike.enabled) == ("narrative", "*", True)
    assert any(isinstance(r, EmergingRule) and r.enabled for r in shipped.rules)
    assert any(isinstance(r, SourceSilentRule) and r.sources == ["*"] for r in shipped.rules)
    assert [s.mode for s in shipped.subscriptions] == ["immediate"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules:\n  - id: a\n    kind: spike\n    watch: {narrative: x}\n    min_cont: 3\n", r"alerts.yaml:\d+: rules\[0\]\..*min_cont: unknown key"),
        ("rules:\n  - id: a\n    kind: spike\n    watch: {narrative: x, hashtag: y}\n", "give exactly one of narrative, term, hashtag, search or query"),
        ("rules:\n  - id: a\n    kind: spike\n    watch: {query: {text: cure, since: 2024-01-01}}\n", "since cannot be set here"),
        ("rules:\n  - id: a\n    kind: surge\n", "alerts.yaml:2: rules\\[0\\]"),
        ("rules:\n  - {id: a, kind: emerging}\n  - {id: a, kind: emerging}\n", "duplicate rule id 'a'"),
        ("rules:\n  - {id: a, kind: emerging}\nsubscriptions:\n  - {email: x@example.org, rules: [b]}\n", "unknown rule 'b'"),
        ("subscriptions:\n  - {email: not-an-address}\n", r"subscriptions\[0\]\.email"),
        ("rules:\n  - {id: a, kind: spike, watch: {narrative: x}, sensitivity: extreme}\n", "sensitivity"),
        ("rules:\n  - {id: a, kind: source_silent, sources: [nope]}\n", "rule a: unknown source 'nope'"),
        ("rules: [\n", "invalid YAML"),
    ],
)
def test_mistakes_are_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load(tmp_path, text)
    assert "\n" not in str(caught.value) and "alerts.yaml" in str(caught.value)


def test_hashtags_are_written_either_way(tmp_path: Path) -> None:
    rules = load(tmp_path, "rules:\n  - {id: a, kind: spike, watch: {hashtag: '#Guerison'}}\n  - {id: b, kind: emerging, ignore: ['#Covid']}\n").rules
    assert rules[0].watch.subject == "guerison" and rules[1].ignore == ["covid"]  # type: ignore[union-attr]


def test_sensitivity_sets_the_thresholds(tmp_path: Path) -> None:
    text = yaml.safe_dump({"rules": [{"id": s, "kind": "spike", "watch": {"narrative": "*"}, "sensitivity": s} for s in ("low", "medium", "high")]})
    low, medium, high = (rule.params() for rule in load(tmp_path, text).rules)  # type: ignore[union-attr]
    assert low.p_value < medium.p_value < high.p_value
    assert low.author_p_value < medium.author_p_value < high.author_p_value


def test_daily_rules_test_one_day_at_a_time(tmp_path: Path) -> None:
    [rule] = load(tmp_path, "rules:\n  - {id: a, kind: spike, watch: {narrative: '*'}, interval: day, window: 28d}\n").rules
    assert rule.params().spans == (1,) and rule.step.days == 1  # type: ignore[union-attr]


def test_stored_subscription_wins_over_the_file() -> None:
    configured = [SubscriptionEntry(id="alice", email="alice@example.org"), SubscriptionEntry(email="bob@example.org", rules=["spikes"])]
    stored = [Subscription(id="alice", email="alice@example.org", mode="digest"), Subscription(id="carol", email="carol@example.org")]
    merged = {s.id: s for s in subscriptions(configured, stored)}
    assert set(merged) == {"alice", "bob@example.org:immediate", "carol"}
    assert merged["alice"].mode == "digest"
    assert [s.email for s in subscribers("spikes", merged.values(), "immediate")] == ["bob@example.org", "carol@example.org"]
    assert [s.email for s in subscribers("emerging", merged.values(), "immediate")] == ["carol@example.org"]


def test_subscribed_saved_searches_get_the_shipped_spike_rule() -> None:
    shipped = validate_file(SHIPPED, AlertsFile)
    searches = [SavedSearch(id=name, name=name.title(), query={"text": name}) for name in ("cure", "quiet", "ruled")]
    ruled = SpikeRule(id="mine", kind="spike", watch={"search": "ruled"}, sensitivity="high", enabled=False)
    subscribed = [Subscription(id="bob", email="bob@example.org", rules=["search-cure", "search-ruled"]), Subscription(id="all", email="all@example.org")]
    [rule] = search_rules([*shipped.rules, ruled], searches, subscribed)
    assert (rule.id, rule.label, rule.watch.search, rule.enabled) == ("search-cure", "Cure", "cure", True)
    narratives = next(r for r in shipped.rules if isinstance(r, SpikeRule))
    settings = {"id", "name", "watch"}
    assert rule.model_dump(exclude=settings) == narratives.model_dump(exclude=settings)


def test_alerts_yaml_subscriptions_may_name_a_saved_search(tmp_path: Path) -> None:
    alerts = load(tmp_path, "subscriptions:\n  - email: bob@example.org\n    rules: [search-cure]\n")
    assert alerts.subscriptions[0].rules == ["search-cure"]


def test_no_alerts_file_means_no_rules(tmp_path: Path) -> None:
    folder = write_config(tmp_path / "config")
    assert load_alerts(load_config(folder, tmp_path / "data", environ={})) == AlertsFile()


def test_digest_covers_the_local_day_even_across_a_clock_change() -> None:
    start, end = digest_period(datetime(2024, 3, 31, 7, 30, tzinfo=UTC), "08:00", "Europe/Paris")
    assert (start, end) == (datetime(2024, 3, 30, 7, tzinfo=UTC), datetime(2024, 3, 31, 6, tzinfo=UTC))
    assert end - start == (datetime(2024, 3, 31, 6) - datetime(2024, 3, 30, 7)), "23 hours: the night clocks went forward"
    before = digest_period(datetime(2024, 5, 17, 5, 59, tzinfo=UTC), "08:00", "Europe/Paris")
    assert before == (datetime(2024, 5, 15, 6, tzinfo=UTC), datetime(2024, 5, 16, 6, tzinfo=UTC)), "before 08:00 local, yesterday's digest is the latest"
