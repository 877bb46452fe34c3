//! Accounts and API keys (SPEC §1).

use chrono::{DateTime, Utc};
use leadex_domain::account::{Role, Scope};
use leadex_domain::{AccountId, KeyId};

use super::Leadex;
use crate::crypto::{self, GeneratedKey};
use crate::cursor::{Page, PageRequest};
use crate::error::AppError;
use crate::model::{Account, ApiKeyInfo, NewApiKey, Principal};

impl Leadex {
    /// Resolves a presented bearer token to its principal. Unknown, revoked
    /// and expired keys and suspended accounts are all 401s with distinct
    /// codes (the key's existence is not secret to its holder).
    pub async fn authenticate(&self, secret: &str) -> Result<Principal, AppError> {
        if !secret.starts_with("lx_") || secret.len() > 128 {
            return Err(AppError::unauthorized("malformed API key").with_extra("reason", "malformed"));
        }
        let hash = crypto::hash_api_key(secret);
        let principal =
            self.store.find_api_key(&hash).await?.ok_or_else(|| AppError::unauthorized("unknown API key"))?;
        let now = self.clock.now();
        if principal.key.revoked_at.is_some() {
            return Err(AppError::new(crate::ErrorKind::Unauthorized, "key_revoked", "API key was revoked"));
        }
        if principal.key.expires_at.is_some_and(|e| e <= now) {
            return Err(AppError::new(crate::ErrorKind::Unauthorized, "key_expired", "API key has expired"));
        }
        if principal.account.status != "active" {
            return Err(AppError::forbidden("account_suspended", "account is suspended"));
        }
        Ok(principal)
    }

    /// Creates an account and its first key (default scopes of the role).
    pub async fn create_account(
        &self,
        role: Role,
        name: &str,
    ) -> Result<(Account, ApiKeyInfo, GeneratedKey), AppError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(AppError::invalid("invalid_name", "name must be 1–200 characters").with_field("name"));
        }
        let account = Account {
            id: AccountId::new(),
            role,
            name: name.to_owned(),
            status: "active".into(),
            wallet_address: None,
            kyc_verified: false,
            daily_cap: None,
            created_at: self.clock.now(),
        };
        self.store.create_account(&account).await?;
        let (info, key) = self.issue_key(&account, "default", role.default_scopes(), None).await?;
        Ok((account, info, key))
    }

    /// Issues another key for an account.
    pub async fn issue_key(
        &self,
        account: &Account,
        name: &str,
        scopes: Vec<Scope>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(ApiKeyInfo, GeneratedKey), AppError> {
        if scopes.is_empty() {
            return Err(AppError::invalid("invalid_scopes", "at least one scope is required").with_field("scopes"));
        }
        if let Some(s) = scopes.iter().find(|s| !account.role.allows(**s)) {
            return Err(AppError::invalid(
                "scope_not_allowed",
                format!("a {} account cannot hold scope `{}`", account.role, s.as_str()),
            )
            .with_field("scopes"));
        }
        let now = self.clock.now();
        if expires_at.is_some_and(|e| e <= now) {
            return Err(
                AppError::invalid("invalid_expiry", "expires_at must be in the future").with_field("expires_at")
            );
        }
        let generated = crypto::generate_api_key();
        let key = NewApiKey {
            id: KeyId::new(),
            account_id: account.id,
            hash: generated.hash,
            prefix: generated.prefix.clone(),
            name: name.trim().chars().take(100).collect(),
            scopes: scopes.clone(),
            created_at: now,
            expires_at,
        };
        self.store.create_api_key(&key).await?;
        let info = ApiKeyInfo {
            id: key.id,
            account_id: account.id,
            prefix: key.prefix,
            name: key.name,
            scopes,
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        Ok((info, generated))
    }

    /// An account by id (404 `account_not_found`).
    pub async fn account(&self, id: AccountId) -> Result<Account, AppError> {
        self.store.get_account(id).await?.ok_or_else(|| AppError::not_found("account_not_found", "no such account"))
    }

    /// Accounts, newest first.
    pub async fn list_accounts(&self, page: &PageRequest) -> Result<Page<Account>, AppError> {
        Ok(self.store.list_accounts(page).await?)
    }

    /// An account's keys.
    pub async fn list_keys(&self, account: AccountId) -> Result<Vec<ApiKeyInfo>, AppError> {
        Ok(self.store.list_api_keys(account).await?)
    }

    /// Revokes a key (404 `key_not_found` when it is not the account's or
    /// already revoked).
    pub async fn revoke_key(&self, account: AccountId, key: KeyId) -> Result<(), AppError> {
        if self.store.revoke_api_key(account, key, self.clock.now()).await? {
            Ok(())
        } else {
            Err(AppError::not_found("key_not_found", "no such active key for this account"))
        }
    }

    /// Sets the operator's daily-cap override of a seller.
    pub async fn set_daily_cap(&self, account: AccountId, cap: Option<u32>) -> Result<(), AppError> {
        if cap.is_some_and(|c| c > 1_000_000) {
            return Err(
                AppError::invalid("invalid_daily_cap", "daily_cap is at most 1 000 000").with_field("daily_cap")
            );
        }
        if self.store.set_account_daily_cap(account, cap).await? {
            Ok(())
        } else {
            Err(AppError::not_found("account_not_found", "no such account"))
        }
    }
}
