"""Watchlist matches in a video's transcript, placed in time: each gets the second where its caption cue starts,
so the dashboard and alert emails open the video where the words are said."""

from __future__ import annotations

from bisect import bisect_right

from vigie.models import Post, TagMatch


def timed(post: Post, matches: list[TagMatch]) -> list[TagMatch]:
    """`matches` with `at` set for those in the transcript part of the post's text (the others unchanged)."""
    transcript = post.transcript
    if transcript is None or not transcript.cues:
        return matches
    offsets = [offset for offset, _ in transcript.cues]
    placed = []
    for match in matches:
        if match.field == "text" and match.start >= transcript.offset:
            cue = max(bisect_right(offsets, match.start) - 1, 0)
            match = match.model_copy(update={"at": transcript.cues[cue][1]})
        placed.append(match)
    return placed
