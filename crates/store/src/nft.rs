//! The chain bookkeeping of [`NftStore`] on both engines: tokens to mint,
//! hot-wallet transactions, chain settings. Every state change is a
//! conditional update on the row's current status.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leadex_core::clock::from_micros;
use leadex_core::nft::{
    ChainTx, Mint, MintStatus, NewChainTx, NewMint, NftStore, Payout, PayoutKind, TraceStep, TxOutcome, TxReplacement,
    TxStatus, WalletChallenge,
};
use leadex_core::ports::StoreError;
use leadex_domain::{AccountId, LeadId};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use crate::market::{PAYOUT_COLUMNS, PayoutRow};
use crate::{BeginWrite, Db, SqlStore, map_err, micros};

#[derive(sqlx::FromRow)]
struct MintRow {
    lead_id: Uuid,
    token_id: String,
    buyer_id: Uuid,
    vertical: String,
    vertical_number: i64,
    score: i64,
    price_micros: i64,
    sold_at: i64,
    status: String,
    recipient: Option<String>,
    attempts: i64,
    chain_tx_id: Option<Uuid>,
    correlation_id: String,
    minted_at: Option<i64>,
    claim_to: Option<String>,
}

const MINT_COLUMNS: &str = "m.lead_id, m.token_id, m.buyer_id, m.vertical, m.vertical_number, m.score, \
    m.price_micros, m.sold_at, m.status, m.recipient, m.attempts, m.chain_tx_id, m.correlation_id, m.minted_at, \
    m.claim_to";

impl TryFrom<MintRow> for Mint {
    type Error = StoreError;
    fn try_from(r: MintRow) -> Result<Self, StoreError> {
        let corrupt = |c: &str| StoreError::Corrupt(format!("nft_mints.{c}"));
        Ok(Mint {
            lead_id: LeadId::from_uuid(r.lead_id),
            token_id: r.token_id,
            buyer_id: AccountId::from_uuid(r.buyer_id),
            vertical: r.vertical,
            vertical_number: u16::try_from(r.vertical_number).map_err(|_| corrupt("vertical_number"))?,
            score: u16::try_from(r.score).map_err(|_| corrupt("score"))?,
            price_micros: r.price_micros,
            sold_at: from_micros(r.sold_at),
            status: MintStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?,
            recipient: r.recipient,
            attempts: u32::try_from(r.attempts).map_err(|_| corrupt("attempts"))?,
            chain_tx_id: r.chain_tx_id,
            correlation_id: r.correlation_id,
            minted_at: r.minted_at.map(from_micros),
            claim_to: r.claim_to,
        })
    }
}

#[derive(sqlx::FromRow)]
struct TxRow {
    id: Uuid,
    kind: String,
    wallet: String,
    nonce: i64,
    hash: String,
    hashes: String,
    raw: Vec<u8>,
    max_fee_per_gas: String,
    max_priority_fee: String,
    gas_limit: i64,
    status: String,
    attempts: i64,
    block_number: Option<i64>,
    gas_used: Option<i64>,
    effective_gas_price: Option<String>,
    error: Option<String>,
    correlation_ids: String,
    created_at: i64,
    sent_at: i64,
    finished_at: Option<i64>,
}

const TX_COLUMNS: &str = "id, kind, wallet, nonce, hash, hashes, raw, max_fee_per_gas, max_priority_fee, gas_limit, \
    status, attempts, block_number, gas_used, effective_gas_price, error, correlation_ids, created_at, sent_at, \
    finished_at";

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

impl TryFrom<TxRow> for ChainTx {
    type Error = StoreError;
    fn try_from(r: TxRow) -> Result<Self, StoreError> {
        let corrupt = |c: &str| StoreError::Corrupt(format!("chain_txs.{c}"));
        let wei = |s: &str, c: &str| s.parse::<u128>().map_err(|_| corrupt(c));
        Ok(ChainTx {
            id: r.id,
            kind: r.kind,
            wallet: r.wallet,
            nonce: u64::try_from(r.nonce).map_err(|_| corrupt("nonce"))?,
            hash: r.hash,
            hashes: words(&r.hashes),
            raw: r.raw,
            max_fee_per_gas: wei(&r.max_fee_per_gas, "max_fee_per_gas")?,
            max_priority_fee_per_gas: wei(&r.max_priority_fee, "max_priority_fee")?,
            gas_limit: u64::try_from(r.gas_limit).map_err(|_| corrupt("gas_limit"))?,
            status: TxStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?,
            attempts: u32::try_from(r.attempts).map_err(|_| corrupt("attempts"))?,
            block_number: r.block_number.map(|b| b.max(0) as u64),
            gas_used: r.gas_used.map(|g| g.max(0) as u64),
            effective_gas_price: r.effective_gas_price.map(|p| wei(&p, "effective_gas_price")).transpose()?,
            error: r.error,
            correlation_ids: words(&r.correlation_ids),
            created_at: from_micros(r.created_at),
            sent_at: from_micros(r.sent_at),
            finished_at: r.finished_at.map(from_micros),
        })
    }
}

/// Inserts a [`NewChainTx`] as a pending `chain_txs` row (inside the
/// caller's transaction).
macro_rules! insert_chain_tx {
    ($exec:expr, $t:expr) => {{
        let t: &NewChainTx = $t;
        sqlx::query(
            "INSERT INTO chain_txs (id, kind, wallet, nonce, hash, hashes, raw, max_fee_per_gas, max_priority_fee,
                                    gas_limit, status, attempts, correlation_ids, created_at, sent_at)
             VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, 'pending', 1, $10, $11, $11)",
        )
        .bind(t.id)
        .bind(&t.kind)
        .bind(&t.wallet)
        .bind(t.nonce as i64)
        .bind(&t.hash)
        .bind(&t.raw)
        .bind(t.max_fee_per_gas.to_string())
        .bind(t.max_priority_fee_per_gas.to_string())
        .bind(t.gas_limit as i64)
        .bind(t.correlation_ids.join(" "))
        .bind(micros(t.created_at))
        .execute($exec)
        .await
        .map(|_| ())
        .map_err(map_err)
    }};
}

/// Moves a transaction's `sending` mints back to `queued` (a new batch
/// will carry them); evaluates to the rows moved.
macro_rules! requeue_mints {
    ($exec:expr, $tx_id:expr) => {
        sqlx::query(
            "UPDATE nft_mints SET status = 'queued', attempts = attempts + 1, chain_tx_id = NULL
             WHERE chain_tx_id = $1 AND status = 'sending'",
        )
        .bind($tx_id)
        .execute($exec)
        .await
        .map(|r| r.rows_affected())
        .map_err(map_err)
    };
}

/// Numbers a vertical at its first token: `MAX + 1` (callers serialise it:
/// SQLite's one writer, a table lock on PostgreSQL).
pub(crate) const NUMBER_VERTICAL: &str = "INSERT INTO nft_verticals (vertical, number)
     SELECT $1, COALESCE(MAX(number), 0) + 1 FROM nft_verticals WHERE true
     ON CONFLICT (vertical) DO NOTHING";

#[async_trait]
impl NftStore for SqlStore {
    async fn queue_mint(&self, m: &NewMint) -> Result<bool, StoreError> {
        // SQLite: recorded with whatever other mints are waiting, in one
        // transaction (groups.rs); this per-lead transaction is
        // PostgreSQL's path and the group's fallback.
        if let Db::Sqlite { mints, .. } = &self.db
            && let Some(queued) = crate::groups::submit(mints, m).await
        {
            return Ok(queued);
        }
        let pg = self.postgres();
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let known: Option<i64> = sqlx::query_scalar("SELECT number FROM nft_verticals WHERE vertical = $1")
                .bind(&m.vertical)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
            if known.is_none() {
                // A vertical's first token numbers it: MAX + 1. Two first
                // mints of different verticals would both take the same
                // number (a unique violation ON CONFLICT (vertical) does not
                // cover), so PostgreSQL numbers one vertical at a time
                // (SQLite has one writer). Happens once per vertical.
                if pg {
                    sqlx::query("LOCK TABLE nft_verticals IN SHARE ROW EXCLUSIVE MODE")
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                }
                sqlx::query(NUMBER_VERTICAL).bind(&m.vertical).execute(&mut *tx).await.map_err(map_err)?;
            }
            let n = sqlx::query(
                "INSERT INTO nft_mints (lead_id, token_id, buyer_id, vertical, vertical_number, score, price_micros,
                                        sold_at, status, attempts, correlation_id, created_at)
                 SELECT $1, $2, $3, $4, v.number, $5, $6, $7, 'queued', 0, $8, $9
                 FROM nft_verticals v WHERE v.vertical = $4
                 ON CONFLICT (lead_id) DO NOTHING",
            )
            .bind(m.lead_id.as_uuid())
            .bind(&m.token_id)
            .bind(m.buyer_id.as_uuid())
            .bind(&m.vertical)
            .bind(i64::from(m.score))
            .bind(m.price_micros)
            .bind(micros(m.sold_at))
            .bind(&m.correlation_id)
            .bind(micros(m.created_at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
            tx.commit().await.map_err(map_err)?;
            Ok(n == 1)
        })
    }

    async fn next_mints(&self, limit: usize, custody: &str) -> Result<Vec<Mint>, StoreError> {
        let sql = format!(
            "SELECT {MINT_COLUMNS}, w.address AS linked FROM nft_mints m
             LEFT JOIN buyer_wallets w ON w.account_id = m.buyer_id
             WHERE m.status = 'queued' ORDER BY m.created_at, m.lead_id LIMIT $1"
        );
        let rows: Vec<MintRowWithWallet> = with_pool!(self, fresh, |p| sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(limit as i64)
            .fetch_all(p)
            .await
            .map_err(map_err))?;
        rows.into_iter()
            .map(|r| {
                let recipient = r.linked.clone().unwrap_or_else(|| custody.to_owned());
                let mut m = Mint::try_from(r.mint)?;
                m.recipient = Some(recipient);
                Ok(m)
            })
            .collect()
    }

    async fn record_tx(&self, t: &NewChainTx, leads: &[(LeadId, String)]) -> Result<bool, StoreError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            insert_chain_tx!(&mut *tx, t)?;
            for (lead, recipient) in leads {
                let n = sqlx::query(
                    "UPDATE nft_mints SET status = 'sending', chain_tx_id = $1, recipient = $2
                     WHERE lead_id = $3 AND status = 'queued'",
                )
                .bind(t.id)
                .bind(recipient)
                .bind(lead.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected();
                if n != 1 {
                    tx.rollback().await.map_err(map_err)?;
                    return Ok(false);
                }
            }
            tx.commit().await.map_err(map_err)?;
            Ok(true)
        })
    }

    async fn pending_txs(&self) -> Result<Vec<ChainTx>, StoreError> {
        let sql = format!("SELECT {TX_COLUMNS} FROM chain_txs WHERE status = 'pending' ORDER BY created_at, nonce");
        let rows: Vec<TxRow> = with_pool!(self, fresh, |p| sqlx::query_as(AssertSqlSafe(sql.clone()))
            .fetch_all(p)
            .await
            .map_err(map_err))?;
        rows.into_iter().map(ChainTx::try_from).collect()
    }

    async fn replace_tx(&self, r: &TxReplacement) -> Result<bool, StoreError> {
        with_pool!(self, write, |p| sqlx::query(
            "UPDATE chain_txs SET hash = $2, hashes = hashes || ' ' || $2, raw = $3, max_fee_per_gas = $4,
                    max_priority_fee = $5, attempts = attempts + 1, sent_at = $6
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(r.id)
        .bind(&r.hash)
        .bind(&r.raw)
        .bind(r.max_fee_per_gas.to_string())
        .bind(r.max_priority_fee_per_gas.to_string())
        .bind(micros(r.at))
        .execute(p)
        .await
        .map(|x| x.rows_affected() == 1)
        .map_err(map_err))
    }

    async fn finish_tx(&self, o: &TxOutcome) -> Result<Vec<Mint>, StoreError> {
        let sql = format!("SELECT {MINT_COLUMNS} FROM nft_mints m WHERE m.chain_tx_id = $1 AND m.status = 'minted'");
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let status = if o.success { TxStatus::Confirmed } else { TxStatus::Reverted };
            let n = sqlx::query(
                "UPDATE chain_txs SET status = $2, hash = $3, block_number = $4, gas_used = $5,
                        effective_gas_price = $6, finished_at = $7,
                        error = CASE WHEN $2 = 'reverted' THEN 'reverted on chain' ELSE NULL END
                 WHERE id = $1 AND status = 'pending'",
            )
            .bind(o.id)
            .bind(status.as_str())
            .bind(&o.hash)
            .bind(o.block_number as i64)
            .bind(o.gas_used as i64)
            .bind(o.effective_gas_price.to_string())
            .bind(micros(o.at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
            if n != 1 {
                tx.rollback().await.map_err(map_err)?;
                return Ok(Vec::new());
            }
            if !o.success {
                requeue_mints!(&mut *tx, o.id)?;
                tx.commit().await.map_err(map_err)?;
                return Ok(Vec::new());
            }
            sqlx::query(
                "UPDATE nft_mints SET status = 'minted', minted_at = $2 WHERE chain_tx_id = $1 AND status = 'sending'",
            )
            .bind(o.id)
            .bind(micros(o.at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            let rows: Vec<MintRow> =
                sqlx::query_as(AssertSqlSafe(sql.clone())).bind(o.id).fetch_all(&mut *tx).await.map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            rows.into_iter().map(Mint::try_from).collect()
        })
    }

    async fn drop_tx(&self, id: Uuid, error: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let n = sqlx::query(
                "UPDATE chain_txs SET status = 'dropped', error = $2, finished_at = $3 WHERE id = $1 AND status = 'pending'",
            )
            .bind(id)
            .bind(error)
            .bind(micros(at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
            if n == 1 {
                requeue_mints!(&mut *tx, id)?;
            }
            tx.commit().await.map_err(map_err)?;
            Ok(n == 1)
        })
    }

    async fn adopt_minted(&self, leads: &[(LeadId, String)], at: DateTime<Utc>) -> Result<u64, StoreError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let mut total = 0;
            for (lead, owner) in leads {
                total += sqlx::query(
                    "UPDATE nft_mints SET status = 'minted', recipient = $2, minted_at = $3
                     WHERE lead_id = $1 AND status = 'queued'",
                )
                .bind(lead.as_uuid())
                .bind(owner)
                .bind(micros(at))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected();
            }
            tx.commit().await.map_err(map_err)?;
            Ok(total)
        })
    }

    async fn mint_by_token(&self, token_id: &str) -> Result<Option<Mint>, StoreError> {
        let sql = format!("SELECT {MINT_COLUMNS} FROM nft_mints m WHERE m.token_id = $1");
        let row: Option<MintRow> = with_pool!(self, fresh, |p| sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(token_id)
            .fetch_optional(p)
            .await
            .map_err(map_err))?;
        row.map(Mint::try_from).transpose()
    }

    async fn mint_by_lead(&self, lead: LeadId) -> Result<Option<Mint>, StoreError> {
        let sql = format!("SELECT {MINT_COLUMNS} FROM nft_mints m WHERE m.lead_id = $1");
        let row: Option<MintRow> = with_pool!(self, fresh, |p| sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(lead.as_uuid())
            .fetch_optional(p)
            .await
            .map_err(map_err))?;
        row.map(Mint::try_from).transpose()
    }

    async fn mint_counts(&self) -> Result<Vec<(MintStatus, u64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            with_pool!(self, fresh, |p| sqlx::query_as("SELECT status, COUNT(*) FROM nft_mints GROUP BY status")
                .fetch_all(p)
                .await
                .map_err(map_err))?;
        rows.into_iter()
            .map(|(s, n)| {
                let st = MintStatus::parse(&s).ok_or_else(|| StoreError::Corrupt("nft_mints.status".into()))?;
                Ok((st, n.max(0) as u64))
            })
            .collect()
    }

    async fn mint_backlog(&self) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        let (n, oldest): (i64, Option<i64>) = with_pool!(self, fresh, |p| sqlx::query_as(
            "SELECT COUNT(*), MIN(sold_at) FROM nft_mints WHERE status <> 'minted'"
        )
        .fetch_one(p)
        .await
        .map_err(map_err))?;
        Ok((n.max(0) as u64, oldest.map(from_micros)))
    }

    async fn chain_txs(&self, kind: &str) -> Result<Vec<ChainTx>, StoreError> {
        let sql = format!("SELECT {TX_COLUMNS} FROM chain_txs WHERE kind = $1 ORDER BY wallet, nonce, created_at");
        let rows: Vec<TxRow> = with_pool!(self, fresh, |p| sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(kind)
            .fetch_all(p)
            .await
            .map_err(map_err))?;
        rows.into_iter().map(ChainTx::try_from).collect()
    }

    async fn create_challenge(&self, c: &WalletChallenge) -> Result<(), StoreError> {
        with_pool!(self, write, |p| {
            sqlx::query(
            "INSERT INTO wallet_challenges (nonce, account_id, address, message, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&c.nonce)
        .bind(c.account_id.as_uuid())
        .bind(&c.address)
        .bind(&c.message)
        .bind(micros(c.expires_at))
        .execute(p)
        .await
        .map(|_| ())
        .map_err(map_err)
        })
    }

    async fn use_challenge_and_link(
        &self,
        nonce: &str,
        account: AccountId,
        message: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<WalletChallenge>, StoreError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let row: Option<(String, i64)> = sqlx::query_as(
                "UPDATE wallet_challenges SET used_at = $4
                 WHERE nonce = $1 AND account_id = $2 AND message = $3 AND used_at IS NULL AND expires_at > $4
                 RETURNING address, expires_at",
            )
            .bind(nonce)
            .bind(account.as_uuid())
            .bind(message)
            .bind(micros(at))
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            let Some((address, expires_at)) = row else {
                tx.rollback().await.map_err(map_err)?;
                return Ok(None);
            };
            sqlx::query(
                "INSERT INTO buyer_wallets (account_id, address, linked_at) VALUES ($1, $2, $3)
                 ON CONFLICT (account_id) DO UPDATE SET address = excluded.address, linked_at = excluded.linked_at",
            )
            .bind(account.as_uuid())
            .bind(&address)
            .bind(micros(at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            Ok(Some(WalletChallenge {
                nonce: nonce.to_owned(),
                account_id: account,
                address,
                message: message.to_owned(),
                expires_at: from_micros(expires_at),
            }))
        })
    }

    async fn linked_wallet(&self, account: AccountId) -> Result<Option<String>, StoreError> {
        with_pool!(self, fresh, |p| sqlx::query_scalar("SELECT address FROM buyer_wallets WHERE account_id = $1")
            .bind(account.as_uuid())
            .fetch_optional(p)
            .await
            .map_err(map_err))
    }

    async fn record_deposit(&self, d: &leadex_core::nft::ChainDeposit) -> Result<bool, StoreError> {
        self.record_deposit_tx(d).await
    }

    async fn is_buyer(&self, account: AccountId) -> Result<bool, StoreError> {
        let n: i64 = with_pool!(self, fresh, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM accounts WHERE id = $1 AND role = 'buyer'"
        )
        .bind(account.as_uuid())
        .fetch_one(p)
        .await
        .map_err(map_err))?;
        Ok(n > 0)
    }

    async fn request_withdrawal(&self, p: &Payout) -> Result<bool, StoreError> {
        self.request_withdrawal_tx(p).await
    }

    async fn queue_seller_payouts(&self, min_micros: i64, at: DateTime<Utc>) -> Result<u64, StoreError> {
        self.queue_seller_payouts_tx(min_micros, at).await
    }

    async fn next_payouts(&self, kind: PayoutKind, limit: usize) -> Result<Vec<Payout>, StoreError> {
        let sql = format!(
            "SELECT {PAYOUT_COLUMNS} FROM chain_payouts WHERE kind = $1 AND status = 'queued' ORDER BY created_at, id LIMIT $2"
        );
        let rows: Vec<PayoutRow> = with_pool!(self, fresh, |p| sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(kind.as_str())
            .bind(limit as i64)
            .fetch_all(p)
            .await
            .map_err(map_err))?;
        rows.into_iter().map(Payout::try_from).collect()
    }

    async fn record_payout_tx(&self, t: &NewChainTx, payouts: &[Uuid]) -> Result<bool, StoreError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            insert_chain_tx!(&mut *tx, t)?;
            for id in payouts {
                let n = sqlx::query(
                    "UPDATE chain_payouts SET status = 'sending', chain_tx_id = $1 WHERE id = $2 AND status = 'queued'",
                )
                .bind(t.id)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected();
                if n != 1 {
                    tx.rollback().await.map_err(map_err)?;
                    return Ok(false);
                }
            }
            tx.commit().await.map_err(map_err)?;
            Ok(true)
        })
    }

    async fn settle_payouts(&self, at: DateTime<Utc>) -> Result<u64, StoreError> {
        self.settle_payouts_tx(at).await
    }

    async fn payouts_of(&self, account: AccountId, limit: usize) -> Result<Vec<Payout>, StoreError> {
        let sql = format!(
            "SELECT {PAYOUT_COLUMNS} FROM chain_payouts WHERE account_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let rows: Vec<PayoutRow> = with_pool!(self, fresh, |p| sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(account.as_uuid())
            .bind(limit as i64)
            .fetch_all(p)
            .await
            .map_err(map_err))?;
        rows.into_iter().map(Payout::try_from).collect()
    }

    async fn obligations(&self) -> Result<i64, StoreError> {
        with_pool!(self, fresh, |p| sqlx::query_scalar::<_, i64>(
            "SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT) FROM ledger_accounts WHERE kind <> 'escrow'"
        )
        .fetch_one(p)
        .await
        .map_err(map_err))
    }

    async fn request_claims(&self, account: AccountId, custody: &str, to: &str) -> Result<u64, StoreError> {
        with_pool!(self, write, |p| sqlx::query(
            "UPDATE nft_mints SET claim_to = $3
             WHERE buyer_id = $1 AND status = 'minted' AND recipient = $2 AND claim_to IS NULL",
        )
        .bind(account.as_uuid())
        .bind(custody)
        .bind(to)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        .map_err(map_err))
    }

    async fn next_claims(&self, limit: usize) -> Result<Vec<Mint>, StoreError> {
        let sql = format!(
            "SELECT {MINT_COLUMNS} FROM nft_mints m
             WHERE m.claim_to IS NOT NULL AND m.claim_tx_id IS NULL ORDER BY m.sold_at, m.lead_id LIMIT $1"
        );
        let rows: Vec<MintRow> = with_pool!(self, fresh, |p| sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(limit as i64)
            .fetch_all(p)
            .await
            .map_err(map_err))?;
        rows.into_iter().map(Mint::try_from).collect()
    }

    async fn record_claim_tx(&self, t: &NewChainTx, lead: LeadId) -> Result<bool, StoreError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            insert_chain_tx!(&mut *tx, t)?;
            let n = sqlx::query(
                "UPDATE nft_mints SET claim_tx_id = $1 WHERE lead_id = $2 AND claim_to IS NOT NULL AND claim_tx_id IS NULL",
            )
            .bind(t.id)
            .bind(lead.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
            if n != 1 {
                tx.rollback().await.map_err(map_err)?;
                return Ok(false);
            }
            tx.commit().await.map_err(map_err)?;
            Ok(true)
        })
    }

    async fn settle_claims(&self) -> Result<u64, StoreError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let done = sqlx::query(
                "UPDATE nft_mints SET recipient = claim_to, claim_to = NULL, claim_tx_id = NULL
                 WHERE claim_tx_id IN (SELECT id FROM chain_txs WHERE status = 'confirmed')",
            )
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
            sqlx::query(
                "UPDATE nft_mints SET claim_tx_id = NULL
                 WHERE claim_tx_id IN (SELECT id FROM chain_txs WHERE status IN ('reverted', 'dropped'))",
            )
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            Ok(done)
        })
    }

    async fn finish_claim(&self, lead: LeadId, owner: &str) -> Result<(), StoreError> {
        with_pool!(self, write, |p| sqlx::query(
            "UPDATE nft_mints SET recipient = $2, claim_to = NULL, claim_tx_id = NULL
             WHERE lead_id = $1 AND claim_to IS NOT NULL AND claim_tx_id IS NULL",
        )
        .bind(lead.as_uuid())
        .bind(owner)
        .execute(p)
        .await
        .map(|_| ())
        .map_err(map_err))
    }

    async fn trace(&self, cid: &str) -> Result<Vec<TraceStep>, StoreError> {
        use serde_json::json;
        type LeadRow = (Uuid, String, String, Option<i64>, i64, Option<i64>, Option<i64>, Option<i64>);
        type JobRow = (Uuid, String, String, i64, Option<String>, String, i64, i64, Option<Uuid>);
        type BidRow = (Uuid, Uuid, Uuid, i64, i64, String, String, i64);
        type EntryRow = (String, i64, String, String, i64);
        let leads: Vec<LeadRow> = with_pool!(self, fresh, |p| sqlx::query_as(
            "SELECT id, vertical, status, score, created_at, auction_opened_at, sold_at, sold_price
             FROM leads WHERE correlation_id = $1 ORDER BY created_at LIMIT 100"
        )
        .bind(cid)
        .fetch_all(p)
        .await
        .map_err(map_err))?;
        let mut steps = Vec::new();
        let step = |at: i64, stage: &str, lead: Option<Uuid>, detail: serde_json::Value| TraceStep {
            at: from_micros(at),
            stage: stage.to_owned(),
            lead_id: lead.map(LeadId::from_uuid),
            detail,
        };
        let mut tx_ids: Vec<Uuid> = Vec::new();
        for (id, vertical, status, score, created, opened, sold_at, price) in &leads {
            steps.push(step(*created, "lead.ingested", Some(*id), json!({"vertical": vertical, "status": status})));
            if let Some(at) = opened {
                steps.push(step(*at, "auction.opened", Some(*id), json!({"score": score})));
            }
            if let Some(at) = sold_at {
                let price = price.map(|p| leadex_domain::Money::from_micros(p).to_string());
                steps.push(step(*at, "lead.sold", Some(*id), json!({"price": price})));
            }
            let jobs: Vec<JobRow> = with_pool!(self, fresh, |p| sqlx::query_as(
                "SELECT id, kind, status, attempts, last_error, correlation_id, created_at, updated_at, lead_id
                 FROM jobs WHERE lead_id = $1 ORDER BY created_at"
            )
            .bind(id)
            .fetch_all(p)
            .await
            .map_err(map_err))?;
            for (jid, kind, jstatus, attempts, err, jcid, jcreated, jupdated, _) in jobs {
                steps.push(step(
                    jcreated,
                    &format!("job.{kind}"),
                    Some(*id),
                    json!({"job_id": jid, "status": jstatus, "attempts": attempts, "last_error": err,
                           "correlation_id": jcid, "updated_at": from_micros(jupdated)}),
                ));
            }
            let bids: Vec<BidRow> = with_pool!(self, fresh, |p| sqlx::query_as(
                "SELECT id, lead_id, buyer_id, amount, fee, source, status, created_at FROM bids WHERE lead_id = $1"
            )
            .bind(id)
            .fetch_all(p)
            .await
            .map_err(map_err))?;
            for (bid, _, buyer, amount, fee, source, bstatus, at) in bids {
                let m = |v: i64| leadex_domain::Money::from_micros(v).to_string();
                steps.push(step(
                    at,
                    "bid",
                    Some(*id),
                    json!({"bid_id": bid, "buyer_id": buyer, "amount": m(amount), "fee": m(fee), "source": source, "status": bstatus}),
                ));
            }
            let reference = format!("lead:{id}");
            let entries: Vec<EntryRow> = with_pool!(self, fresh, |p| sqlx::query_as(
                "SELECT account_id, amount, reason, reference, created_at FROM ledger_entries WHERE reference = $1"
            )
            .bind(&reference)
            .fetch_all(p)
            .await
            .map_err(map_err))?;
            for (account, amount, reason, _, at) in entries {
                steps.push(step(
                    at,
                    "ledger",
                    Some(*id),
                    json!({"account": account, "amount_micros": amount, "reason": reason}),
                ));
            }
            let sql = format!("SELECT {MINT_COLUMNS}, m.created_at AS queued_at FROM nft_mints m WHERE m.lead_id = $1");
            let row: Option<MintRowWithQueued> =
                with_pool!(self, fresh, |p| sqlx::query_as(AssertSqlSafe(sql.clone()))
                    .bind(id)
                    .fetch_optional(p)
                    .await
                    .map_err(map_err))?;
            if let Some(r) = row {
                let queued_at = r.queued_at;
                let m = Mint::try_from(r.mint)?;
                steps.push(step(queued_at, "nft.queued", Some(*id), json!({"token_id": m.token_id})));
                if let Some(t) = m.chain_tx_id {
                    tx_ids.push(t);
                }
                if let Some(at) = m.minted_at {
                    steps.push(step(
                        at.timestamp_micros(),
                        "nft.minted",
                        Some(*id),
                        json!({"token_id": m.token_id, "owner": m.recipient, "chain_tx_id": m.chain_tx_id}),
                    ));
                }
            }
        }
        tx_ids.sort_unstable();
        tx_ids.dedup();
        for t in tx_ids {
            let sql = format!("SELECT {TX_COLUMNS} FROM chain_txs WHERE id = $1");
            let row: Option<TxRow> = with_pool!(self, fresh, |p| sqlx::query_as(AssertSqlSafe(sql.clone()))
                .bind(t)
                .fetch_optional(p)
                .await
                .map_err(map_err))?;
            let Some(row) = row else { continue };
            let tx = ChainTx::try_from(row)?;
            let detail = json!({"chain_tx_id": tx.id, "kind": tx.kind, "wallet": tx.wallet, "nonce": tx.nonce,
                "hash": tx.hash, "status": tx.status, "attempts": tx.attempts, "block_number": tx.block_number,
                "gas_used": tx.gas_used, "carries_correlation_id": tx.correlation_ids.iter().any(|c| c == cid)});
            steps.push(TraceStep {
                at: tx.created_at,
                stage: "chain.tx_sent".into(),
                lead_id: None,
                detail: detail.clone(),
            });
            if let Some(at) = tx.finished_at {
                steps.push(TraceStep { at, stage: format!("chain.tx_{}", tx.status.as_str()), lead_id: None, detail });
            }
        }
        steps.sort_by_key(|s| s.at);
        Ok(steps)
    }

    async fn chain_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        with_pool!(self, fresh, |p| sqlx::query_scalar("SELECT value FROM chain_meta WHERE key = $1")
            .bind(key)
            .fetch_optional(p)
            .await
            .map_err(map_err))
    }

    async fn set_chain_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        with_pool!(self, write, |p| {
            sqlx::query(
            "INSERT INTO chain_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(p)
        .await
        .map(|_| ())
        .map_err(map_err)
        })
    }
}

#[derive(sqlx::FromRow)]
struct MintRowWithQueued {
    #[sqlx(flatten)]
    mint: MintRow,
    queued_at: i64,
}

#[derive(sqlx::FromRow)]
struct MintRowWithWallet {
    #[sqlx(flatten)]
    mint: MintRow,
    linked: Option<String>,
}
