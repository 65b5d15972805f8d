"""Overview: what surged overnight: volume by platform, trending narratives and hashtags, open alerts, crawl health."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, periods, queries
from dashboard.queries import Trend
from dashboard.render import local_time, md
from dashboard.session import current

vigie = current()
now = vigie.now()
SPARKLINE = f"{queries.TREND_BASELINE.days + 1} days"

st.title("Overview")
since, until = periods.pick("Period", "overview-period", now)
data = queries.overview_of(vigie.store, vigie.store_key, vigie.config, since, until, now)
health = queries.source_health(vigie.store, vigie.store_key, queries.source_specs(s for s in vigie.config.sources if s.enabled), now)
failing = [h for h in health if h.problem]
alerted = {(alert.subject_type, alert.subject) for alert in data.open_alerts}

posts, alerts, crawl = st.columns(3)
posts.metric("Posts in the period", f"{data.total:,}")
alerts.metric("Open alerts", len(data.open_alerts))
crawl.metric("Sources needing a look", f"{len(failing)} of {len(health)}")

st.subheader("Volume by platform")
if data.volume:
    charts.draw(charts.volume(data.volume, vigie.zone, queries.interval_for(since, until)))
else:
    st.info("No posts in this period.")


def trend_table(trends: list[Trend], kind: str, label: str) -> None:
    if not trends:
        st.caption("Nothing in the last 24 hours.")
        return
    frame = pd.DataFrame(
        {
            label: [("▲ " if (kind, t.key) in alerted else "") + t.key for t in trends],
            SPARKLINE: [t.series for t in trends],
            "24 h": [t.current for t in trends],
            "usual": [round(t.baseline, 1) for t in trends],
            "ratio": ["new" if t.ratio is None else f"×{t.ratio:.1f}" for t in trends],
        }
    )
    picked = st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            SPARKLINE: st.column_config.LineChartColumn(y_min=0, help="Posts per day"),
            "24 h": st.column_config.NumberColumn(help="Posts in the last 24 hours"),
            "usual": st.column_config.NumberColumn(help="Posts per day the spike detector expects from the 14 days before"),
        },
        on_select="rerun",
        selection_mode="single-row",
        key=f"trending-{kind}",
    )
    for row in picked.selection.rows:
        key = trends[row].key
        st.page_link("views/narrative.py", label=f"Open {md(key)}", icon=":material/arrow_forward:", query_params={"kind": kind, "value": key})


left, right = st.columns(2)
with left:
    st.subheader("Narratives trending now")
    trend_table(data.narratives, "narrative", "narrative")
with right:
    st.subheader("Hashtags trending now")
    trend_table(data.hashtags, "hashtag", "hashtag")
st.caption(f"Posts in the last 24 hours against the daily level the spike detector expects from the {queries.TREND_BASELINE.days} days before; ▲ an open alert. Select a row to open it on the Narrative page.")

st.subheader("Open alerts")
if data.open_alerts:
    for alert in data.open_alerts[:20]:
        ratio = f"×{alert.ratio:.1f}" if alert.ratio else ""
        st.markdown(f"**{md(alert.subject)}** · {md(alert.kind)} · {md(alert.subject_type)} {md(ratio)} · {alert.count} posts · since {md(local_time(alert.opened_at, vigie.zone))}")
    st.page_link("views/alerts.py", label="Review the alerts", icon=":material/arrow_forward:")
else:
    st.success("No open alert.")

st.subheader("Crawl health")
if failing:
    st.dataframe(
        pd.DataFrame(
            {
                "source": [h.source_id for h in failing],
                "platform": [h.platform for h in failing],
                "problem": [h.problem for h in failing],
                "last run": [local_time(h.last_run.started_at if h.last_run else None, vigie.zone) for h in failing],
                "error": [(h.last_run.errors[0].message if h.last_run and h.last_run.errors else "") for h in failing],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    st.page_link("views/sources.py", label="All sources", icon=":material/arrow_forward:")
elif health:
    st.success(f"All {len(health)} sources crawled on time.")
else:
    st.info("No source is configured (config/sources.yaml).")
