"""Enrichment benchmark: language detectors compared, watchlist precision/recall, throughput per step.

1. Language: accuracy of each detector (langdetect, fastText, lingua, the default `combined`) on the labelled
   texts of `tests/fixtures/langid/` (12 languages; single words, two-word snippets, sentences), per set, per
   length band (< 40, 40-120, > 120 characters) and per language, and texts/s. Detectors are compared on their
   first answer after cleaning; the last row is Vigie's default identification, which may say `und`.
2. Watchlists: precision and recall of the default watchlists (`config/watchlists/`) on the labelled evaluation
   set `tests/data/watchlist-eval.jsonl`, per narrative and per kind of post; language accuracy per length band
   on its posts whose language is known. Then on real posts that independent annotators labelled (MediaEval 2020,
   `tests/data/mediaeval2020/dev.jsonl`): `anti-5g` recall on the 5G set, the share of the other set with a fitting
   non-5G narrative, the `anti-5g` rate on the other set; and the false-alarm rate on the ordinary texts of
   `tests/fixtures/langid/` per language. The rules were tuned on this development half.
3. Throughput: posts/s of the whole enrichment and of each step as `Enricher.enrich` runs it, on posts built from the
   fixtures by `bench/corpus.py` (default 100,000), per CPU-second of this one single-threaded process (one core), and
   the whole also by the wall clock, with the machine's load average; `--profile` adds a cProfile of the whole.
4. Tagging: the Aho-Corasick matcher against a naive one-regex-per-term baseline, with 5,000 terms, same texts;
   then the shipped watchlists (terms, patterns, rules) against one regex per term and group term of theirs.

Run: `.venv/bin/python bench/enrich.py [--posts 100000] [--quick] [--profile]` (`--quick` samples the langid texts and runs
20,000 posts, for a first look in a minute).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # this script's folder would shadow the `enrich` package
sys.path.append(str(ROOT / "bench"))

from corpus import generate_posts  # noqa: E402

from enrich import Enricher  # noqa: E402
from enrich.duplicates import Member, NearDuplicates, assign_clusters, text_words  # noqa: E402
from enrich.entities import extract_entities  # noqa: E402
from enrich.evaluation import false_alarm_rates, mediaeval_figures, per_language_counts, read_jsonl  # noqa: E402
from enrich.folding import WORD, fold  # noqa: E402
from enrich.language import UNDETERMINED, CombinedDetector, Detector, LangdetectDetector, LanguageIdentifier, language_text  # noqa: E402
from enrich.pipeline import post_body, retag  # noqa: E402
from enrich.watchlists import Narrative, Watchlist, WatchlistMatcher, load_watchlists  # noqa: E402
from vigie.config import LanguageSettings, Settings  # noqa: E402
from vigie.models import Post  # noqa: E402

LANGID = ROOT / "tests" / "fixtures" / "langid"
EVAL_SET = ROOT / "tests" / "data" / "watchlist-eval.jsonl"
MEDIAEVAL = ROOT / "tests" / "data" / "mediaeval2020" / "dev.jsonl"
WATCHLISTS = ROOT / "config" / "watchlists"
SETS = ("single-words", "word-pairs", "sentences")
BANDS = ("< 40", "40-120", "> 120")
BATCH = 500
ENRICHED = ("language", "language_confidence", "hashtags", "mentions", "links", "domains", "tags", "narratives", "matches", "near_dup_keys", "cluster_id")
"""The fields `Enricher.enrich` fills."""
BASELINE_TERMS = 5000


def band(text: str) -> str:
    return BANDS[0] if len(text) < 40 else BANDS[1] if len(text) <= 120 else BANDS[2]


def cpu_rate(count: int, work: Callable[[], object]) -> float:
    """Items per CPU second of this process (one core), so that other load on the machine does not count."""
    start = time.process_time()
    work()
    return count / max(time.process_time() - start, 1e-9)


def table(header: list[str], rows: Iterable[list[object]]) -> str:
    """A Markdown table, so the output can be pasted into docs/enrichment.md."""
    cells = [header, *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}" if whole else "-"


# ---------------------------------------------------------------- 1. language


@dataclass(frozen=True)
class Labelled:
    language: str
    text: str
    kind: str


def langid_texts(per_file: int | None) -> list[Labelled]:
    texts = []
    for kind in SETS:
        for path in sorted((LANGID / kind).glob("*.txt")):
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            texts += [Labelled(path.stem, line, kind) for line in lines[:per_file]]
    return texts


def language_section(combined: CombinedDetector, per_file: int | None) -> None:
    texts = langid_texts(per_file)
    settings = LanguageSettings()
    detectors: list[tuple[str, Detector, float]] = [
        ("langdetect", LangdetectDetector(settings.seed), 0.0),
        ("fasttext", combined.fasttext, 0.0),
        ("lingua", combined.lingua, 0.0),
        ("combined", combined, 0.0),
        ("combined, default settings (`und` counts as wrong)", combined, settings.min_confidence),
    ]
    rows, per_language = [], {}
    for name, detector, min_confidence in detectors:
        identifier = LanguageIdentifier(detector, min_chars=1 if min_confidence == 0 else settings.min_chars, min_confidence=min_confidence)
        for item in texts[:: max(1, len(texts) // 300)]:  # load the models before timing
            identifier.identify(item.text)
        answers: list[str] = []
        rate = cpu_rate(len(texts), lambda: answers.extend(identifier.identify(item.text).language for item in texts))
        right: Counter[str] = Counter()
        seen: Counter[str] = Counter()
        for item, answer in zip(texts, answers, strict=True):
            for key in (item.kind, band(item.text), item.language, "all"):
                seen[key] += 1
                right[key] += answer == item.language
        undetermined = sum(answer == UNDETERMINED for answer in answers)
        rows.append([name, *(pct(right[k], seen[k]) for k in (*SETS, *BANDS, "all")), pct(undetermined, len(texts)), f"{rate:,.0f}"])
        per_language[name] = {language: pct(right[language], seen[language]) for language in settings.languages}
    print(f"\n## Language detectors on tests/fixtures/langid ({len(texts):,} texts, accuracy %)\n")
    print(table(["detector", *SETS, *(f"{b} chars" for b in BANDS), "all", "und %", "texts/s"], rows))
    print("\nPer language (all three sets):\n")
    names = [row[0] for row in rows]
    print(table(["language", *names], ([language, *(per_language[n][language] for n in names)] for language in settings.languages)))


# ---------------------------------------------------------------- 2. watchlists


def eval_posts() -> list[dict]:
    return [json.loads(line) for line in EVAL_SET.read_text(encoding="utf-8").splitlines() if line.strip()]


def watchlist_section(enricher: Enricher) -> None:
    rows = eval_posts()
    matcher, identifier = enricher.matcher, enricher.language
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        found, wanted = set(matcher.tag(row["text"]).narratives), set(row["narratives"])
        for narrative in found | wanted:
            outcome = "tp" if narrative in found & wanted else "fp" if narrative in found else "fn"
            counts[narrative][outcome] += 1
            counts["all"][outcome] += 1
        by_kind[row["kind"]]["posts"] += 1
        by_kind[row["kind"]]["with a false narrative"] += bool(found - wanted)
        by_kind[row["kind"]]["missing a narrative"] += bool(wanted - found)

    def scores(c: Counter[str]) -> list[str]:
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else float("nan")
        recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else float("nan")
        return [f"{precision:.2f}", f"{recall:.2f}", str(c["tp"] + c["fn"]), str(c["fp"])]

    print(f"\n## Default watchlists on tests/data/watchlist-eval.jsonl ({len(rows)} posts)\n")
    narratives = sorted(n for n in counts if n != "all")
    print(table(["narrative", "precision", "recall", "labelled", "false +"], [[n, *scores(counts[n])] for n in [*narratives, "all"]]))
    print()
    print(table(["kind of post", "posts", "with a false narrative", "missing a narrative"], ([k, c["posts"], c["with a false narrative"], c["missing a narrative"]] for k, c in sorted(by_kind.items()))))

    per_language = per_language_counts(matcher, rows)
    print("\nPer language, on the posts written for the set (the lists were tuned on them):\n")
    print(table(["language", "posts", "precision", "recall", "target"], (
        [language, c["posts"], *scores(c)[:2], "met" if c["tp"] >= 0.9 * (c["tp"] + c["fp"]) and c["tp"] >= 0.8 * (c["tp"] + c["fn"]) else "NOT met (>= 0.9 / >= 0.8)"]
        for language, c in per_language.items()
    )))

    labelled = [row for row in rows if row.get("language")]
    right: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for row in labelled:
        key = band(row["text"])
        seen[key] += 1
        right[key] += identifier.identify(row["text"]).language == row["language"]
    print(f"\nLanguage (default settings) on the {len(labelled)} evaluation posts whose language is known, accuracy %:\n")
    print(table(["length", *BANDS], [["posts", *(seen[b] for b in BANDS)], ["accuracy", *(pct(right[b], seen[b]) for b in BANDS)]]))


def real_posts_section(matcher: WatchlistMatcher) -> None:
    figures = mediaeval_figures(matcher, read_jsonl(MEDIAEVAL))
    rows = [
        [f"`anti-5g` recall on the 5G set ({figures.five_g_posts} tweets)", f"{figures.five_g_recall:.3f}", ">= 0.75", figures.five_g_recall >= 0.75],
        [f"fitting non-5G narrative on the other set ({figures.other_posts} tweets)", f"{figures.other_fitting:.3f}", ">= 0.50", figures.other_fitting >= 0.5],
        ["`anti-5g` on the other set", f"{figures.other_five_g:.3f}", "<= 0.15", figures.other_five_g <= 0.15],
    ]
    print(f"\n## Narratives on real labelled posts ({MEDIAEVAL.relative_to(ROOT)}; the rules were tuned on it)\n")
    print(table(["measure", "figure", "target", "met"], ([*row[:3], "met" if row[3] else "NOT met"] for row in rows)))
    print("\nFitting narratives on the other set (tweets): " + ", ".join(f"{n} {c}" for n, c in figures.other_narratives.items()))
    rates = false_alarm_rates(matcher, LANGID)
    worst = max(tagged / total for tagged, total in rates.values())
    print(f"\n## False alarms on the ordinary texts of {LANGID.relative_to(ROOT)} (texts with a narrative tag)\n")
    print(table(["language", "texts", "tagged", "%"], ([language, total, tagged, f"{100 * tagged / total:.2f}"] for language, (tagged, total) in rates.items())))
    print(f"\nWorst language: {100 * worst:.2f}%, target <= 0.5% in every language: {'met' if worst <= 0.005 else 'NOT met'}.")


# ---------------------------------------------------------------- 3. throughput


def raw_posts(count: int, seed: int = 11) -> list[Post]:
    """Posts as the spiders hand them over: the corpus's own enrichment fields are cleared."""
    posts = []
    for post in generate_posts(count, seed=seed):
        terms = {match.term for match in post.matches}
        posts.append(post.model_copy(update={
            "language": None, "language_confidence": None, "tags": [t for t in post.tags if t not in terms],
            "narratives": [], "matches": [], "cluster_id": None, "near_dup_keys": [],
        }))
    return posts


def throughput_section(enricher: Enricher, count: int, profile: bool) -> None:
    """Each step as `Enricher.enrich` runs it, on the same posts, then the whole enrichment: per core (CPU time of this
    one process: other load on the machine does not count, though it still slows the caches) and by the wall clock."""
    posts = raw_posts(count)
    chars = sum(len(post.text) for post in posts) / len(posts)
    batches = [posts[i : i + BATCH] for i in range(0, len(posts), BATCH)]
    bodies = [post_body(post) for post in posts]
    words = [WORD.findall(post.text) for post in posts]
    language, matcher, duplicates = enricher.language, enricher.matcher, enricher.duplicates

    def keys_and_clusters() -> None:
        for start in range(0, len(posts), BATCH):
            batch, found = posts[start : start + BATCH], words[start : start + BATCH]
            keys = duplicates.word_signatures([text_words(p.text, w) if p.text else text_words(p.title or "") for p, w in zip(batch, found, strict=True)])
            assign_clusters([Member(p.id, p.published_at, k) for p, k in zip(batch, keys, strict=True)])

    steps = [
        ("language", lambda: [language.identify(body, post.platform_language) for body, post in zip(bodies, posts, strict=True)]),
        ("  of which cleaning the text", lambda: [language_text(body) for body in bodies]),
        ("entities", lambda: [extract_entities(body, hashtags=p.hashtags, mentions=p.mentions, links=p.links) for body, p in zip(bodies, posts, strict=True)]),
        ("words (once, for watchlists and copy-paste keys)", lambda: [WORD.findall(post.text) for post in posts]),
        ("watchlists", lambda: [retag(post, matcher.tag(post.text, post.title, found)) for post, found in zip(posts, words, strict=True)]),
        ("copy-paste keys and clusters", keys_and_clusters),
        ("new Post objects (`model_copy`, no validation)", lambda: [post.model_copy(update={field: getattr(post, field) for field in ENRICHED}) for post in posts]),
    ]
    rows = []
    for name, work in steps:
        rate = cpu_rate(len(posts), work)
        rows.append([name, f"{rate:,.0f}", f"{1e6 / rate:,.1f}"])
    load_before = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        enricher.enrich(batch)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    load_after = os.getloadavg()[0]
    per_core, by_clock = len(posts) / cpu, len(posts) / wall
    rows.append(["whole enrichment (`Enricher.enrich`, batches of 500)", f"{per_core:,.0f}", f"{1e6 / per_core:,.1f}"])
    print(f"\n## Enrichment throughput on {len(posts):,} posts built from the fixtures (mean {chars:.0f} characters), one core\n")
    print(f"Copy-paste clusters: {duplicates.description}. Per CPU-second of this one process (single-threaded).\n")
    print(table(["step", "posts/s per core", "µs/post"], rows))
    print(
        f"\nWhole enrichment: {per_core:,.0f} posts per CPU-second (one core), {by_clock:,.0f} posts/s by the wall clock; "
        f"machine load {load_before:.1f} -> {load_after:.1f} (1-min average, {os.cpu_count()} CPUs). "
        f"Target >= 5,000 per core: {'met' if per_core >= 5000 else 'NOT met'}."
    )
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [enricher.enrich(batch) for batch in batches])
        print("\nProfile of the whole enrichment (cProfile, functions by own time):\n```")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(15)
        print("```")


# ---------------------------------------------------------------- 4. Aho-Corasick against a regex per term


def benchmark_terms(count: int) -> list[Watchlist]:
    """The default watchlists' terms, topped up to `count` with real two-word snippets from the langid fixtures."""
    terms: list[tuple[str, str]] = []
    for watchlist in load_watchlists(WATCHLISTS):
        for narrative in watchlist.narratives:
            terms += [(language, term) for language, items in narrative.terms.items() for term in items]
    for path in sorted((LANGID / "word-pairs").glob("*.txt")):
        terms += [(path.stem, line.strip()) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    unique = list({fold(term.removeprefix("=")): (language, term) for language, term in terms if fold(term)}.values())[:count]
    narratives = []
    for index in range(0, len(unique), 100):
        grouped: dict[str, list[str]] = defaultdict(list)
        for language, term in unique[index : index + 100]:
            grouped[language].append(term)
        narratives.append(Narrative(id=f"n{index // 100}", label=f"N{index // 100}", terms=dict(grouped)))
    return [Watchlist(id="bench", path=WATCHLISTS / "bench.yaml", narratives=narratives)]


def tagging_section(count: int) -> None:
    watchlists = benchmark_terms(BASELINE_TERMS)
    terms = [term for n in watchlists[0].narratives for items in n.terms.values() for term in items]
    matcher = WatchlistMatcher(watchlists)
    texts = [post.text for post in generate_posts(count, seed=3)]
    baseline_texts = texts[: max(200, count // 10)]
    regexes = [re.compile(r"(?<!\w)" + re.escape(fold(term.removeprefix("="))) + r"(?!\w)") for term in terms]

    def naive(text: str) -> int:
        folded = fold(text)
        return sum(1 for regex in regexes if regex.search(folded))

    tagged = [0]
    fast = cpu_rate(len(texts), lambda: tagged.__setitem__(0, sum(bool(matcher.tag(t).matches) for t in texts)))
    slow = cpu_rate(len(baseline_texts), lambda: [naive(t) for t in baseline_texts])
    print(f"\n## Tagging with {len(terms):,} terms ({len(matcher.automaton):,} forms with plurals/feminines), one core\n")
    print(table(["matcher", "texts", "texts/s"], [
        ["Aho-Corasick (`WatchlistMatcher.tag`: folding, inflections, hashtags, spans)", len(texts), f"{fast:,.0f}"],
        ["naive baseline: one regex per term on folded text", len(baseline_texts), f"{slow:,.0f}"],
    ]))
    print(f"\nSpeed-up {fast / slow:,.0f}x, target >= 20x: {'met' if fast / slow >= 20 else 'NOT met'} ({tagged[0]:,} of {len(texts):,} texts tagged).")
    shipped_section(texts, baseline_texts)


def shipped_section(texts: list[str], baseline_texts: list[str]) -> None:
    """The shipped watchlists, rules included, against one regex per term and per group term of theirs: the rules
    must not cost the single pass its lead."""
    watchlists = load_watchlists(WATCHLISTS)
    matcher = WatchlistMatcher(watchlists)
    terms = [term for w in watchlists for n in w.narratives for items in n.terms.values() for term in items]
    terms += [term for w in watchlists for group in w.groups.values() for items in group.values() for term in items]
    regexes = [re.compile(r"(?<!\w)" + re.escape(fold(term.removeprefix("=").removesuffix("*"))) + (r"" if term.endswith("*") else r"(?!\w)")) for term in terms]

    def naive(text: str) -> int:
        folded = fold(text)
        return sum(1 for regex in regexes if regex.search(folded))

    rules = sum(len(items) for w in watchlists for n in w.narratives for items in n.rules.values())
    fast = cpu_rate(len(texts), lambda: [matcher.tag(t) for t in texts])
    slow = cpu_rate(len(baseline_texts), lambda: [naive(t) for t in baseline_texts])
    print(f"\n## Tagging with the shipped watchlists ({len(terms):,} terms and group terms, {rules} rules), one core\n")
    print(table(["matcher", "texts/s"], [["`WatchlistMatcher.tag` (terms, hashtags, patterns, rules)", f"{fast:,.0f}"], ["naive baseline: one regex per term", f"{slow:,.0f}"]]))
    print(f"\nSpeed-up {fast / slow:,.0f}x, target >= 20x: {'met' if fast / slow >= 20 else 'NOT met'}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, help="posts for the throughput run (default 100,000; 20,000 with --quick)")
    parser.add_argument("--quick", action="store_true", help="sample 100 langid texts per file and fewer posts")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the whole enrichment after its throughput")
    args = parser.parse_args()
    posts = args.posts or (20_000 if args.quick else 100_000)
    settings = Settings()
    language = settings.enrich.language
    combined = CombinedDetector(language.languages)
    identifier = LanguageIdentifier(combined, language.min_chars, language.min_confidence)
    enricher = Enricher(identifier, WatchlistMatcher(load_watchlists(WATCHLISTS)), NearDuplicates(settings.enrich.duplicate_threshold, settings.enrich.min_duplicate_words))
    enricher.enrich(raw_posts(2000, seed=99))  # lingua loads its models lazily: measure the steady state
    language_section(combined, 100 if args.quick else None)
    watchlist_section(enricher)
    real_posts_section(enricher.matcher)
    throughput_section(enricher, posts, args.profile)
    tagging_section(2000)


if __name__ == "__main__":
    main()
