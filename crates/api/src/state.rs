//! Shared state of the HTTP layer.

use std::time::Duration;

use leadex_core::Leadex;

/// HTTP tunables (`server.*` configuration).
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Largest request body.
    pub body_limit: usize,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Requests handled at once before new ones are shed with 503.
    pub max_in_flight: usize,
    /// Socket.IO tunables.
    pub realtime: crate::realtime::RealtimeConfig,
    /// Sliding-window rate limits (`None`: off).
    pub rate_limiter: Option<std::sync::Arc<crate::ratelimit::RateLimiter>>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            max_in_flight: 4096,
            realtime: crate::realtime::RealtimeConfig::default(),
            rate_limiter: None,
        }
    }
}

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The application service.
    pub svc: Leadex,
    /// HTTP tunables.
    pub http: HttpConfig,
}
