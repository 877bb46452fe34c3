-- Foundation schema (SQLite). Times are INTEGER microseconds since the Unix
-- epoch, money INTEGER micro-USDC, ids 16-byte UUID BLOBs. Kept in lockstep
-- with migrations/postgres/0001_foundation.sql (same tables, columns, indexes).

CREATE TABLE accounts (
    id              BLOB PRIMARY KEY,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'seller', 'buyer')),
    name            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'active',
    wallet_address  TEXT,
    kyc_verified    BOOLEAN NOT NULL DEFAULT FALSE,
    daily_cap       INTEGER,
    created_at      INTEGER NOT NULL
);
CREATE INDEX accounts_created ON accounts (created_at DESC, id DESC);

CREATE TABLE api_keys (
    id          BLOB PRIMARY KEY,
    account_id  BLOB NOT NULL REFERENCES accounts (id),
    key_hash    BLOB NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX api_keys_account ON api_keys (account_id);

CREATE TABLE verticals (
    slug        TEXT PRIMARY KEY,
    parent      TEXT,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    position    INTEGER NOT NULL,
    def         TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE asks (
    id                     BLOB PRIMARY KEY,
    seller_id              BLOB NOT NULL REFERENCES accounts (id),
    vertical               TEXT NOT NULL,
    countries              TEXT NOT NULL,
    regions                TEXT NOT NULL,
    reserve_price          INTEGER NOT NULL CHECK (reserve_price > 0),
    buy_now_price          INTEGER NOT NULL CHECK (buy_now_price >= reserve_price),
    auction_duration_secs  INTEGER NOT NULL,
    daily_cap              INTEGER NOT NULL,
    status                 TEXT NOT NULL CHECK (status IN ('active', 'paused')),
    expires_at             INTEGER,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
);
CREATE INDEX asks_seller ON asks (seller_id, created_at DESC, id DESC);
CREATE INDEX asks_status ON asks (status, created_at DESC, id DESC);
CREATE INDEX asks_seller_vertical ON asks (seller_id, vertical);

CREATE TABLE leads (
    id                     BLOB PRIMARY KEY,
    seller_id              BLOB NOT NULL REFERENCES accounts (id),
    vertical               TEXT NOT NULL,
    root_vertical          TEXT NOT NULL,
    status                 TEXT NOT NULL,
    country                TEXT NOT NULL,
    region                 TEXT,
    postal_code            TEXT,
    city                   TEXT,
    lat                    REAL,
    lng                    REAL,
    fields                 TEXT NOT NULL,
    source                 TEXT NOT NULL,
    consent_at             INTEGER,
    consent                TEXT,
    attribution            TEXT,
    score                  INTEGER,
    tier                   TEXT,
    score_breakdown        TEXT,
    ask_id                 BLOB,
    reserve_price          INTEGER NOT NULL,
    buy_now_price          INTEGER NOT NULL,
    auction_duration_secs  INTEGER NOT NULL,
    pii_hash               BLOB NOT NULL,
    correlation_id         TEXT NOT NULL,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    auction_opened_at      INTEGER,
    auction_ends_at        INTEGER,
    bid_count              INTEGER NOT NULL DEFAULT 0,
    seed_hash              BLOB,
    seed                   BLOB,
    sold_price             INTEGER,
    buyer_id               BLOB,
    sold_at                INTEGER
);
-- Every list is keyset-paginated on (created_at DESC, id DESC); each filter
-- that narrows a hot list has its own composite index ending in that key.
CREATE INDEX leads_feed ON leads (created_at DESC, id DESC);
CREATE INDEX leads_status ON leads (status, created_at DESC, id DESC);
CREATE INDEX leads_seller ON leads (seller_id, created_at DESC, id DESC);
CREATE INDEX leads_vertical ON leads (vertical, created_at DESC, id DESC);
CREATE INDEX leads_root ON leads (root_vertical, created_at DESC, id DESC);
CREATE INDEX leads_buyer ON leads (buyer_id, created_at DESC, id DESC);

CREATE TABLE lead_pii (
    lead_id     BLOB PRIMARY KEY REFERENCES leads (id),
    key_id      TEXT NOT NULL,
    nonce       BLOB NOT NULL,
    ciphertext  BLOB NOT NULL
);

CREATE TABLE pii_access_log (
    id              BLOB PRIMARY KEY,
    lead_id         BLOB NOT NULL REFERENCES leads (id),
    account_id      BLOB NOT NULL,
    purpose         TEXT NOT NULL,
    correlation_id  TEXT NOT NULL,
    at              INTEGER NOT NULL
);
CREATE INDEX pii_access_lead ON pii_access_log (lead_id, at);

-- Latest lead per (root vertical, keyed contact hash): the duplicate check
-- is one conditional upsert on this row, exact under concurrency.
CREATE TABLE lead_contacts (
    root_vertical  TEXT NOT NULL,
    contact_hash   BLOB NOT NULL,
    lead_id        BLOB NOT NULL,
    seen_at        INTEGER NOT NULL,
    PRIMARY KEY (root_vertical, contact_hash)
);

-- Exact daily ingestion caps: one counter row per seller, vertical, UTC day.
CREATE TABLE ingest_counters (
    seller_id  BLOB NOT NULL,
    vertical   TEXT NOT NULL,
    day        INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (seller_id, vertical, day)
);

CREATE TABLE idempotency_keys (
    account_id    BLOB NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    response      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
);

CREATE TABLE jobs (
    id              BLOB PRIMARY KEY,
    kind            TEXT NOT NULL,
    vertical        TEXT,
    lead_id         BLOB,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    run_at          INTEGER NOT NULL,
    locked_by       TEXT,
    locked_until    INTEGER,
    last_error      TEXT,
    correlation_id  TEXT NOT NULL,
    dedupe_key      TEXT UNIQUE,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX jobs_ready ON jobs (status, run_at);
CREATE INDEX jobs_lead ON jobs (lead_id);
CREATE INDEX jobs_list ON jobs (created_at DESC, id DESC);
