"""Alert and digest emails: a plain-text part and an HTML part saying what surged, by how much against what
baseline, since when, where, with sample posts and links to the dashboard.

Scraped text is hostile: every value that comes from a post or a platform is escaped with `html.escape` in the HTML
part, links are made only of http(s) URLs, and headers get single-line, length-capped text.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from alerts.origin import describe
from vigie.config import Settings
from enrich.rules import explain
from vigie.models import Alert, Candidate, OutboxMessage, Post, PostRef, timed_matches, url_at, video_clock

SAMPLE_CHARS = 300
MOMENTS = 3
"""Moments of a sample video linked in an email: where each of its first terms is first said."""
SUBJECT_CHARS = 160
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
"""One bare address: no display name, comment, group, second address or whitespace, so nothing in it is header syntax."""
_KIND_TITLES = {"spike": "Spike", "emerging": "Emerging", "source_silent": "Source silent"}


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str

    def message(self, message_id: str, recipient: str, at: datetime) -> OutboxMessage:
        """The outbox entry; its id makes queueing idempotent, so the same email is never sent twice."""
        return OutboxMessage(id=message_id, recipient=recipient, subject=self.subject, body_text=self.text, body_html=self.html, created_at=at, next_attempt_at=at)


@dataclass(frozen=True, slots=True)
class _Line:
    """One line of an email: a label and a value, plus an optional link, rendered as text or as escaped HTML."""

    label: str
    value: str
    link: str | None = None


def one_line(text: str, limit: int = SUBJECT_CHARS) -> str:
    """Text safe for a header: control characters and line breaks become spaces, long text is cut."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def header_text(text: str, limit: int = SUBJECT_CHARS) -> str:
    """`one_line` text that also stays literal in a header: `=?` would start an RFC 2047 encoded word, which the
    email library decodes when the header is set, so `=?utf-8?q?=0D=0ABcc:...?=` would come back as a line break."""
    return one_line(text, limit).replace("=?", "= ?")


class AddressError(ValueError):
    """Not one bare email address; str() is one line."""


def plain_address(address: str) -> str:
    """The address, when it is one bare `name@example.org` of at most 254 characters; AddressError otherwise."""
    if len(address) > 254 or not _ADDRESS.fullmatch(address):
        raise AddressError(f"{one_line(address, 80)!r} is not one email address (expected name@example.org)")
    return address


def safe_link(url: str | None) -> str | None:
    """The URL if it is plain http(s), else None: a post's link is never trusted to be one."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def dashboard_links(alert: Alert, settings: Settings) -> list[_Line]:
    """The alert on the Alerts page, and its subject's timeline on the Narrative page (or the Search or Sources page)."""
    base = settings.dashboard.public_url.rstrip("/")
    if alert.subject_type in ("narrative", "term", "hashtag"):
        subject_page = f"{base}/narrative?kind={alert.subject_type}&value={quote(alert.subject, safe='')}"
    else:
        subject_page = f"{base}/{'sources' if alert.subject_type == 'source' else 'search'}"
    return [
        _Line("Alert", "open in the dashboard", f"{base}/alerts?alert={quote(alert.id, safe='')}"),
        _Line("Trend", subject_name(alert), subject_page),
    ]


def subject_name(alert: Alert) -> str:
    if alert.subject_type == "hashtag":
        return f"hashtag #{alert.subject}"
    if alert.subject_type == "search":
        return f"saved search {alert.subject}"
    return f"{alert.subject_type} {alert.subject}"


def _when(value: datetime | str | None, zone: ZoneInfo) -> str:
    if value is None:
        return "unknown"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{moment.astimezone(zone):%d %b %Y %H:%M %Z} ({moment.astimezone(ZoneInfo('UTC')):%H:%M} UTC)"


def _top(values: Sequence[Mapping[str, object]]) -> str:
    return ", ".join(f"{item['value']} ({item['count']})" for item in values) or "none recorded"


def headline(alert: Alert) -> str:
    """One line saying what happened, for subjects, digests and webhooks."""
    evidence = alert.evidence
    if alert.kind == "source_silent":
        if evidence.get("reason") == "failing":
            return f"source {alert.subject} failed its last {evidence.get('failed_runs')} runs"
        return f"source {alert.subject} has published nothing for {evidence.get('silent_for', 'a while')}"
    if alert.kind == "emerging":
        return f"{subject_name(alert)} emerging: {alert.count} posts in {evidence.get('current_window')}, {evidence.get('baseline_count', 0)} in the {evidence.get('baseline_window')} before"
    return f"{subject_name(alert)}: {alert.count} posts in {evidence.get('span_label', 'one bucket')}, {alert.ratio:.1f}x the {alert.baseline:.1f} expected"


def _facts(alert: Alert, zone: ZoneInfo) -> list[_Line]:
    evidence = alert.evidence
    lines = [_Line("What", f"{_KIND_TITLES[alert.kind]}: {subject_name(alert)} (rule {evidence.get('rule_label', alert.rule_id)})")]
    if alert.kind == "spike":
        lines += [
            _Line("How much", f"{alert.count} posts, {alert.ratio:.1f} times the {alert.baseline:.1f} expected from the last {evidence.get('baseline_window')} at this time of day"),
            _Line("Authors", f"{evidence.get('authors')} distinct in the busiest {evidence.get('interval', 'hour')}, about {evidence.get('expected_authors_per_bucket', 0):.1f} expected"),
            _Line("Window", f"{_when(evidence.get('window_start'), zone)} to {_when(evidence.get('window_end'), zone)}"),
        ]
    elif alert.kind == "emerging":
        lines += [
            _Line("How much", f"{alert.count} posts in the last {evidence.get('current_window')}; {evidence.get('baseline_count', 0)} in the {evidence.get('baseline_window')} before, where {alert.baseline:.2f} would be expected now ({alert.ratio:.0f}x)"),
            _Line("Authors", f"{evidence.get('authors')} distinct"),
        ]
    else:
        lines.append(_Line("Why", headline(alert)))
        if evidence.get("last_post_at"):
            lines.append(_Line("Last post", _when(evidence.get("last_post_at"), zone)))
        if evidence.get("usual_daily_posts") is not None:
            lines.append(_Line("Usually", f"{evidence['usual_daily_posts']:.1f} posts a day"))
        if evidence.get("last_error"):
            lines.append(_Line("Last error", str(evidence["last_error"])))
    lines.append(_Line("Since", _when(alert.bucket_start or alert.opened_at, zone)))
    lines.append(_Line("Score", f"{alert.score:.1f} (-log10 of the probability of so many by chance)"))
    if alert.kind != "source_silent":
        lines += [_Line("Where", _top(evidence.get("top_sources", []))), _Line("Who", _top(evidence.get("top_authors", [])))]
    if origin := evidence.get("origin"):
        first = PostRef.model_validate(origin["first"])
        lines.append(_Line("Origin", describe(first, origin["sources"], origin["spread_hours"], zone), safe_link(first.url)))
    return lines


def _sample_text(post: Post) -> str:
    body = " ".join(((post.title or "") + " " + post.text).split())
    return body if len(body) <= SAMPLE_CHARS else body[: SAMPLE_CHARS - 1] + "…"


def _sample_reasons(post: Post) -> list[str]:
    """Why the watchlists tagged the post, a line per narrative: its terms, or its rule with the groups that fired."""
    return [f"{narrative}: {reason}" for narrative, reason in explain(post.matches).items()]


def _sample_origin(post: Post, zone: ZoneInfo) -> str:
    author = post.author.handle or post.author.name or post.author.id or "unknown author"
    return f"{post.source_id} · {author} · {_when(post.published_at, zone)}"


def _moments(post: Post, link: str) -> list[tuple[str, float, str]]:
    """(term, second, link opening the video there): where each watchlist term is first said in the post's video."""
    first = {match.term: match for match in reversed(timed_matches(post))}
    ordered = sorted(first.values(), key=lambda match: match.at or 0.0)[:MOMENTS]
    return [(match.term, match.at or 0.0, url_at(link, match.at or 0.0)) for match in ordered]


def _as_text(title: str, lines: Sequence[_Line], samples: Sequence[Post], zone: ZoneInfo) -> str:
    out = [title, "=" * len(title), ""]
    out += [f"{line.label}: {line.value}" + (f" <{line.link}>" if line.link else "") for line in lines]
    if samples:
        out += ["", "Sample posts", "------------"]
        for n, post in enumerate(samples, 1):
            out += [f"{n}. {_sample_origin(post, zone)}", f"   {_sample_text(post)}"]
            out += [f"   Why: {reason}" for reason in _sample_reasons(post)]
            if link := safe_link(post.url):
                out.append(f"   {link}")
                out += [f"   said at {video_clock(at)} ({one_line(term, 60)}): {moment}" for term, at, moment in _moments(post, link)]
    out += ["", "Vigie: sent because you subscribed to this rule; change it in the dashboard's Subscriptions page."]
    return "\n".join(out) + "\n"


def _html_line(line: _Line) -> str:
    value = html.escape(line.value)
    if line.link:
        value = f'<a href="{html.escape(line.link, quote=True)}">{value}</a>'
    return f"<tr><th align=\"left\" valign=\"top\">{html.escape(line.label)}</th><td>{value}</td></tr>"


def _as_html(title: str, lines: Sequence[_Line], samples: Sequence[Post], zone: ZoneInfo) -> str:
    parts = [f"<html><body><h2>{html.escape(title)}</h2><table>", *(_html_line(line) for line in lines), "</table>"]
    if samples:
        parts.append("<h3>Sample posts</h3><ol>")
        for post in samples:
            link = safe_link(post.url)
            origin = html.escape(_sample_origin(post, zone))
            if link:
                origin = f'<a href="{html.escape(link, quote=True)}">{origin}</a>'
            reasons = "".join(f"<br><small>Why: {html.escape(reason)}</small>" for reason in _sample_reasons(post))
            said = "".join(
                f'<br><small><a href="{html.escape(moment, quote=True)}">said at {html.escape(video_clock(at))}</a> ({html.escape(one_line(term, 60))})</small>'
                for term, at, moment in (_moments(post, link) if link else [])
            )
            parts.append(f"<li><small>{origin}</small><br><blockquote>{html.escape(_sample_text(post))}</blockquote>{reasons}{said}</li>")
        parts.append("</ol>")
    parts.append("<p><small>Vigie: sent because you subscribed to this rule; change it in the dashboard's Subscriptions page.</small></p></body></html>")
    return "\n".join(parts)


def alert_email(alert: Alert, samples: Sequence[Post], settings: Settings) -> Rendered:
    zone = ZoneInfo(settings.dashboard.timezone)
    lines = [*_facts(alert, zone), *dashboard_links(alert, settings)]
    title = f"Vigie alert: {headline(alert)}"
    return Rendered(
        subject=one_line(f"[Vigie] {_KIND_TITLES[alert.kind]}: {headline(alert)}"),
        text=_as_text(title, lines, samples, zone),
        html=_as_html(title, lines, samples, zone),
    )


def digest_email(alerts: Sequence[Alert], period_start: datetime, period_end: datetime, settings: Settings, candidates: Sequence[Candidate] = ()) -> Rendered:
    """One message for the alerts of a day, newest first, each with its key facts and dashboard link, then the
    candidate narratives first proposed that day."""
    zone = ZoneInfo(settings.dashboard.timezone)
    counted = _plural(len(alerts), "alert") + (f" and {_plural(len(candidates), 'candidate narrative')}" if candidates else "")
    title = f"Vigie digest: {counted} from {_when(period_start, zone)} to {_when(period_end, zone)}"
    text = [title, "=" * len(title), ""]
    parts = [f"<html><body><h2>{html.escape(title)}</h2>"]
    for alert in alerts:
        name = f"{_KIND_TITLES[alert.kind]} ({alert.state}): {headline(alert)}"
        facts = [line for line in _facts(alert, zone) if line.label in ("Since", "Where", "How much", "Why")]
        links = dashboard_links(alert, settings)[:1]
        text += [f"* {name}", *(f"  {line.label}: {line.value}" for line in facts), f"  Dashboard: {links[0].link}", ""]
        parts += [f"<h3>{html.escape(name)}</h3><table>", *(_html_line(line) for line in [*facts, *links]), "</table>"]
    if candidates:
        link = _Line("Dashboard", "candidate narratives", f"{settings.dashboard.public_url.rstrip('/')}/candidates")
        text += ["New candidate narratives", "------------------------", ""]
        parts.append("<h2>New candidate narratives</h2>")
        for candidate in candidates:
            name = f"{', '.join(candidate.terms[:6])}: {candidate.posts} posts, {candidate.growth:.0f}x, {len(candidate.sources)} sources"
            facts = [_Line("Languages", ", ".join(candidate.languages)), _Line("Platforms", ", ".join(candidate.platforms))]
            if candidate.earliest:
                facts.append(_Line("Origin", describe(candidate.earliest[0], len(candidate.spread), _spread_hours(candidate), zone), safe_link(candidate.earliest[0].url)))
            text += [f"* {name}", *(f"  {line.label}: {line.value}" for line in facts), ""]
            parts += [f"<h3>{html.escape(name)}</h3><table>", *(_html_line(line) for line in facts), "</table>"]
        text += [f"Review them: {link.link}", ""]
        parts.append(f"<p>{_html_line(link)}</p>")
    text.append("Vigie: sent because you subscribed to the daily digest; change it in the dashboard's Subscriptions page.")
    parts.append("<p><small>Vigie: sent because you subscribed to the daily digest.</small></p></body></html>")
    return Rendered(subject=one_line(f"[Vigie] Daily digest: {counted}"), text="\n".join(text) + "\n", html="\n".join(parts))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def _spread_hours(candidate: Candidate) -> int:
    if len(candidate.spread) < 2:
        return 0
    return math.ceil((candidate.spread[-1].first_at - candidate.first_post_at).total_seconds() / 3600)


def test_email(settings: Settings, now: datetime) -> Rendered:
    zone = ZoneInfo(settings.dashboard.timezone)
    text = f"This is a test message from Vigie, sent {_when(now, zone)}.\nIf you can read it, alert emails reach you.\nDashboard: {settings.dashboard.public_url}\n"
    body = f"<html><body><p>This is a test message from Vigie, sent {html.escape(_when(now, zone))}.</p><p>If you can read it, alert emails reach you.</p><p><a href=\"{html.escape(settings.dashboard.public_url, quote=True)}\">Dashboard</a></p></body></html>"
    return Rendered(subject="[Vigie] Test message", text=text, html=body)


def mime_message(message: OutboxMessage, sender: str) -> EmailMessage:
    """The outbox message as a multipart/alternative email; its Message-ID derives from the outbox id.

    Raises AddressError when the recipient is anything but one bare address (a subscription stored by another tool,
    say): header syntax in it (CR/LF, a comma, a display name) would reach other people than the subscriber."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = plain_address(message.recipient)
    email["Subject"] = header_text(message.subject)
    email["Date"] = format_datetime(message.created_at)
    domain = sender.rpartition("@")[2].strip("> ") or "vigie.invalid"
    email["Message-ID"] = f"<{hashlib.sha256(message.id.encode()).hexdigest()[:32]}@{domain}>"
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    return email
