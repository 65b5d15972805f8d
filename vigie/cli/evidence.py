"""`vigie evidence POST_ID`: what the platform served when the post was collected, from the evidence archive.

Prints the post, when its page was fetched, the SHA-256 of the raw response and the raw body (checked
against that hash). Control characters of the body are shown escaped: scraped text must not drive the
terminal. `--raw` writes the exact bytes instead, for saving as a file.
"""

from __future__ import annotations

import codecs
import re
import sys

import click

from vigie.cli.context import AppContext, pass_app

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")


def printable(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


def _charset(content_type: str | None) -> str:
    match = re.search(r"charset=([\w.:-]+)", content_type or "", re.IGNORECASE)
    try:
        return codecs.lookup(match[1]).name if match else "utf-8"
    except LookupError:
        return "utf-8"


@click.command()
@click.argument("post_id")
@click.option("--raw", is_flag=True, help="Write only the raw response body, byte for byte, to stdout.")
@pass_app
def evidence(app: AppContext, post_id: str, raw: bool) -> None:
    """Show a post with the hash and the archived raw response it was parsed from."""
    from crawlers.evidence import EvidenceArchive, EvidenceError

    post = app.store.get_post(post_id)
    if post is None:
        raise click.ClickException(f"no post {post_id!r} in the store")
    archive = EvidenceArchive(app.config.data_dir / "evidence")
    try:
        body = archive.get(post.raw_sha256) if post.raw_sha256 else None
        fetch = archive.fetch_of(post.raw_sha256) if post.raw_sha256 else None
    except EvidenceError as exc:
        raise click.ClickException(str(exc)) from None
    if raw:
        if body is None:
            raise click.ClickException(f"{post_id}: raw response not archived")
        sys.stdout.buffer.write(body)
        return
    lines = [
        f"post:         {post.id}",
        f"source:       {post.source_id} ({post.platform})",
        f"url:          {post.url or '—'}",
        f"author:       {post.author.name or post.author.handle or '—'}",
        f"published at: {post.published_at.isoformat()}",
        f"fetched at:   {post.collected_at.isoformat()}",
        f"sha256:       {post.raw_sha256 or '— (not recorded)'}",
    ]
    if post.title:
        lines.insert(3, f"title:        {post.title}")
    if fetch is not None:
        lines.append(f"response:     HTTP {fetch.status} from {fetch.url}, first fetched {fetch.fetched_at.isoformat()}, {fetch.content_type or 'no content type'}")
    click.echo(printable("\n".join(lines)))
    click.echo("\n--- text ---")
    click.echo(printable(post.text))
    if body is None:
        reason = "no hash recorded" if not post.raw_sha256 else f"source {post.source_id!r} does not set `archive: true`, or the archive was removed"
        click.echo(f"\n--- raw body not archived ({reason}) ---")
        return
    click.echo(f"\n--- raw body ({len(body)} bytes, hash verified) ---")
    click.echo(printable(body.decode(_charset(fetch.content_type if fetch else None), errors="replace")))
