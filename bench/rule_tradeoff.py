"""How far word rules can separate the 5G-coronavirus conspiracy from the other conspiracies of MediaEval 2020.

Issue 20 asks for `anti-5g` recall >= 0.75 on the 5G set together with an `anti-5g` rate <= 0.15 on the other
set. Both sets were collected by searching for 5G and the coronavirus, so most tweets of the other set name both
too; what separates them is the tweet's stance (does it claim the link?), not its words. This script replaces the
shipped `anti-5g` rules with variants, from strict to loose, and prints both figures for each, measured in the
same run on `tests/data/mediaeval2020/dev.jsonl`: the curve shows what a rule gains in recall and pays on the
other set. It also counts how many tweets of each set name 5G at all, and 5G with the virus.

Run: `.venv/bin/python bench/rule_tradeoff.py`.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # this script's folder would shadow the `enrich` package

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from enrich.evaluation import FIVE_G, mediaeval_figures, read_jsonl  # noqa: E402
from enrich.watchlists import Watchlist, WatchlistMatcher, load_watchlists  # noqa: E402

MEDIAEVAL = ROOT / "tests" / "data" / "mediaeval2020" / "dev.jsonl"
WATCHLISTS = ROOT / "config" / "watchlists"
FIVE_G_WORD = re.compile(r"\b5\s?-?g", re.IGNORECASE)
VIRUS_WORD = re.compile(r"covid|corona|virus|pandemi|wuhan|immun", re.IGNORECASE)

VARIANTS: dict[str, str | None] = {
    "phrases and hashtags only (no rule)": None,
    "5G NEAR/15 virus, harm word in the same sentence": "(five-g NEAR/15 virus) AND (five-g NEAR/15s harm-link) AND NOT debunk",
    "5G NEAR/5 virus": "five-g NEAR/5 virus AND NOT debunk",
    "5G NEAR/10 virus": "five-g NEAR/10 virus AND NOT debunk",
    "5G NEAR/15 virus (shipped)": "five-g NEAR/15 virus AND NOT debunk",
    "5G NEAR/25 virus": "five-g NEAR/25 virus AND NOT debunk",
    "5G AND virus, anywhere in the post": "five-g AND virus AND NOT debunk",
    "5G anywhere": "five-g AND NOT debunk",
}


def with_rule(watchlists: list[Watchlist], rule: str | None) -> list[Watchlist]:
    """The watchlists with every language's `anti-5g` rules replaced by `rule` (none when `rule` is None)."""
    changed = []
    for watchlist in watchlists:
        narratives = [
            narrative.model_copy(update={"rules": {language: [rule] for language in narrative.rules} if rule else {}})
            if narrative.id == FIVE_G
            else narrative
            for narrative in watchlist.narratives
        ]
        changed.append(dataclasses.replace(watchlist, narratives=narratives))
    return changed


def main() -> int:
    rows = read_jsonl(MEDIAEVAL)
    watchlists = load_watchlists(WATCHLISTS)
    console = Console(width=130)
    sets = {"5G set": [r for r in rows if r["label"] == "5g-conspiracy"], "other set": [r for r in rows if r["label"] != "5g-conspiracy"]}
    words = Table(title=f"Tweets naming 5G ({MEDIAEVAL.relative_to(ROOT)})")
    for column in ("set", "tweets", "name 5G", "name 5G and the virus"):
        words.add_column(column, justify="right" if column != "set" else "left")
    for name, subset in sets.items():
        five_g = [r for r in subset if FIVE_G_WORD.search(r["text"])]
        both = [r for r in five_g if VIRUS_WORD.search(r["text"])]
        words.add_row(name, str(len(subset)), f"{len(five_g)} ({len(five_g) / len(subset):.2f})", f"{len(both)} ({len(both) / len(subset):.2f})")
    console.print(words)

    curve = Table(title="`anti-5g` rule variants: recall on the 5G set against the rate on the other set")
    for column in ("rule (every language)", "recall, 5G set (>= 0.75)", "rate, other set (<= 0.15)", "recall / rate (>= 5 needed)", "both targets"):
        curve.add_column(column, justify="left" if column.startswith("rule") else "right")
    met_any = False
    for label, rule in VARIANTS.items():
        figures = mediaeval_figures(WatchlistMatcher(with_rule(watchlists, rule)), rows)
        met = figures.five_g_recall >= 0.75 and figures.other_five_g <= 0.15
        met_any |= met
        curve.add_row(label, f"{figures.five_g_recall:.3f}", f"{figures.other_five_g:.3f}", f"{figures.five_g_recall / max(figures.other_five_g, 1e-9):.1f}", "met" if met else "no")
    console.print(curve)
    console.print("Some variant meets both targets." if met_any else "No variant meets both targets.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
