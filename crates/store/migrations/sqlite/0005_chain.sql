-- The chain (SQLite; lockstep with postgres/0005_chain.sql): tokens to
-- mint, the transactions the hot wallets sent, small chain state, linked
-- buyer wallets.

-- Small chain state: contract addresses, indexer cursors.
CREATE TABLE chain_meta (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL
);

-- uint16 numbers of verticals on chain, assigned on first mint.
CREATE TABLE nft_verticals (
    vertical    TEXT PRIMARY KEY,
    number      INTEGER NOT NULL UNIQUE CHECK (number BETWEEN 1 AND 65535)
);

-- A buyer's wallet, proven with an EIP-4361 signature.
CREATE TABLE buyer_wallets (
    account_id  BLOB PRIMARY KEY REFERENCES accounts (id),
    address     TEXT NOT NULL UNIQUE,
    linked_at   INTEGER NOT NULL
);

-- Every transaction a hot wallet signed. `hashes` lists every attempt
-- (fee-bumped replacements share the nonce), space-separated.
CREATE TABLE chain_txs (
    id                  BLOB PRIMARY KEY,
    kind                TEXT NOT NULL,
    wallet              TEXT NOT NULL,
    nonce               INTEGER NOT NULL,
    hash                TEXT NOT NULL,
    hashes              TEXT NOT NULL,
    raw                 BLOB NOT NULL,
    max_fee_per_gas     TEXT NOT NULL,
    max_priority_fee    TEXT NOT NULL,
    gas_limit           INTEGER NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'reverted', 'dropped')),
    attempts            INTEGER NOT NULL DEFAULT 1,
    block_number        INTEGER,
    gas_used            INTEGER,
    effective_gas_price TEXT,
    error               TEXT,
    correlation_ids     TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    sent_at             INTEGER NOT NULL,
    finished_at         INTEGER
);
CREATE INDEX chain_txs_pending ON chain_txs (created_at) WHERE status = 'pending';
CREATE INDEX chain_txs_kind ON chain_txs (kind, wallet, nonce);

-- One token per sold lead.
CREATE TABLE nft_mints (
    lead_id         BLOB PRIMARY KEY REFERENCES leads (id),
    token_id        TEXT NOT NULL UNIQUE,
    buyer_id        BLOB NOT NULL REFERENCES accounts (id),
    vertical        TEXT NOT NULL,
    vertical_number INTEGER NOT NULL,
    score           INTEGER NOT NULL,
    price_micros    INTEGER NOT NULL,
    sold_at         INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'minted')),
    recipient       TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    chain_tx_id     BLOB REFERENCES chain_txs (id),
    correlation_id  TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    minted_at       INTEGER
);
CREATE INDEX nft_mints_queued ON nft_mints (created_at) WHERE status = 'queued';
CREATE INDEX nft_mints_tx ON nft_mints (chain_tx_id);

-- Single-use EIP-4361 challenges of wallet linking.
CREATE TABLE wallet_challenges (
    nonce       TEXT PRIMARY KEY,
    account_id  BLOB NOT NULL REFERENCES accounts (id),
    address     TEXT NOT NULL,
    message     TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

-- Escrow deposits seen on chain, each credited at most once (the key is
-- the log's identity). `unattributed`: the accountRef names no buyer.
CREATE TABLE chain_deposits (
    tx_hash         TEXT NOT NULL,
    log_index       INTEGER NOT NULL,
    account_id      BLOB,
    from_address    TEXT NOT NULL,
    amount_micros   INTEGER NOT NULL,
    block_number    INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('credited', 'unattributed')),
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (tx_hash, log_index)
);
CREATE INDEX chain_deposits_account ON chain_deposits (account_id);

-- Money leaving the escrow on chain: buyer withdrawals (one withdrawTo
-- each) and seller payouts (many per payoutBatch). The amount sits in the
-- ledger's `outbound` account from the request until the transaction is
-- confirmed (then it leaves the ledger) or reverts (then it goes back).
CREATE TABLE chain_payouts (
    id              BLOB PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('withdrawal', 'payout')),
    account_id      BLOB NOT NULL REFERENCES accounts (id),
    to_address      TEXT NOT NULL,
    amount_micros   INTEGER NOT NULL CHECK (amount_micros > 0),
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'paid', 'failed')),
    chain_tx_id     BLOB REFERENCES chain_txs (id),
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER
);
CREATE INDEX chain_payouts_queued ON chain_payouts (kind, created_at) WHERE status = 'queued';
CREATE INDEX chain_payouts_account ON chain_payouts (account_id, created_at DESC);
