"""Every page of the dashboard run by Streamlit's AppTest on a seeded SQLite store."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from dashboard import download, queries
from store.base import PostQuery
from alerts.rules import load_alerts, search_rules, subscriptions
from alerts.trends import TrendCache
from tests.dashboard.conftest import APP, HOSTILE_TEXT, Seeded, code_shown, seed_candidate
from enrich.watchlists import load_watchlist
from vigie.config import load_config

PAGES = {
    "views/overview.py": "Overview",
    "views/narrative.py": "Narrative",
    "views/search.py": "Search",
    "views/alerts.py": "Alerts",
    "views/candidates.py": "Candidates",
    "views/sources.py": "Sources",
    "views/subscriptions.py": "Subscriptions",
}
_UNESCAPED_SPECIAL = re.compile(r"(?<!\\)[<>\[\]()*_`!&#:$|~]")


def _open(app: AppTest, page: str) -> AppTest:
    app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def _markdown(app: AppTest) -> str:
    return "\n".join(m.value for m in app.markdown)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(app: AppTest, page: str) -> None:
    _open(app, page)
    assert [t.value for t in app.title] == [PAGES[page]]
    assert not app.error
    shown = [element.value for element in (*app.markdown, *app.caption, *app.text, *app.info, *app.warning)]
    assert not code_shown("\n".join(shown)), "the page shows text from the code (Streamlit magic writes out a bare string)"


def test_overview_period_changes_the_counts(app: AppTest) -> None:
    week = app.metric[0].value
    app.selectbox(key="overview-period").set_value("Last 24 hours").run()
    day = app.metric[0].value
    assert int(week.replace(",", "")) > int(day.replace(",", "")) >= 31
    assert app.metric[1].value == "1"  # open alerts
    assert app.metric[2].value == "2 of 3"  # the failed feed and the source never crawled
    trending = app.dataframe[0].value
    assert list(trending["narrative"])[:2] == ["▲ quantum_healing", "miracle_healing"]
    assert "quantum\\_healing" in _markdown(app)  # the open alert, escaped


CLOCKS = {
    # The seed's "now" (UTC; the dashboard's zone is Europe/Paris): its surge is 1 to 5½ hours old, so where it
    # falls against the day's boundaries, and how much of the current day has passed, depend on the time of day.
    "local-midnight": datetime(2026, 12, 5, 23, 20, tzinfo=UTC),  # 00:20 in Paris
    "utc-midnight": datetime(2026, 12, 6, 0, 20, tzinfo=UTC),  # the whole surge in yesterday's UTC day
    "surge-across-midnight": datetime(2026, 12, 6, 2, 20, tzinfo=UTC),
    "early-morning": datetime(2026, 12, 6, 4, 5, tzinfo=UTC),  # most of the surge in a day 4 hours old
    "midday": datetime(2026, 12, 6, 12, 20, tzinfo=UTC),
    "late-evening": datetime(2026, 12, 6, 21, 50, tzinfo=UTC),  # 22:50 in Paris
}
at_times_of_day = pytest.mark.parametrize("clock", list(CLOCKS.values()), ids=list(CLOCKS), indirect=True)


@at_times_of_day
def test_narrative_picker_and_period_change_the_view(app: AppTest, seeded: Seeded) -> None:
    _open(app, "views/narrative.py")
    app.selectbox(key="value").set_value("miracle_healing").run()
    week = int(app.caption[0].value.split()[0])
    app.selectbox(key="narrative-period").set_value("Last 30 days").run()
    caption = app.caption[0].value
    assert caption.startswith("191 posts") and 31 < week < 191
    assert int(caption.split(" · ")[1].split()[0]) >= 1  # the surge of the last hours is flagged
    clusters = next(frame.value for frame in app.dataframe if "cluster" in frame.value.columns)
    row = clusters.iloc[0]
    assert (row["cluster"], row["posts"], row["sources"]) == ("copy-1", 8, 2)
    with seeded.store() as store:
        (first,) = store.search(PostQuery(cluster_id="copy-1", narratives=("miracle_healing",), sort="oldest", limit=1)).posts
    assert (row["first post"], row["first seen in"]) == (first.id, first.source_id)
    app.selectbox(key="narrative-period").set_value("Last 24 hours").run()
    assert app.caption[0].value.startswith("31 posts")
    app.selectbox(key="value").set_value("quantum_healing").run()
    assert app.caption[0].value.startswith("30 posts · 1 spike(s)")  # hourly: the spike alert raised on it
    app.selectbox(key="kind").set_value("hashtag").run()
    app.selectbox(key="value").set_value("quantique").run()
    assert app.caption[0].value.startswith("30 posts")
    tables = {frame.value.columns[0]: list(frame.value.iloc[:, 0]) for frame in app.dataframe}
    assert tables["source"] == ["tg-healing"]
    assert set(tables["narrative"]) == {"quantum_healing", "miracle_healing"}


@at_times_of_day
def test_daily_timeline_marks_the_day_of_the_surge(seeded: Seeded) -> None:
    until = seeded.now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)  # the dashboard's "now"
    since = until - timedelta(days=30)
    first_surge_post = seeded.now - timedelta(hours=5, minutes=29)
    with seeded.store() as store:
        view = queries.subject(store, f"surge-{seeded.db_path}", "narrative", "miracle_healing", since, until)
        assert view.total == store.count_posts(queries.subject_query("narrative", "miracle_healing", since, until)) == 191
    days = [bucket.start for bucket in view.timeline]
    assert all(day.hour == day.minute == 0 for day in days) and days[0] <= since < days[0] + timedelta(days=1)
    assert days[-1] <= seeded.now < days[-1] + timedelta(days=1)  # today, counted so far
    surge_days = [day for day in view.spikes if day + timedelta(days=1) > first_surge_post]
    assert surge_days, (view.spikes, [(b.start.date(), b.posts) for b in view.timeline[-3:]])
    assert all(view.timeline[days.index(day)].posts > 0 for day in view.spikes)


def test_narrative_deep_link_from_query_parameters(seeded: Seeded) -> None:
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    at.switch_page("views/narrative.py")
    at.query_params["kind"] = "narrative"
    at.query_params["value"] = "anti_vaccine"
    at.session_state["narrative-period"] = "Last 30 days"
    at.run()
    assert not at.exception
    assert at.selectbox(key="value").value == "anti_vaccine"
    assert at.caption[0].value.startswith("80 posts")


def _matching(app: AppTest) -> int:
    line = next(m.value for m in app.markdown if m.value.endswith("matching post(s)**"))
    return int(line.strip("*").split()[0].replace(",", ""))


def test_search_filters_change_the_results(app: AppTest) -> None:
    _open(app, "views/search.py")
    everything = _matching(app)
    assert everything == 271
    app.text_input(key="search-text").input("quantique").run()
    assert _matching(app) == 30
    assert ":orange-background[Guérison quantique]" in _markdown(app)
    app.text_input(key="search-text").input("").run()
    app.multiselect(key="search-platforms").set_value(["mastodon"]).run()
    mastodon = _matching(app)
    assert 0 < mastodon < everything
    app.multiselect(key="search-languages").set_value(["en"]).run()
    assert 0 < _matching(app) < mastodon
    app.multiselect(key="search-platforms").set_value([]).run()
    app.multiselect(key="search-languages").set_value([]).run()
    app.multiselect(key="search-narratives").set_value(["anti_vaccine"]).run()
    assert _matching(app) == 80
    app.multiselect(key="search-narratives").set_value([]).run()
    app.multiselect(key="search-tags").set_value(["sante"]).run()
    assert _matching(app) == 120
    app.multiselect(key="search-tags").set_value([]).run()
    app.text_input(key="search-authors").input("author3, @author6").run()
    assert _matching(app) == 27 + 26
    assert "Searching" in app.caption[0].value and "tg\\-healing" in app.caption[0].value


def test_search_pages_through_results(app: AppTest) -> None:
    _open(app, "views/search.py")
    first = [m.value for m in app.markdown if m.value.startswith("**telegram**") or m.value.startswith("**mastodon**")]
    app.get("pagination")[0].set_value(2).run()
    second = [m.value for m in app.markdown if m.value.startswith("**telegram**") or m.value.startswith("**mastodon**")]
    assert len(first) == len(second) == 20 and first != second


def test_hostile_post_is_shown_as_inert_text(app: AppTest) -> None:
    _open(app, "views/search.py")
    app.text_input(key="search-text").input("onerror").run()
    assert _matching(app) == 1
    shown = [m for m in app.markdown if "onerror" in m.value]
    assert shown, _markdown(app)
    for element in app.markdown:
        assert element.allow_html is False
    body = shown[0].value
    plain = re.sub(r":orange-background\[(.*?)\]", r"\1", body)
    assert _UNESCAPED_SPECIAL.findall(plain.replace(":orange-background[", "")) == []
    assert re.sub(r"\\(.)", r"\1", plain) == HOSTILE_TEXT
    header = next(m.value for m in app.markdown if "Evil" in m.value)
    assert "\\*\\*Evil\\*\\* \\[x\\]\\(javascript\\:alert\\(3\\)\\)" in header
    assert all(link.proto.url.startswith("https://") for link in app.get("link_button") if "original" in link.proto.label)
    assert not any("javascript" in link.proto.url for link in app.get("link_button"))


def test_export_links_carry_the_whole_query(app: AppTest) -> None:
    _open(app, "views/search.py")
    app.text_input(key="search-text").input("miracle").run()
    app.multiselect(key="search-platforms").set_value(["telegram"]).run()
    links = {link.proto.label: link.proto.url for link in app.get("link_button")}
    query, fmt = download.read_link(links["CSV"].partition("token=")[2])
    assert fmt == "csv" and query.text == "miracle" and query.platforms == ("telegram",)
    assert query.limit == PostQuery().limit and query.offset == 0
    assert download.read_link(links["JSON Lines"].partition("token=")[2])[1] == "jsonl"


def test_saving_a_search_and_subscribing_in_one_click(app: AppTest, seeded: Seeded) -> None:
    _open(app, "views/search.py")
    app.text_input(key="search-text").input("quantique").run()
    app.text_input(key="save-name").input("Bad address")
    app.text_input(key="save-email").input("carol@")
    app.button(key="save-search-button").click().run()
    assert "is not an email address" in app.error[0].value
    with seeded.store() as store:
        assert store.list_searches() == []
    for _ in range(2):  # clicking again changes nothing: one subscription, one rule
        app.text_input(key="save-name").input("Quantum healing watch")
        app.text_input(key="save-email").input("bob@example.org")
        app.radio(key="save-mode").set_value("digest")
        app.button(key="save-search-button").click().run()
        assert not app.exception and not app.error, [e.value for e in app.error]
    assert not app.code, "nothing to paste into alerts.yaml"
    assert "a spike rule with the default settings watches the search" in app.success[0].value
    with seeded.store() as store:
        saved = {s.id: s for s in store.list_searches()}
        stored = store.list_subscriptions()
    subscribers = {s.email: s for s in stored}
    assert saved["quantum-healing-watch"].query["text"] == "quantique"
    assert "since" not in saved["quantum-healing-watch"].query
    assert [s.email for s in stored].count("bob@example.org") == 1
    assert subscribers["bob@example.org"].mode == "digest"
    assert subscribers["bob@example.org"].rules == ["search-quantum-healing-watch"]
    alerts_file = load_alerts(load_config())
    watched = search_rules(alerts_file.rules, saved.values(), subscriptions(alerts_file.subscriptions, stored))
    assert [(rule.id, rule.watch.search, rule.label) for rule in watched] == [("search-quantum-healing-watch", "quantum-healing-watch", "Quantum healing watch")]
    app.text_input(key="search-text").input("").run()
    app.button(key="load-quantum-healing-watch").click().run()
    assert app.text_input(key="search-text").value == "quantique" and _matching(app) == 30
    _open(app, "views/subscriptions.py")
    app.selectbox(key="subscription-choice").set_value("bob-example-org").run()
    assert app.multiselect(key="rules-bob-example-org").value == ["search-quantum-healing-watch"]
    _open(app, "views/search.py")
    app.button(key="forget-quantum-healing-watch").click().run()
    with seeded.store() as store:
        assert store.list_searches() == []


def test_subscribing_an_all_alerts_address_to_a_search_keeps_one_subscription(app: AppTest, seeded: Seeded) -> None:
    _open(app, "views/search.py")
    app.text_input(key="search-text").input("quantique").run()
    app.text_input(key="save-name").input("Quantum")
    app.text_input(key="save-email").input("ana@example.org")
    app.radio(key="save-mode").set_value("digest")
    app.button(key="save-search-button").click().run()
    assert not app.exception and not app.error
    with seeded.store() as store:
        [ana] = [s for s in store.list_subscriptions() if s.email == "ana@example.org"]
    assert (ana.id, ana.rules) == ("ana", ["*", "search-quantum"]), "still every alert, once, and the search is watched"


def test_alert_link_opens_that_alert(seeded: Seeded) -> None:
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    at.switch_page("views/alerts.py")
    at.query_params["alert"] = "emerging:sante:1"  # resolved: not in the default (open) list
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [h.value for h in at.subheader][:2] == ["Linked alert (resolved)", "Open alerts"]
    assert at.expander[0].proto.expanded and "sante" in at.expander[0].label
    assert not at.expander[1].proto.expanded, "the linked alert is the one opened"
    comments = lambda: [area.key for area in at.text_area]  # noqa: E731
    assert comments() == ["comment-emerging:sante:1"], "a closed alert's evidence and form are drawn when it is opened"
    at.session_state["alert-open-spike:quantum_healing:1"] = True  # what opening it in the browser sets
    at.run()
    assert comments() == ["comment-emerging:sante:1", "comment-spike:quantum_healing:1"]
    at.button(key="reopened-emerging:sante:1").click().run()
    with seeded.store() as store:
        assert store.get_alert("emerging:sante:1").state == "open"
    at.query_params["alert"] = "no-such-alert"
    at.run()
    assert not at.exception and "No alert no\\-such\\-alert in the store" in at.warning[0].value


def test_acknowledging_an_alert_persists(app: AppTest, seeded: Seeded) -> None:
    _open(app, "views/alerts.py")
    alert_id = "spike:quantum_healing:1"
    app.text_area(key=f"comment-{alert_id}").input("Checked: a coordinated push, watching it")
    app.button(key=f"acknowledged-{alert_id}").click().run()
    assert not app.exception
    with seeded.store() as store:
        stored = store.get_alert(alert_id)
    assert stored is not None and stored.state == "acknowledged"
    assert stored.history[-1].action == "acknowledged"
    assert stored.history[-1].by == "analyst" and stored.history[-1].comment == "Checked: a coordinated push, watching it"
    assert "No open alert." in [i.value for i in app.info]
    app.segmented_control(key="alerts-state").set_value("acknowledged").run()
    assert any("Checked: a coordinated push" in str(frame.value.to_dict()) for frame in app.dataframe)
    app.button(key=f"resolved-{alert_id}").click().run()
    with seeded.store() as store:
        assert store.get_alert(alert_id).state == "resolved"


def test_comment_only_needs_a_comment(app: AppTest, seeded: Seeded) -> None:
    _open(app, "views/alerts.py")
    app.button(key="commented-spike:quantum_healing:1").click().run()
    assert [e.value for e in app.error] == ["write a comment first"]
    with seeded.store() as store:
        assert store.get_alert("spike:quantum_healing:1").history == []


def test_editing_a_subscription_persists(app: AppTest, seeded: Seeded) -> None:
    _open(app, "views/subscriptions.py")
    table = app.dataframe[0].value.set_index("id")
    assert table.loc["ana", "kept in"] == "dashboard" and table.loc["desk", "kept in"] == "alerts.yaml"
    app.selectbox(key="subscription-choice").set_value("ana").run()
    app.radio(key="mode-ana").set_value("immediate")
    app.text_input(key="email-ana").input("ana.b@example.org")
    app.multiselect(key="rules-ana").set_value(["spike-narratives", "emerging-terms"])
    app.button[0].click().run()
    assert not app.exception
    with seeded.store() as store:
        (ana,) = [s for s in store.list_subscriptions() if s.id == "ana"]
    assert (ana.mode, ana.email, ana.rules) == ("immediate", "ana.b@example.org", ["emerging-terms", "spike-narratives"])
    assert app.dataframe[0].value.set_index("id").loc["ana", "email"] == "ana.b@example.org"


def test_an_alerts_yaml_subscription_edited_here_is_kept_over_it(app: AppTest, seeded: Seeded) -> None:
    _open(app, "views/subscriptions.py")
    app.selectbox(key="subscription-choice").set_value("desk").run()
    assert app.multiselect(key="rules-desk").value == ["spike-narratives"]
    assert "Narrative spikes: spike in narrative *" in app.multiselect(key="rules-desk").options
    app.radio(key="mode-desk").set_value("immediate")
    app.button[0].click().run()
    with seeded.store() as store:
        assert [(s.id, s.mode) for s in store.list_subscriptions() if s.id == "desk"] == [("desk", "immediate")]
    assert app.dataframe[0].value.set_index("id").loc["desk", "kept in"] == "dashboard, over alerts.yaml"
    app.button(key="delete-desk").click().run()
    table = app.dataframe[0].value.set_index("id")
    assert (table.loc["desk", "kept in"], table.loc["desk", "delivery"]) == ("alerts.yaml", "digest")


def test_new_subscription_checks_the_address(app: AppTest, seeded: Seeded) -> None:
    _open(app, "views/subscriptions.py")
    app.text_input(key="email-__new__").input("not an address")
    app.button[0].click().run()
    assert "is not an email address" in app.error[0].value
    with seeded.store() as store:
        assert [s.id for s in store.list_subscriptions()] == ["ana"]
    app.text_input(key="email-__new__").input("carl@example.org")
    app.button[0].click().run()
    with seeded.store() as store:
        assert {s.email for s in store.list_subscriptions()} == {"ana@example.org", "carl@example.org"}
    assert app.selectbox(key="subscription-choice").value == "carl-example-org"
    app.button(key="delete-carl-example-org").click().run()
    with seeded.store() as store:
        assert [s.id for s in store.list_subscriptions()] == ["ana"]


def test_sources_page_shows_runs_errors_and_filters(app: AppTest) -> None:
    _open(app, "views/sources.py")
    table = app.dataframe[0].value.set_index("source")
    assert table.loc["feed-broken", "status"] == "failed"
    assert table.loc["feed-broken", "error"] == "HTTP 503 from broken.example"
    assert table.loc["tg-healing", "status"] == "ok" and table.loc["tg-healing", "posts/day"] > 0
    assert table.loc["masto-complot", "link"] == "https://mastodon.example/tags/complot"
    app.multiselect(key="sources-platforms").set_value(["feed"]).run()
    assert app.dataframe[0].value["source"].tolist() == ["feed-broken"]
    app.multiselect(key="sources-platforms").set_value([]).run()
    app.toggle(key="sources-problems").set_value(True).run()
    assert sorted(app.dataframe[0].value["source"]) == ["feed-broken", "masto-complot"]


EMPTY = {
    "views/overview.py": "No posts in this period.",
    "views/narrative.py": "Pick a narrative, a watchlist term or a hashtag",
    "views/search.py": "**0 matching post(s)**",
    "views/alerts.py": "No open alert.",
    "views/candidates.py": "No new candidate.",
    "views/sources.py": "No source is configured",
    "views/subscriptions.py": "Nobody receives alerts yet",
}


@pytest.mark.parametrize("page", PAGES)
def test_pages_work_on_a_fresh_install(tmp_path, monkeypatch: pytest.MonkeyPatch, page: str) -> None:
    """No source, no watchlist, no post, no run, no alert: every page says so instead of failing."""
    from tests.support.factories import write_config

    monkeypatch.setenv("VIGIE_CONFIG", str(write_config(tmp_path / "empty-config")))
    monkeypatch.setenv("VIGIE_DATA_DIR", str(tmp_path / "empty-data"))
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    _open(at, page)
    assert [t.value for t in at.title] == [PAGES[page]] and not at.error
    assert any(element.value.startswith(EMPTY[page]) for element in [*at.info, *at.markdown])


def test_a_store_failure_is_one_line_not_a_traceback(app: AppTest) -> None:
    app.session_state["vigie"].store.close()  # as when the store goes away under a running dashboard
    _open(app, "views/sources.py")
    assert app.error[0].value.startswith("The store did not answer:") and "the store is closed" in app.error[0].value


def test_overview_reads_the_alert_cycles_trend_series(app: AppTest, seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under `vigie up` the trends come from the cycle's cache file; they say what the store says."""
    from_store = [frame.value for frame in app.dataframe[:2]]
    config = load_config()
    path = config.data_dir / config.settings.alerts.trends_file
    with seeded.store() as store:
        trends = TrendCache(path)
        trends.refresh(store, seeded.now, keep_from=seeded.now - timedelta(days=17), lateness=timedelta(hours=3))
        trends.save()
    monkeypatch.setattr(queries, "_store_trend_counts", lambda *args: pytest.fail("counted from the store, not read from the trend cache"))
    queries.cache.forget()
    app.run()
    assert path.exists() and not app.exception
    from_cache = [frame.value for frame in app.dataframe[:2]]
    assert [frame.to_json() for frame in from_cache] == [frame.to_json() for frame in from_store]
    assert len(from_cache[0]) >= 2 and len(from_cache[1]) >= 1


def test_promoting_a_candidate_writes_a_watchlist_and_retags_history(app: AppTest, seeded: Seeded) -> None:
    seed_candidate(seeded)
    _open(app, "views/candidates.py")
    candidate_id = "cand-vouglans"
    assert "**barrage\\, vouglans\\, \\#verite\\_barrage** · 12 posts · ×60 · 3 sources" in " ".join(e.label for e in app.expander)
    app.text_input(key=f"id-{candidate_id}").input("barrage_vouglans")
    app.text_input(key=f"label-{candidate_id}").input("Vouglans dam cover-up")
    app.text_area(key=f"description-{candidate_id}").input("Claims the dam is about to break and the authorities hide it")
    app.text_area(key=f"terms-{candidate_id}").input("barrage de Vouglans\n#verite_barrage")
    app.button(key=f"promote-{candidate_id}").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    written = load_watchlist(seeded.config_dir / "watchlists" / "barrage_vouglans.yaml")
    [narrative] = written.narratives
    assert (narrative.label, narrative.terms, narrative.hashtags) == ("Vouglans dam cover-up", {"any": ["barrage de Vouglans"]}, ["#verite_barrage"])
    with seeded.store() as store:
        stored = store.get_candidate(candidate_id)
        tagged = store.search(PostQuery(narratives=("barrage_vouglans",), limit=100)).posts
    assert stored is not None and (stored.state, stored.narrative, stored.by) == ("promoted", "barrage_vouglans", "analyst")
    assert len(tagged) == 12 and all(m.watchlist == "barrage_vouglans" for p in tagged for m in p.matches if m.narrative == "barrage_vouglans")
    assert "No new candidate." in [i.value for i in app.info]
    app.segmented_control(key="candidates-state").set_value("promoted").run()
    assert len(app.expander) == 1


def test_dismissing_a_candidate_and_a_bad_id_is_refused(app: AppTest, seeded: Seeded) -> None:
    seed_candidate(seeded)
    _open(app, "views/candidates.py")
    candidate_id = "cand-vouglans"
    app.text_input(key=f"id-{candidate_id}").input("Not An Id!")
    app.button(key=f"promote-{candidate_id}").click().run()
    [error] = [e.value for e in app.error]
    assert error.startswith("narrative id \\'Not An Id\\!\\'") and "lower\\-case letters" in error
    assert not (seeded.config_dir / "watchlists" / "Not An Id!.yaml").exists()
    app.button(key=f"dismiss-{candidate_id}").click().run()
    with seeded.store() as store:
        stored = store.get_candidate(candidate_id)
    assert stored is not None and (stored.state, stored.dismissed_posts) == ("dismissed", 12)
    assert "No new candidate." in [i.value for i in app.info]


def test_narrative_page_shows_where_it_started(app: AppTest) -> None:
    _open(app, "views/narrative.py")
    assert any(c.value.startswith("first seen on") for c in app.caption), [c.value for c in app.caption]
    assert any("source" in frame.value.columns and "first post" in frame.value.columns for frame in app.dataframe)


def test_search_opens_when_an_odysee_source_has_no_tags(seeded: Seeded) -> None:
    """An Odysee source watching a channel has no `tags` (there they name a target, not labels): the Search page used
    to fail on it (found by bench/dashboard_load.py). A tags target still shows among the tags to filter on."""
    sources = yaml.safe_load((seeded.config_dir / "sources.yaml").read_text(encoding="utf-8"))["sources"]
    sources += [{"id": "odysee-channel", "platform": "odysee", "channel": "@healing"}, {"id": "odysee-tags", "platform": "odysee", "tags": ["remede"]}]
    (seeded.config_dir / "sources.yaml").write_text(yaml.safe_dump({"sources": sources}), encoding="utf-8")
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.run()
    _open(app, "views/search.py")
    assert "remede" in app.multiselect(key="search-tags").options


@pytest.mark.parametrize(("slow_page", "logged"), [("0s", ["Overview", "Narrative"]), ("1h", [])])
def test_a_page_slower_than_slow_page_is_logged_with_its_time(seeded: Seeded, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, slow_page: str, logged: list[str]) -> None:
    monkeypatch.setenv("VIGIE_DASHBOARD__SLOW_PAGE", slow_page)
    caplog.set_level(logging.WARNING, logger="vigie.dashboard")
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    _open(at, "views/narrative.py")
    lines = [record.getMessage() for record in caplog.records if record.name == "vigie.dashboard"]
    assert [re.fullmatch(r"dashboard page (\w+) took \d+\.\d\d s in the server \(dashboard.slow_page \d+ s\)", line)[1] for line in lines] == logged
