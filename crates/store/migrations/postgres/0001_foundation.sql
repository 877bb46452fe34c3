-- Foundation schema (PostgreSQL). Times are BIGINT microseconds since the Unix
-- epoch, money BIGINT micro-USDC, ids UUIDs. Kept in lockstep
-- with migrations/sqlite/0001_foundation.sql (same tables, columns, indexes).

CREATE TABLE accounts (
    id              UUID PRIMARY KEY,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'seller', 'buyer')),
    name            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'active',
    wallet_address  TEXT,
    kyc_verified    BOOLEAN NOT NULL DEFAULT FALSE,
    daily_cap       BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX accounts_created ON accounts (created_at DESC, id DESC);

CREATE TABLE api_keys (
    id          UUID PRIMARY KEY,
    account_id  UUID NOT NULL REFERENCES accounts (id),
    key_hash    BYTEA NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_account ON api_keys (account_id);

CREATE TABLE verticals (
    slug        TEXT PRIMARY KEY,
    parent      TEXT,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    position    BIGINT NOT NULL,
    def         JSONB NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE asks (
    id                     UUID PRIMARY KEY,
    seller_id              UUID NOT NULL REFERENCES accounts (id),
    vertical               TEXT NOT NULL,
    countries              JSONB NOT NULL,
    regions                JSONB NOT NULL,
    reserve_price          BIGINT NOT NULL CHECK (reserve_price > 0),
    buy_now_price          BIGINT NOT NULL CHECK (buy_now_price >= reserve_price),
    auction_duration_secs  BIGINT NOT NULL,
    daily_cap              BIGINT NOT NULL,
    status                 TEXT NOT NULL CHECK (status IN ('active', 'paused')),
    expires_at             BIGINT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE INDEX asks_seller ON asks (seller_id, created_at DESC, id DESC);
CREATE INDEX asks_status ON asks (status, created_at DESC, id DESC);
CREATE INDEX asks_seller_vertical ON asks (seller_id, vertical);

CREATE TABLE leads (
    id                     UUID PRIMARY KEY,
    seller_id              UUID NOT NULL REFERENCES accounts (id),
    vertical               TEXT NOT NULL,
    root_vertical          TEXT NOT NULL,
    status                 TEXT NOT NULL,
    country                TEXT NOT NULL,
    region                 TEXT,
    postal_code            TEXT,
    city                   TEXT,
    lat                    DOUBLE PRECISION,
    lng                    DOUBLE PRECISION,
    fields                 JSONB NOT NULL,
    source                 TEXT NOT NULL,
    consent_at             BIGINT,
    consent                JSONB,
    attribution            JSONB,
    score                  BIGINT,
    tier                   TEXT,
    score_breakdown        JSONB,
    ask_id                 UUID,
    reserve_price          BIGINT NOT NULL,
    buy_now_price          BIGINT NOT NULL,
    auction_duration_secs  BIGINT NOT NULL,
    pii_hash               BYTEA NOT NULL,
    correlation_id         TEXT NOT NULL,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL,
    auction_opened_at      BIGINT,
    auction_ends_at        BIGINT,
    bid_count              BIGINT NOT NULL DEFAULT 0,
    seed_hash              BYTEA,
    seed                   BYTEA,
    sold_price             BIGINT,
    buyer_id               UUID,
    sold_at                BIGINT
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
    lead_id     UUID PRIMARY KEY REFERENCES leads (id),
    key_id      TEXT NOT NULL,
    nonce       BYTEA NOT NULL,
    ciphertext  BYTEA NOT NULL
);

CREATE TABLE pii_access_log (
    id              UUID PRIMARY KEY,
    lead_id         UUID NOT NULL REFERENCES leads (id),
    account_id      UUID NOT NULL,
    purpose         TEXT NOT NULL,
    correlation_id  TEXT NOT NULL,
    at              BIGINT NOT NULL
);
CREATE INDEX pii_access_lead ON pii_access_log (lead_id, at);

-- Latest lead per (root vertical, keyed contact hash): the duplicate check
-- is one conditional upsert on this row, exact under concurrency.
CREATE TABLE lead_contacts (
    root_vertical  TEXT NOT NULL,
    contact_hash   BYTEA NOT NULL,
    lead_id        UUID NOT NULL,
    seen_at        BIGINT NOT NULL,
    PRIMARY KEY (root_vertical, contact_hash)
);

-- Exact daily ingestion caps: one counter row per seller, vertical, UTC day.
CREATE TABLE ingest_counters (
    seller_id  UUID NOT NULL,
    vertical   TEXT NOT NULL,
    day        BIGINT NOT NULL,
    count      BIGINT NOT NULL,
    PRIMARY KEY (seller_id, vertical, day)
);

CREATE TABLE idempotency_keys (
    account_id    UUID NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    response      JSONB NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, key)
);

CREATE TABLE jobs (
    id              UUID PRIMARY KEY,
    kind            TEXT NOT NULL,
    vertical        TEXT,
    lead_id         UUID,
    payload         JSONB NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    max_attempts    BIGINT NOT NULL,
    run_at          BIGINT NOT NULL,
    locked_by       TEXT,
    locked_until    BIGINT,
    last_error      TEXT,
    correlation_id  TEXT NOT NULL,
    dedupe_key      TEXT UNIQUE,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX jobs_ready ON jobs (status, run_at);
CREATE INDEX jobs_lead ON jobs (lead_id);
CREATE INDEX jobs_list ON jobs (created_at DESC, id DESC);
