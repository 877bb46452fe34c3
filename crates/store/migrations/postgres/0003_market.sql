-- Market (PostgreSQL; lockstep with sqlite/0003_market.sql): the double-entry
-- ledger, bids, auto-bid rules and their decisions, bounty pools.

-- One row per ledger account with its running balance. Ordinary accounts
-- may never go negative (enforced by the conditional update that posts to
-- them and by the CHECK); `escrow` is the contra account of money that
-- crossed the chain boundary, so its balance is minus everything held.
CREATE TABLE ledger_accounts (
    id          TEXT PRIMARY KEY,
    owner_id    UUID,
    kind        TEXT NOT NULL,
    balance     BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    CHECK (balance >= 0 OR kind = 'escrow')
);
CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner_id);

-- Entries of one movement share tx_id and sum to zero.
CREATE TABLE ledger_entries (
    id          UUID PRIMARY KEY,
    tx_id       UUID NOT NULL,
    account_id  TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount      BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    reference   TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, created_at DESC, id DESC);
CREATE INDEX ledger_entries_tx ON ledger_entries (tx_id);

CREATE TABLE bids (
    id          UUID PRIMARY KEY,
    lead_id     UUID NOT NULL REFERENCES leads (id),
    buyer_id    UUID NOT NULL REFERENCES accounts (id),
    amount      BIGINT NOT NULL CHECK (amount > 0),
    fee         BIGINT NOT NULL CHECK (fee >= 0),
    source      TEXT NOT NULL CHECK (source IN ('manual', 'auto')),
    rule_id     UUID,
    status      TEXT NOT NULL CHECK (status IN ('live', 'withdrawn', 'won', 'lost')),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
-- At most one live bid per buyer and lead.
CREATE UNIQUE INDEX bids_one_live ON bids (lead_id, buyer_id) WHERE status = 'live';
CREATE INDEX bids_lead ON bids (lead_id, status);
CREATE INDEX bids_buyer ON bids (buyer_id, created_at DESC, id DESC);

CREATE TABLE bid_rules (
    id               UUID PRIMARY KEY,
    buyer_id         UUID NOT NULL REFERENCES accounts (id),
    vertical         TEXT NOT NULL,
    def              JSONB NOT NULL,
    priority         BIGINT NOT NULL,
    active           BOOLEAN NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
-- Rules are looked up by the verticals of a lead's lineage (and '*').
CREATE INDEX bid_rules_vertical ON bid_rules (vertical, active);
CREATE INDEX bid_rules_buyer ON bid_rules (buyer_id, created_at DESC, id DESC);

-- Auto-bid amounts placed per rule and UTC day (daily budgets).
CREATE TABLE rule_spend (
    rule_id  UUID NOT NULL,
    day      BIGINT NOT NULL,
    spent    BIGINT NOT NULL,
    PRIMARY KEY (rule_id, day)
);

CREATE TABLE rule_decisions (
    id          UUID PRIMARY KEY,
    rule_id     UUID NOT NULL,
    lead_id     UUID NOT NULL,
    outcome     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    amount      BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX rule_decisions_rule ON rule_decisions (rule_id, created_at DESC, id DESC);

CREATE TABLE bounty_pools (
    id               UUID PRIMARY KEY,
    buyer_id         UUID NOT NULL REFERENCES accounts (id),
    vertical         TEXT NOT NULL,
    account_id       TEXT NOT NULL,
    reward_per_lead  BIGINT NOT NULL CHECK (reward_per_lead > 0),
    criteria         JSONB NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('active', 'closed')),
    funded_total     BIGINT NOT NULL,
    expires_at       BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX bounty_pools_vertical ON bounty_pools (vertical, status);
CREATE INDEX bounty_pools_buyer ON bounty_pools (buyer_id, created_at DESC, id DESC);

-- One payout per pool and lead: match_bounties is idempotent.
CREATE TABLE bounty_payouts (
    pool_id     UUID NOT NULL,
    lead_id     UUID NOT NULL,
    amount      BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (pool_id, lead_id)
);

-- Buy-now listing window and the clearing details of a sale.
ALTER TABLE leads ADD COLUMN listed_until BIGINT;
ALTER TABLE leads ADD COLUMN sale_kind TEXT;
