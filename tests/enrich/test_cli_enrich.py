from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.enrich.test_duplicates import CAMPAIGN, EDITED

REPO = Path(__file__).resolve().parents[2]


def enrich(lines: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from vigie.cli import main; main()", "--config", str(REPO / "config"), "enrich", *args],
        input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=120, cwd=REPO,
    )


def test_enrich_text_objects_and_posts_and_report_bad_lines() -> None:
    post = {
        "platform": "mastodon", "native_id": "109", "source_id": "m", "published_at": "2024-01-01T00:00:00Z",
        "text": "Chemtrails again today, stop spraying us! https://Example.org/x?utm_source=a", "platform_language": "en", "tags": ["veille"],
    }
    lines = [
        json.dumps({"id": "mine-1", "text": "La plandémie et le #GrandReset 🔥 @Jean", "note": "kept"}, ensure_ascii=False),
        "{not json",
        json.dumps({"text": 12}),
        "",
        json.dumps(post),
        json.dumps({"platform": "myspace", "native_id": "1"}),
        json.dumps({"text": CAMPAIGN}, ensure_ascii=False),
        json.dumps({"text": EDITED}, ensure_ascii=False),
    ]
    done = enrich(lines, "--batch-size", "1")
    assert done.returncode == 1
    errors = done.stderr.splitlines()
    assert errors[:3] == [
        "stdin:2: invalid JSON: Expecting property name enclosed in double quotes at column 2",
        "stdin:3: expected a post or an object with a `text` string",
        "stdin:6: not a valid post: platform: Input should be 'telegram', 'mastodon', 'reddit', 'bluesky', 'youtube', 'feed', 'forum', 'peertube', 'odysee' or 'imageboard'",
    ]
    assert errors[3] == "Error: 3 bad lines skipped (reported above)"

    text_only, mastodon, campaign, edited = (json.loads(line) for line in done.stdout.splitlines())
    assert text_only["id"] == "mine-1" and text_only["note"] == "kept" and "platform" not in text_only
    assert text_only["language"] == "fr"
    assert text_only["narratives"] == ["plandemic", "great-reset"]
    assert [(m["term"], m["start"], m["end"]) for m in text_only["matches"]] == [("plandémie", 3, 12), ("#GrandReset", 19, 30)]
    assert text_only["hashtags"] == ["grandreset"] and text_only["mentions"] == ["jean"]

    assert mastodon["id"] == "mastodon:109" and mastodon["language"] == "en"
    assert mastodon["tags"] == ["veille", "chemtrail", "stop spraying"]
    assert mastodon["links"] == ["https://example.org/x"] and mastodon["domains"] == ["example.org"]

    assert campaign["cluster_id"] and campaign["cluster_id"] == edited["cluster_id"], "near-copies are grouped across batches"
