"""The embedded store's schema, as an ordered list of migrations.

Migration N (1-based) brings a database from `PRAGMA user_version` N-1 to N. Never edit a released migration:
append a new one. Layout, chosen so that filtered counts stay fast at millions of posts:

- `posts` is narrow (integers only, besides the id and cluster): the filters, buckets and distinct counts read it
  and its indexes without touching the text. Only the selective filters have an index (period, source, author,
  cluster); platform and language narrow a period scan, and each index costs every insert. Repeated strings (platform, source, author, language, narratives,
  tags, ...) are interned once in `labels` and referred to by integer id.
- `post_docs` holds the text, the title and the rest of the post as JSON; `post_fts` indexes title and text from
  it (external content). The store updates `post_fts` in the same transaction as `post_docs`, not by triggers:
  a trigger per row made bulk ingest 2.5 times slower.
- `post_labels` holds the multi-valued fields (narratives, tags, matched terms, hashtags, domains, mentions), keyed
  by (label, published, post) so "this narrative over this period" is one index range. It repeats the post's
  platform, source, author and language, so counts per narrative (the dashboard's trend chart) never visit
  `posts`: 85 ms instead of 300 ms for day buckets by narrative over 30 days at a million posts.
- `posts_published` covers the columns that counts group and filter on, for the same reason.
- `key_runs` holds each post's LSH band keys as sorted runs (`store/key_runs.py` says why: migration 2 replaced
  an FTS5 index of them, whose commits cost a quarter of ingest).
- `rekeyed_posts` lists the posts whose band keys changed after they were indexed (or whose number a new post may
  take after a deletion): a lookup checks only their candidates against their current keys, not every candidate's
  document (migration 3 re-indexes the keys, so that no older change is missed).
- `candidates` (migration 4) keeps the candidate narratives the alert cycle proposes, dismissed ones included, as
  `alerts` keeps alerts: the state and update time as columns, the record as JSON.
- `automerge = 8` and a 64 MB `hashsize` let FTS5 buffer more and merge segments less often: bulk ingest at a
  million posts went from 13k to 25k documents/s, for slightly more segments to read per query.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE labels (
        id INTEGER PRIMARY KEY,
        kind INTEGER NOT NULL,
        value TEXT NOT NULL,
        UNIQUE (kind, value)
    );

    CREATE TABLE posts (
        pk INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        published INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        platform INTEGER NOT NULL,
        source INTEGER NOT NULL,
        author INTEGER,
        author_id INTEGER,
        language INTEGER,
        cluster TEXT
    );
    CREATE INDEX posts_published ON posts (published, platform, source, author, language);
    CREATE INDEX posts_source ON posts (source, published);
    CREATE INDEX posts_author ON posts (author, published);
    CREATE INDEX posts_cluster ON posts (cluster, published) WHERE cluster IS NOT NULL;

    CREATE TABLE post_docs (
        pk INTEGER PRIMARY KEY,
        title TEXT,
        text TEXT NOT NULL,
        doc TEXT NOT NULL
    );

    CREATE TABLE post_labels (
        label INTEGER NOT NULL,
        published INTEGER NOT NULL,
        post INTEGER NOT NULL,
        platform INTEGER NOT NULL,
        source INTEGER NOT NULL,
        author INTEGER,
        author_id INTEGER,
        language INTEGER,
        PRIMARY KEY (label, published, post)
    ) WITHOUT ROWID;
    CREATE INDEX post_labels_post ON post_labels (post);

    CREATE VIRTUAL TABLE post_fts USING fts5 (
        title, text,
        content = 'post_docs', content_rowid = 'pk',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO post_fts (post_fts, rank) VALUES ('automerge', 8);
    INSERT INTO post_fts (post_fts, rank) VALUES ('hashsize', 67108864);

    CREATE VIRTUAL TABLE post_keys USING fts5 (
        keys, content = '', detail = none, columnsize = 0
    );
    INSERT INTO post_keys (post_keys, rank) VALUES ('automerge', 16);
    INSERT INTO post_keys (post_keys, rank) VALUES ('crisismerge', 64);
    INSERT INTO post_keys (post_keys, rank) VALUES ('hashsize', 67108864);

    CREATE TABLE crawl_runs (
        id TEXT PRIMARY KEY,
        source_id TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX crawl_runs_source ON crawl_runs (source_id, started_at);
    CREATE INDEX crawl_runs_started ON crawl_runs (started_at);

    CREATE TABLE cursors (
        source_id TEXT PRIMARY KEY,
        cursor TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );

    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX alerts_updated ON alerts (updated_at);

    CREATE TABLE subscriptions (
        id TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        doc TEXT NOT NULL
    );

    CREATE TABLE saved_searches (
        id TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        doc TEXT NOT NULL
    );

    CREATE TABLE outbox (
        id TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        sent_at INTEGER,
        doc TEXT NOT NULL
    );
    CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL;
    """,
    """
    DROP TABLE post_keys;

    CREATE TABLE key_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        level INTEGER NOT NULL,
        size INTEGER NOT NULL,
        keys BLOB NOT NULL,
        posts BLOB NOT NULL
    );
    CREATE INDEX key_runs_level ON key_runs (level);
    """,
    """
    DELETE FROM key_runs;

    CREATE TABLE rekeyed_posts (
        pk INTEGER PRIMARY KEY
    );
    """,
    """
    CREATE TABLE candidates (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX candidates_updated ON candidates (updated_at);
    """,
)
