"""Promoting a candidate narrative: the analyst's label, description and terms become a watchlist file of the config
folder, checked as any watchlist is, then the stored history is re-tagged with it. From then on it is a narrative
like the shipped ones (its own file, so removing it is deleting that file)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from enrich.reenrich import ReenrichReport, reenrich
from enrich.watchlists import load_watchlist, load_watchlists
from store.base import Store
from vigie.config import ConfigError
from vigie.models import Candidate, utcnow

WATCHLISTS = "watchlists"
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class PromotionError(ValueError):
    """The narrative cannot be written as given; str() says what to change."""


@dataclass(frozen=True)
class Promoted:
    candidate: Candidate
    path: Path
    report: ReenrichReport


def watchlist_body(narrative_id: str, label: str, description: str, terms: list[str]) -> dict:
    """The watchlist file of one narrative: lines starting with `#` are hashtags, the others terms in any language."""
    hashtags = [term for term in terms if term.startswith("#")]
    words = [term for term in terms if not term.startswith("#")]
    narrative: dict = {"id": narrative_id, "label": label, "description": description}
    if words:
        narrative["terms"] = {"any": words}
    if hashtags:
        narrative["hashtags"] = hashtags
    return {"label": label, "description": f"Promoted from a candidate narrative on {utcnow():%Y-%m-%d}.", "narratives": [narrative]}


def promote(config_dir: Path, store: Store, candidate: Candidate, *, narrative_id: str, label: str, description: str, terms: list[str], by: str) -> Promoted:
    """Write `watchlists/<narrative_id>.yaml`, re-tag every stored post with it, and mark the candidate promoted."""
    narrative_id, label = narrative_id.strip(), " ".join(label.split())
    terms = list(dict.fromkeys(term.strip() for term in terms if term.strip()))
    if not _ID.match(narrative_id):
        raise PromotionError(f"narrative id {narrative_id!r}: lower-case letters, digits, `-` and `_` only")
    if not label or not terms:
        raise PromotionError("give the narrative a label and at least one term")
    folder = config_dir / WATCHLISTS
    path = folder / f"{narrative_id}.yaml"
    if path.exists():
        raise PromotionError(f"{path} exists already: choose another id")
    taken = {narrative.id for watchlist in load_watchlists(folder) for narrative in watchlist.narratives} if folder.exists() else set()
    if narrative_id in taken:
        raise PromotionError(f"a watchlist already has a narrative {narrative_id!r}: choose another id")
    folder.mkdir(parents=True, exist_ok=True)
    draft = folder / f".{narrative_id}.yaml.new"
    draft.write_text(yaml.safe_dump(watchlist_body(narrative_id, label, description.strip(), terms), allow_unicode=True, sort_keys=False), encoding="utf-8")
    try:
        load_watchlist(draft)
    except ConfigError as exc:
        draft.unlink()
        raise PromotionError(str(exc).replace(str(draft), str(path))) from None
    os.replace(draft, path)
    report = reenrich(store, load_watchlists(folder), only=narrative_id)
    promoted = candidate.model_copy(update={"state": "promoted", "narrative": narrative_id, "by": by, "updated_at": utcnow()})
    store.save_candidate(promoted)
    return Promoted(promoted, path, report)
