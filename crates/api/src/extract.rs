//! Extractors: authentication, JSON bodies and query strings, each failing
//! with a precise problem instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use leadex_core::model::Principal;
use leadex_core::{AppError, ErrorKind};
use leadex_domain::account::Scope;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::problem::ApiError;
use crate::state::AppState;

fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(v) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let s = v.to_str().map_err(|_| ApiError(AppError::unauthorized("Authorization header is not ASCII")))?;
    match s.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError(AppError::unauthorized("Authorization must be `Bearer <api key>`"))),
    }
}

/// An authenticated caller (401 without a valid key).
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

impl Auth {
    /// 403 unless the key carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<&Principal, ApiError> {
        if self.0.can(scope) {
            Ok(&self.0)
        } else {
            Err(ApiError(AppError::forbidden(
                "insufficient_scope",
                format!("this key lacks the `{}` scope", scope.as_str()),
            )))
        }
    }

    /// 403 unless the caller is an operator.
    pub fn require_admin(&self) -> Result<&Principal, ApiError> {
        if self.0.is_admin() {
            Ok(&self.0)
        } else {
            Err(ApiError(AppError::forbidden("forbidden", "operator access required")))
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?.ok_or_else(|| ApiError(AppError::unauthorized("an API key is required")))?;
        Ok(Auth(state.svc.authenticate(token).await?))
    }
}

/// A caller who may be anonymous; a key that is present must be valid.
#[derive(Debug, Clone)]
pub struct MaybeAuth(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybeAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match bearer(parts)? {
            Some(token) => Ok(MaybeAuth(Some(state.svc.authenticate(token).await?))),
            None => Ok(MaybeAuth(None)),
        }
    }
}

/// A JSON body: `Content-Type: application/json`, valid UTF-8, well-formed,
/// within the body limit, then deserialised with the failing path named.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// Reads and checks a JSON body into a `Value`.
async fn read_json(req: Request, state: &AppState) -> Result<Value, ApiError> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if mime != "application/json" && !mime.ends_with("+json") {
        return Err(ApiError(
            AppError::new(ErrorKind::BadRequest, "unsupported_media_type", "Content-Type must be application/json")
                .with_field("Content-Type"),
        ));
    }
    let bytes = Bytes::from_request(req, state).await.map_err(|e| {
        let too_large = e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE;
        ApiError(if too_large {
            AppError::new(ErrorKind::PayloadTooLarge, "payload_too_large", "request body exceeds 1 MiB")
        } else {
            AppError::bad_request("unreadable_body", "the request body could not be read")
        })
    })?;
    if std::str::from_utf8(&bytes).is_err() {
        return Err(ApiError(AppError::bad_request("invalid_utf8", "request body is not valid UTF-8")));
    }
    serde_json::from_slice::<Value>(&bytes)
        .map_err(|e| ApiError(AppError::bad_request("malformed_json", format!("request body is not valid JSON: {e}"))))
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let v = read_json(req, state).await?;
        leadex_core::service::from_json_value(v).map(JsonBody).map_err(ApiError)
    }
}

/// A JSON body kept as a raw value (the service types it, e.g. to hash it
/// for idempotency first).
#[derive(Debug)]
pub struct RawJson(pub Value);

impl FromRequest<AppState> for RawJson {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        read_json(req, state).await.map(RawJson)
    }
}

/// A query string as ordered pairs, so dynamic keys (`field.<key>`) and
/// unknown parameters can be told apart precisely.
#[derive(Debug, Default)]
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        Ok(QueryPairs(form_urlencoded::parse(q.as_bytes()).into_owned().collect()))
    }
}

impl QueryPairs {
    /// Refuses parameters not in `allowed` (and not `field.*` when
    /// `fields` is true).
    pub fn check(&self, allowed: &[&str], fields: bool) -> Result<(), ApiError> {
        for (k, _) in &self.0 {
            let ok = allowed.contains(&k.as_str()) || (fields && k.starts_with("field.") && k.len() > 6);
            if !ok {
                return Err(ApiError(
                    AppError::bad_request("unknown_parameter", format!("unknown query parameter `{k}`"))
                        .with_field(k.clone()),
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (k, _) in &self.0 {
            if !seen.insert(k) {
                return Err(ApiError(
                    AppError::bad_request("duplicate_parameter", format!("query parameter `{k}` is repeated"))
                        .with_field(k.clone()),
                ));
            }
        }
        Ok(())
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value of `key` as an owned string.
    pub fn string(&self, key: &str) -> Option<String> {
        self.get(key).map(str::to_owned)
    }

    /// The value of `key` parsed as an unsigned integer (400 on garbage).
    pub fn u32(&self, key: &str) -> Result<Option<u32>, ApiError> {
        self.get(key)
            .map(|v| {
                v.parse::<u32>().map_err(|_| {
                    ApiError(
                        AppError::bad_request("invalid_parameter", format!("`{key}` must be a non-negative integer"))
                            .with_field(key),
                    )
                })
            })
            .transpose()
    }

    /// The page request of `limit` and `cursor`.
    pub fn page(&self) -> Result<leadex_core::cursor::PageRequest, ApiError> {
        leadex_core::cursor::PageRequest::parse(self.u32("limit")?, self.get("cursor")).map_err(ApiError)
    }
}

/// Parses a path id, 404 with `code` when it is not a UUID (so malformed
/// and unknown ids answer alike).
pub fn path_id<T: std::str::FromStr>(raw: &str, code: &'static str) -> Result<T, ApiError> {
    raw.parse::<T>().map_err(|_| ApiError(AppError::not_found(code, "no such resource (malformed id)")))
}
