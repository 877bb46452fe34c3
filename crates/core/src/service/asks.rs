//! Asks: a seller's standing terms per vertical (SPEC §5).

use chrono::{DateTime, Utc};
use leadex_domain::{AccountId, AskId, Money, geo};
use serde::Deserialize;

use super::Leadex;
use crate::cursor::{Page, PageRequest};
use crate::error::AppError;
use crate::model::{Ask, AskQuery};

/// Shortest auction an ask may set.
pub const MIN_AUCTION_SECS: u32 = 10;
/// Longest auction an ask may set.
pub const MAX_AUCTION_SECS: u32 = 600;

/// Geo targets of an ask.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskGeo {
    /// ISO countries (empty: any).
    #[serde(default)]
    pub countries: Vec<String>,
    /// Region codes (empty: any).
    #[serde(default)]
    pub regions: Vec<String>,
}

/// `POST /v1/asks` body.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskInput {
    /// Vertical slug.
    pub vertical: String,
    /// Geo targets.
    #[serde(default)]
    pub geo: AskGeo,
    /// Reserve price.
    pub reserve_price: Money,
    /// Buy-now price (default 1.2 × reserve).
    #[serde(default)]
    pub buy_now_price: Option<Money>,
    /// Auction duration (default 60 s, 10–600).
    #[serde(default)]
    pub auction_duration_secs: Option<u32>,
    /// Daily cap (default 500).
    #[serde(default)]
    pub daily_cap: Option<u32>,
    /// `active | paused` (default active).
    #[serde(default)]
    pub status: Option<String>,
    /// Expiry.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// `PATCH /v1/asks/{id}` body: every member optional.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskPatch {
    /// Geo targets.
    #[serde(default)]
    pub geo: Option<AskGeo>,
    /// Reserve price.
    #[serde(default)]
    pub reserve_price: Option<Money>,
    /// Buy-now price.
    #[serde(default)]
    pub buy_now_price: Option<Money>,
    /// Auction duration.
    #[serde(default)]
    pub auction_duration_secs: Option<u32>,
    /// Daily cap.
    #[serde(default)]
    pub daily_cap: Option<u32>,
    /// Status.
    #[serde(default)]
    pub status: Option<String>,
    /// Expiry.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

impl Leadex {
    fn check_ask(&self, ask: &mut Ask) -> Result<(), AppError> {
        let v = self
            .catalog
            .get(&ask.vertical)
            .ok_or_else(|| AppError::invalid("unknown_vertical", "no such vertical").with_field("vertical"))?;
        ask.vertical = v.def.slug.clone();
        let mut countries = Vec::new();
        for c in &ask.countries {
            let country = geo::country(c.trim()).ok_or_else(|| {
                AppError::invalid("unknown_country", format!("unknown country `{c}`")).with_field("geo.countries")
            })?;
            countries.push(country.code.to_owned());
        }
        let mut regions = Vec::new();
        for r in &ask.regions {
            let r = r.trim().to_ascii_uppercase();
            let known = if countries.is_empty() {
                geo::countries().iter().any(|c| c.regions.iter().any(|(code, _)| *code == r))
            } else {
                countries.iter().filter_map(|c| geo::country(c)).any(|c| c.regions.iter().any(|(code, _)| *code == r))
            };
            if !known {
                return Err(
                    AppError::invalid("unknown_region", format!("unknown region `{r}`")).with_field("geo.regions")
                );
            }
            regions.push(r);
        }
        countries.sort();
        countries.dedup();
        regions.sort();
        regions.dedup();
        ask.countries = countries;
        ask.regions = regions;
        if ask.reserve_price.micros() <= 0 {
            return Err(
                AppError::invalid("invalid_amount", "reserve_price must be positive").with_field("reserve_price")
            );
        }
        if ask.buy_now_price < ask.reserve_price {
            return Err(AppError::invalid("invalid_amount", "buy_now_price must not be below reserve_price")
                .with_field("buy_now_price"));
        }
        if !(MIN_AUCTION_SECS..=MAX_AUCTION_SECS).contains(&ask.auction_duration_secs) {
            return Err(AppError::invalid(
                "invalid_duration",
                format!("auction_duration_secs must be between {MIN_AUCTION_SECS} and {MAX_AUCTION_SECS}"),
            )
            .with_field("auction_duration_secs"));
        }
        if ask.daily_cap == 0 || ask.daily_cap > 1_000_000 {
            return Err(AppError::invalid("invalid_daily_cap", "daily_cap must be between 1 and 1 000 000")
                .with_field("daily_cap"));
        }
        if ask.status != "active" && ask.status != "paused" {
            return Err(AppError::invalid("invalid_status", "status must be active or paused").with_field("status"));
        }
        Ok(())
    }

    /// Creates an ask for `seller`.
    pub async fn create_ask(&self, seller: AccountId, input: AskInput) -> Result<Ask, AppError> {
        let now = self.clock.now();
        let reserve = input.reserve_price;
        let mut ask = Ask {
            id: AskId::new(),
            seller_id: seller,
            vertical: input.vertical,
            countries: input.geo.countries,
            regions: input.geo.regions,
            reserve_price: reserve,
            buy_now_price: match input.buy_now_price {
                Some(p) => p,
                None => reserve.bps(self.config.buy_now_bps).ok_or_else(|| {
                    AppError::invalid("invalid_amount", "reserve_price is too large").with_field("reserve_price")
                })?,
            },
            auction_duration_secs: input.auction_duration_secs.unwrap_or(self.config.default_auction_secs),
            daily_cap: input.daily_cap.unwrap_or(self.config.default_daily_cap),
            status: input.status.unwrap_or_else(|| "active".into()),
            expires_at: input.expires_at,
            created_at: now,
            updated_at: now,
        };
        if ask.expires_at.is_some_and(|e| e <= now) {
            return Err(
                AppError::invalid("invalid_expiry", "expires_at must be in the future").with_field("expires_at")
            );
        }
        self.check_ask(&mut ask)?;
        self.store.create_ask(&ask).await?;
        Ok(ask)
    }

    /// An ask; `None` viewer or a non-owner sees the public part only (the
    /// API decides what to render from the returned flag).
    pub async fn get_ask(&self, id: AskId) -> Result<Ask, AppError> {
        self.store.get_ask(id).await?.ok_or_else(|| AppError::not_found("ask_not_found", "no such ask"))
    }

    /// Applies a patch to an ask the seller owns.
    pub async fn update_ask(&self, seller: AccountId, id: AskId, patch: AskPatch) -> Result<Ask, AppError> {
        let mut ask = self.get_ask(id).await?;
        if ask.seller_id != seller {
            // Do not reveal that another seller's ask exists.
            return Err(AppError::not_found("ask_not_found", "no such ask"));
        }
        let reserve_changed = patch.reserve_price.is_some();
        if let Some(g) = patch.geo {
            ask.countries = g.countries;
            ask.regions = g.regions;
        }
        if let Some(r) = patch.reserve_price {
            ask.reserve_price = r;
        }
        match patch.buy_now_price {
            Some(b) => ask.buy_now_price = b,
            None if reserve_changed => {
                ask.buy_now_price = ask.reserve_price.bps(self.config.buy_now_bps).ok_or_else(|| {
                    AppError::invalid("invalid_amount", "reserve_price is too large").with_field("reserve_price")
                })?;
            }
            None => {}
        }
        if let Some(d) = patch.auction_duration_secs {
            ask.auction_duration_secs = d;
        }
        if let Some(c) = patch.daily_cap {
            ask.daily_cap = c;
        }
        if let Some(s) = patch.status {
            ask.status = s;
        }
        if let Some(e) = patch.expires_at {
            ask.expires_at = Some(e);
        }
        ask.updated_at = self.clock.now();
        self.check_ask(&mut ask)?;
        if !self.store.update_ask(&ask).await? {
            return Err(AppError::not_found("ask_not_found", "no such ask"));
        }
        Ok(ask)
    }

    /// Deletes an ask the seller owns.
    pub async fn delete_ask(&self, seller: AccountId, id: AskId) -> Result<(), AppError> {
        if self.store.delete_ask(seller, id).await? {
            Ok(())
        } else {
            Err(AppError::not_found("ask_not_found", "no such ask"))
        }
    }

    /// Asks: a seller's own (any status) or the public active ones.
    pub async fn list_asks(
        &self,
        seller: Option<AccountId>,
        vertical: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Ask>, AppError> {
        let verticals = match vertical {
            Some(v) => {
                let slug = self
                    .catalog
                    .get(v)
                    .ok_or_else(|| AppError::invalid("unknown_vertical", "no such vertical").with_field("vertical"))?
                    .def
                    .slug
                    .clone();
                Some(self.catalog.subtree(&slug))
            }
            None => None,
        };
        let query = AskQuery {
            seller_id: seller,
            verticals,
            status: if seller.is_none() { Some("active".into()) } else { None },
            live_at: if seller.is_none() { Some(self.clock.now()) } else { None },
        };
        Ok(self.store.list_asks(&query, page).await?)
    }
}
