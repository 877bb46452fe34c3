-- Custody claims (SQLite; lockstep with postgres/0006_nft_claims.sql): a
-- token minted to the custody address (its buyer had no wallet yet) moves
-- to the buyer's linked wallet on request. `claim_to` is set by the
-- request, `claim_tx_id` by the transfer transaction carrying it.
ALTER TABLE nft_mints ADD COLUMN claim_to TEXT;
ALTER TABLE nft_mints ADD COLUMN claim_tx_id BLOB REFERENCES chain_txs (id);
CREATE INDEX nft_mints_claims ON nft_mints (sold_at) WHERE claim_to IS NOT NULL;
