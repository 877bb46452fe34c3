-- Mint backlog (PostgreSQL; lockstep with sqlite/0008_mint_backlog.sql):
-- the chain service reads the count and oldest sale of unminted tokens on
-- every tick; this index holds only those rows, so the read stays small as
-- minted history grows.
CREATE INDEX nft_mints_open ON nft_mints (sold_at) WHERE status <> 'minted';
