//! Application errors: what the caller can do about a failure decides its
//! [`ErrorKind`]; the stable snake_case `code` tells clients which failure
//! it was. The HTTP layer maps these to `application/problem+json`.

use serde_json::{Map, Value};

use crate::ports::StoreError;

/// Class of a failure, mapped to an HTTP status by the API layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request is malformed.
    BadRequest,
    /// 401: no or bad credentials.
    Unauthorized,
    /// 403: authenticated but not allowed.
    Forbidden,
    /// 404: no such resource (or not visible to the caller).
    NotFound,
    /// 409: conflicts with current state.
    Conflict,
    /// 413: body too large.
    PayloadTooLarge,
    /// 422: well-formed but invalid.
    Unprocessable,
    /// 429: rate limited or capped.
    TooManyRequests,
    /// 503: a dependency is down.
    Unavailable,
    /// 500: a bug or an unexpected backend failure; details are logged,
    /// never returned.
    Internal,
}

impl ErrorKind {
    /// A 4xx: the caller's request was refused (not a failure of ours).
    pub fn is_client_error(self) -> bool {
        !matches!(self, ErrorKind::Unavailable | ErrorKind::Internal)
    }
}

/// A failure with a stable code.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct AppError {
    /// Class.
    pub kind: ErrorKind,
    /// Stable snake_case code.
    pub code: &'static str,
    /// Human explanation (safe to show; never internals for `Internal`).
    pub detail: String,
    /// The offending input field as a JSON path.
    pub field: Option<String>,
    /// Seconds after which a retry may succeed (429, 503).
    pub retry_after: Option<u64>,
    /// Extra problem members (e.g. `lead_id` of the first duplicate).
    pub extra: Map<String, Value>,
    /// The underlying cause, for logs only.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl AppError {
    /// A new error.
    pub fn new(kind: ErrorKind, code: &'static str, detail: impl Into<String>) -> Self {
        Self { kind, code, detail: detail.into(), field: None, retry_after: None, extra: Map::new(), source: None }
    }

    /// Names the offending field.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds a problem member.
    pub fn with_extra(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// Sets `Retry-After`.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 400 `code`.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, code, detail)
    }

    /// 422 `code`.
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unprocessable, code, detail)
    }

    /// 404 `code`.
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, code, detail)
    }

    /// 409 `code`.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, code, detail)
    }

    /// 403 `forbidden` or a more precise code.
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, code, detail)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, "unauthorized", detail)
    }

    /// 500 with the cause kept for logs.
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let mut e = Self::new(ErrorKind::Internal, "internal_error", "an internal error occurred");
        e.source = Some(source.into());
        e
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => {
                let mut a = AppError::new(
                    ErrorKind::Unavailable,
                    "database_unavailable",
                    "the database is temporarily unavailable",
                )
                .with_retry_after(1);
                a.source = Some(Box::new(e));
                a
            }
            other => AppError::internal(other),
        }
    }
}
