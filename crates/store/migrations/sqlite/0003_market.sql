-- Market (SQLite; lockstep with postgres/0003_market.sql): the double-entry
-- ledger, bids, auto-bid rules and their decisions, bounty pools.

-- One row per ledger account with its running balance. Ordinary accounts
-- may never go negative (enforced by the conditional update that posts to
-- them and by the CHECK); `escrow` is the contra account of money that
-- crossed the chain boundary, so its balance is minus everything held.
CREATE TABLE ledger_accounts (
    id          TEXT PRIMARY KEY,
    owner_id    BLOB,
    kind        TEXT NOT NULL,
    balance     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    CHECK (balance >= 0 OR kind = 'escrow')
);
CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner_id);

-- Entries of one movement share tx_id and sum to zero.
CREATE TABLE ledger_entries (
    id          BLOB PRIMARY KEY,
    tx_id       BLOB NOT NULL,
    account_id  TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount      INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    reference   TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, created_at DESC, id DESC);
CREATE INDEX ledger_entries_tx ON ledger_entries (tx_id);

CREATE TABLE bids (
    id          BLOB PRIMARY KEY,
    lead_id     BLOB NOT NULL REFERENCES leads (id),
    buyer_id    BLOB NOT NULL REFERENCES accounts (id),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    fee         INTEGER NOT NULL CHECK (fee >= 0),
    source      TEXT NOT NULL CHECK (source IN ('manual', 'auto')),
    rule_id     BLOB,
    status      TEXT NOT NULL CHECK (status IN ('live', 'withdrawn', 'won', 'lost')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
-- At most one live bid per buyer and lead.
CREATE UNIQUE INDEX bids_one_live ON bids (lead_id, buyer_id) WHERE status = 'live';
CREATE INDEX bids_lead ON bids (lead_id, status);
CREATE INDEX bids_buyer ON bids (buyer_id, created_at DESC, id DESC);

CREATE TABLE bid_rules (
    id               BLOB PRIMARY KEY,
    buyer_id         BLOB NOT NULL REFERENCES accounts (id),
    vertical         TEXT NOT NULL,
    def              TEXT NOT NULL,
    priority         INTEGER NOT NULL,
    active           BOOLEAN NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
-- Rules are looked up by the verticals of a lead's lineage (and '*').
CREATE INDEX bid_rules_vertical ON bid_rules (vertical, active);
CREATE INDEX bid_rules_buyer ON bid_rules (buyer_id, created_at DESC, id DESC);

-- Auto-bid amounts placed per rule and UTC day (daily budgets).
CREATE TABLE rule_spend (
    rule_id  BLOB NOT NULL,
    day      INTEGER NOT NULL,
    spent    INTEGER NOT NULL,
    PRIMARY KEY (rule_id, day)
);

CREATE TABLE rule_decisions (
    id          BLOB PRIMARY KEY,
    rule_id     BLOB NOT NULL,
    lead_id     BLOB NOT NULL,
    outcome     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    amount      INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX rule_decisions_rule ON rule_decisions (rule_id, created_at DESC, id DESC);

CREATE TABLE bounty_pools (
    id               BLOB PRIMARY KEY,
    buyer_id         BLOB NOT NULL REFERENCES accounts (id),
    vertical         TEXT NOT NULL,
    account_id       TEXT NOT NULL,
    reward_per_lead  INTEGER NOT NULL CHECK (reward_per_lead > 0),
    criteria         TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('active', 'closed')),
    funded_total     INTEGER NOT NULL,
    expires_at       INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX bounty_pools_vertical ON bounty_pools (vertical, status);
CREATE INDEX bounty_pools_buyer ON bounty_pools (buyer_id, created_at DESC, id DESC);

-- One payout per pool and lead: match_bounties is idempotent.
CREATE TABLE bounty_payouts (
    pool_id     BLOB NOT NULL,
    lead_id     BLOB NOT NULL,
    amount      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (pool_id, lead_id)
);

-- Buy-now listing window and the clearing details of a sale.
ALTER TABLE leads ADD COLUMN listed_until INTEGER;
ALTER TABLE leads ADD COLUMN sale_kind TEXT;
