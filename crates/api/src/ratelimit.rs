//! Sliding-window rate limits (SPEC §9), as route-level middleware.
//!
//! A **true** sliding window (a sliding log): a request is admitted when
//! fewer than `limit` requests were admitted in the half-open interval
//! `(now − window, now]`, so no window position, however it straddles a
//! minute boundary, ever admits more than the limit (fixed windows admit up
//! to twice the limit across a boundary; the "sliding window counter"
//! approximation is not exact either). Cost: one timestamp per admitted
//! request per key, bounded by the limit.
//!
//! Two backends with the same semantics:
//! - [`LocalWindow`]: in-process (the embedded mode), sharded maps of
//!   timestamp queues on a monotonic clock;
//! - [`RedisWindow`]: one atomic Lua script per check over a sorted set, on
//!   Redis' own clock, so every API process shares each window.
//!
//! Keys: the API key (a hash of the bearer token; no database read before
//! the limit) or, for anonymous requests, the client IP. Groups and limits
//! come from configuration (`rate_limits.*`). If Redis cannot be reached, a
//! read (GET/HEAD) is let through and a write refused with 503
//! `rate_limiter_unavailable` — reads are idempotent and cheap to serve, a
//! write admitted without a limit could let one client flood ingestion —
//! and `leadex_ratelimit_backend_errors_total` plus a warning say so.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use leadex_core::{AppError, ErrorKind};
use sha2::{Digest, Sha256};

use crate::problem::ApiError;
use crate::state::AppState;

/// Route groups with their own limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    /// Everything else, per API key.
    General,
    /// `POST /v1/leads`, `POST /v1/leads:batch`, per API key.
    Ingest,
    /// Placing or withdrawing bids and buying, per API key.
    Bids,
    /// Requests without an API key, per client IP.
    Anonymous,
}

impl Group {
    /// Label for metrics and keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::General => "general",
            Self::Ingest => "ingest",
            Self::Bids => "bids",
            Self::Anonymous => "anonymous",
        }
    }

    /// The group of a request to `route` (the matched path template).
    pub fn of(method: &Method, route: &str, authenticated: bool) -> Self {
        if !authenticated {
            return Self::Anonymous;
        }
        match (method.as_str(), route) {
            ("POST", "/v1/leads" | "/v1/leads:batch") => Self::Ingest,
            ("POST", "/v1/leads/{id}/bids" | "/v1/leads/{id}/buy") | ("DELETE", "/v1/leads/{id}/bids/mine") => {
                Self::Bids
            }
            _ => Self::General,
        }
    }
}

/// Limits per group over one window (`rate_limits.*`).
#[derive(Clone, Debug)]
pub struct Limits {
    /// The window.
    pub window: Duration,
    /// Requests per window, per group.
    pub general: u32,
    /// Ingestion requests per window.
    pub ingest: u32,
    /// Bid requests per window.
    pub bids: u32,
    /// Anonymous requests per window per IP.
    pub anonymous: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { window: Duration::from_secs(60), general: 1_200, ingest: 600, bids: 120, anonymous: 60 }
    }
}

impl Limits {
    fn limit(&self, g: Group) -> u32 {
        match g {
            Group::General => self.general,
            Group::Ingest => self.ingest,
            Group::Bids => self.bids,
            Group::Anonymous => self.anonymous,
        }
    }
}

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Admitted.
    pub allowed: bool,
    /// The limit.
    pub limit: u32,
    /// Requests still admissible in the current window.
    pub remaining: u32,
    /// Milliseconds until the oldest admitted request leaves the window
    /// (when a refused caller may retry).
    pub reset_ms: u64,
}

const SHARDS: usize = 16;

/// In-process sliding log.
#[derive(Debug)]
pub struct LocalWindow {
    shards: Vec<Mutex<Shard>>,
    hasher: std::collections::hash_map::RandomState,
    epoch: Instant,
}

#[derive(Debug, Default)]
struct Shard {
    keys: HashMap<String, VecDeque<u64>>,
    checks: u32,
}

impl Default for LocalWindow {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            epoch: Instant::now(),
        }
    }
}

impl LocalWindow {
    /// Checks (and on success records) one request for `key` now.
    pub fn check(&self, key: &str, limit: u32, window: Duration) -> Decision {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.check_at(key, limit, window, now)
    }

    /// [`check`](Self::check) at a given time (ms on this window's clock).
    pub fn check_at(&self, key: &str, limit: u32, window: Duration, now_ms: u64) -> Decision {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        shard.checks = shard.checks.wrapping_add(1);
        if shard.checks.is_multiple_of(4096) {
            // Forget keys idle for a whole window.
            shard.keys.retain(|_, q| q.back().is_some_and(|t| t.saturating_add(window_ms) > now_ms));
        }
        let q = shard.keys.entry(key.to_owned()).or_default();
        while q.front().is_some_and(|t| t.saturating_add(window_ms) <= now_ms) {
            q.pop_front();
        }
        let used = u32::try_from(q.len()).unwrap_or(u32::MAX);
        let allowed = used < limit;
        if allowed {
            q.push_back(now_ms);
        }
        let reset_ms = q.front().map_or(0, |t| t.saturating_add(window_ms).saturating_sub(now_ms));
        Decision { allowed, limit, remaining: limit.saturating_sub(used + u32::from(allowed)), reset_ms }
    }
}

/// The Lua script: trim, count, maybe add, on Redis' clock. Members are
/// `<µs time>:<count>`, unique because scripts run one at a time.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
local allowed = 0
if n < limit then
  redis.call('ZADD', KEYS[1], now, t[1] .. t[2] .. ':' .. n)
  n = n + 1
  allowed = 1
end
redis.call('PEXPIRE', KEYS[1], window)
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = 0
if oldest[2] then reset = tonumber(oldest[2]) + window - now end
return {allowed, n, reset}
";

/// Redis sliding log shared by every process.
#[derive(Clone)]
pub struct RedisWindow {
    conn: redis::aio::ConnectionManager,
    script: redis::Script,
    prefix: String,
}

impl std::fmt::Debug for RedisWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisWindow").field("prefix", &self.prefix).finish()
    }
}

impl RedisWindow {
    /// Connects (and reconnects on its own after failures).
    pub async fn connect(client: redis::Client, prefix: impl Into<String>) -> redis::RedisResult<Self> {
        let cfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        let conn = redis::aio::ConnectionManager::new_with_config(client, cfg).await?;
        Ok(Self { conn, script: redis::Script::new(SCRIPT), prefix: prefix.into() })
    }

    /// Round trip to Redis.
    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<String>(&mut conn).await.map(|_| ())
    }

    /// Checks (and on success records) one request for `key`.
    pub async fn check(&self, key: &str, limit: u32, window: Duration) -> redis::RedisResult<Decision> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn = self.conn.clone();
        let (allowed, used, reset): (i64, i64, i64) =
            self.script.key(format!("{}{key}", self.prefix)).arg(limit).arg(window_ms).invoke_async(&mut conn).await?;
        let used = u32::try_from(used).unwrap_or(u32::MAX);
        Ok(Decision {
            allowed: allowed == 1,
            limit,
            remaining: limit.saturating_sub(used),
            reset_ms: u64::try_from(reset).unwrap_or(0),
        })
    }
}

/// Where windows live.
#[derive(Debug)]
pub enum Backend {
    /// This process only.
    Local(LocalWindow),
    /// Shared through Redis.
    Redis(RedisWindow),
}

/// The limiter: limits plus a backend.
#[derive(Debug)]
pub struct RateLimiter {
    /// Limits per group.
    pub limits: Limits,
    /// Backend.
    pub backend: Backend,
}

impl RateLimiter {
    /// In-process limiter.
    pub fn local(limits: Limits) -> Self {
        Self { limits, backend: Backend::Local(LocalWindow::default()) }
    }

    /// Checks one request of `group` for `key`; `Err` when the backend is
    /// unreachable.
    pub async fn check(&self, group: Group, key: &str) -> Result<Decision, String> {
        let limit = self.limits.limit(group);
        let key = format!("{}:{key}", group.as_str());
        match &self.backend {
            Backend::Local(w) => Ok(w.check(&key, limit, self.limits.window)),
            Backend::Redis(w) => w.check(&key, limit, self.limits.window).await.map_err(|e| e.to_string()),
        }
    }
}

fn client_key(headers: &HeaderMap, peer: Option<SocketAddr>) -> (bool, String) {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    match token {
        Some(t) => {
            let digest = Sha256::digest(t.as_bytes());
            (true, format!("k:{}", hex::encode(&digest[..12])))
        }
        None => (false, format!("ip:{}", peer.map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string()))),
    }
}

fn set_headers(headers: &mut HeaderMap, d: &Decision) {
    let reset_secs = d.reset_ms.div_ceil(1000);
    for (name, v) in [
        ("ratelimit-limit", u64::from(d.limit)),
        ("ratelimit-remaining", u64::from(d.remaining)),
        ("ratelimit-reset", reset_secs),
    ] {
        headers.insert(name, HeaderValue::from(v));
    }
}

/// Route-level middleware: classify, check, answer 429 or pass through
/// with `RateLimit-*` headers.
pub async fn enforce(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Some(limiter) = st.http.rate_limiter.clone() else {
        return next.run(req).await;
    };
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_default();
    if route.starts_with("/health/") || route == "/metrics" {
        return next.run(req).await;
    }
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let (authenticated, key) = client_key(req.headers(), peer);
    let group = Group::of(req.method(), &route, authenticated);
    match limiter.check(group, &key).await {
        Ok(d) if d.allowed => {
            let mut resp = next.run(req).await;
            set_headers(resp.headers_mut(), &d);
            resp
        }
        Ok(d) => {
            metrics::counter!("leadex_ratelimit_refused_total", "group" => group.as_str()).increment(1);
            let retry = d.reset_ms.div_ceil(1000).max(1);
            let mut resp = ApiError(
                AppError::new(
                    ErrorKind::TooManyRequests,
                    "rate_limited",
                    format!(
                        "more than {} {} requests in {} s",
                        d.limit,
                        group.as_str(),
                        limiter.limits.window.as_secs()
                    ),
                )
                .with_retry_after(retry),
            )
            .into_response();
            set_headers(resp.headers_mut(), &d);
            resp
        }
        Err(e) => {
            metrics::counter!("leadex_ratelimit_backend_errors_total").increment(1);
            let read = matches!(*req.method(), Method::GET | Method::HEAD);
            tracing::warn!(error = %e, fail_open = read, "rate limiter backend unreachable");
            if read {
                next.run(req).await
            } else {
                ApiError(
                    AppError::new(
                        ErrorKind::Unavailable,
                        "rate_limiter_unavailable",
                        "the rate limiter is unreachable; writes are refused until it is back",
                    )
                    .with_retry_after(1),
                )
                .into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(60);

    #[test]
    fn admits_exactly_the_limit_at_any_window_position() {
        let w = LocalWindow::default();
        // 5 requests spread over the first minute, at t = 0, 10, 20, 30, 40 s.
        for i in 0..5u64 {
            assert!(w.check_at("k", 5, W, i * 10_000).allowed);
        }
        // Full: every position until the first one leaves is refused…
        let d = w.check_at("k", 5, W, 59_999);
        assert!(!d.allowed);
        assert_eq!((d.remaining, d.reset_ms), (0, 1));
        // …exactly at t = 60 s the request at t = 0 has left the window.
        let d = w.check_at("k", 5, W, 60_000);
        assert!(d.allowed, "the boundary admits once the oldest is out");
        assert!(!w.check_at("k", 5, W, 60_001).allowed, "and only one slot freed");
        assert!(w.check_at("k", 5, W, 70_000).allowed);
    }

    #[test]
    fn no_burst_across_a_fixed_window_boundary() {
        // A fixed-window limiter would admit 5 at 59.9 s and 5 more at 60.1 s.
        let w = LocalWindow::default();
        let admitted = (0..10).filter(|_| w.check_at("k", 5, W, 59_900).allowed).count()
            + (0..10).filter(|_| w.check_at("k", 5, W, 60_100).allowed).count();
        assert_eq!(admitted, 5);
    }

    #[test]
    fn every_window_holds_at_most_the_limit() {
        // Requests every 7 ms for 3 windows of 1 s, limit 50: slide a 1 s
        // window over every admitted timestamp and count.
        let w = LocalWindow::default();
        let win = Duration::from_secs(1);
        let admitted: Vec<u64> = (0..430u64).map(|i| i * 7).filter(|&t| w.check_at("k", 50, win, t).allowed).collect();
        for &start in &admitted {
            let inside = admitted.iter().filter(|&&t| t >= start && t < start + 1_000).count();
            assert!(inside <= 50, "{inside} admitted in the window starting at {start}");
        }
        assert!(admitted.len() >= 150, "the limit is reached in every window, got {}", admitted.len());
    }

    #[test]
    fn keys_and_groups_are_independent() {
        let w = LocalWindow::default();
        assert!(w.check_at("a", 1, W, 0).allowed);
        assert!(!w.check_at("a", 1, W, 1).allowed);
        assert!(w.check_at("b", 1, W, 1).allowed);
    }

    #[test]
    fn groups_by_route() {
        assert_eq!(Group::of(&Method::POST, "/v1/leads", true), Group::Ingest);
        assert_eq!(Group::of(&Method::POST, "/v1/leads:batch", true), Group::Ingest);
        assert_eq!(Group::of(&Method::GET, "/v1/leads", true), Group::General);
        assert_eq!(Group::of(&Method::POST, "/v1/leads/{id}/bids", true), Group::Bids);
        assert_eq!(Group::of(&Method::DELETE, "/v1/leads/{id}/bids/mine", true), Group::Bids);
        assert_eq!(Group::of(&Method::POST, "/v1/leads", false), Group::Anonymous);
    }
}
