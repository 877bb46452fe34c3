//! HTTP API of leadex: the axum router, extractors, DTOs, problem+json
//! errors and the OpenAPI document.
//!
//! Handlers validate, call one service method and answer; nothing here
//! waits on scoring, auctions or the chain. Every response carries the
//! request's correlation id (`x-request-id`), every failure is
//! `application/problem+json`.

pub mod dto;
pub mod extract;
pub mod openapi;
pub mod problem;
pub mod ratelimit;
pub mod realtime;
pub mod routes;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use leadex_core::{AppError, ErrorKind};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::problem::{ApiError, CORRELATION_ID};
pub use crate::state::{AppState, HttpConfig};

/// Renders the Prometheus exposition text (installed by the binary).
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// Largest accepted `x-request-id`.
const MAX_REQUEST_ID: usize = 128;

fn valid_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= MAX_REQUEST_ID && s.bytes().all(|b| b.is_ascii_graphic())).then(|| s.to_owned())
}

/// Outermost middleware: correlation id, tracing span, load shedding and
/// the request timeout.
async fn request_context(State(ctx): State<Arc<Ctx>>, req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(valid_request_id)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let span = tracing::info_span!("http", request_id = %id, method = %req.method(), path = %req.uri().path());
    let started = Instant::now();
    let header = HeaderValue::from_str(&id).ok();
    let fut = CORRELATION_ID.scope(id.clone(), async move {
        // Shed load instead of queuing without bound.
        let Ok(_permit) = ctx.in_flight.clone().try_acquire_owned() else {
            return ApiError(
                AppError::new(ErrorKind::Unavailable, "overloaded", "the server is at capacity; retry shortly")
                    .with_retry_after(1),
            )
            .into_response();
        };
        match tokio::time::timeout(ctx.timeout, next.run(req)).await {
            Ok(resp) => resp,
            Err(_) => ApiError(
                AppError::new(ErrorKind::Unavailable, "request_timeout", "the request took too long")
                    .with_retry_after(1),
            )
            .into_response(),
        }
    });
    let mut resp = fut.instrument(span.clone()).await;
    if let Some(h) = header {
        resp.headers_mut().insert("x-request-id", h);
    }
    span.in_scope(|| {
        tracing::info!(status = resp.status().as_u16(), latency_ms = started.elapsed().as_secs_f64() * 1e3, "request");
    });
    resp
}

/// Route-level middleware: HTTP metrics labelled by the matched route.
async fn record_metrics(req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::histogram!("leadex_http_request_duration_seconds", "route" => route.clone(), "method" => method.clone(), "status" => status.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("leadex_http_requests_total", "route" => route, "method" => method, "status" => status)
        .increment(1);
    resp
}

struct Ctx {
    in_flight: Arc<Semaphore>,
    timeout: std::time::Duration,
}

async fn not_found() -> ApiError {
    ApiError(AppError::not_found("route_not_found", "no such route"))
}

async fn method_not_allowed() -> ApiError {
    ApiError(AppError::new(ErrorKind::BadRequest, "method_not_allowed", "method not allowed on this route"))
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    let mut r = ApiError(AppError::internal(std::io::Error::other("handler panicked"))).into_response();
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}

/// Builds the router over `state` with in-process Socket.IO; `metrics`
/// renders `/metrics` when given.
pub fn router(state: AppState, metrics: Option<MetricsRender>) -> Router {
    let sockets = realtime::local_layer(state.svc.clone(), &state.http.realtime);
    router_with(state, metrics, sockets)
}

/// Builds the router with a given Socket.IO layer (e.g. one fanned out
/// through Redis).
pub fn router_with<A: socketioxide::adapter::Adapter>(
    state: AppState,
    metrics: Option<MetricsRender>,
    sockets: socketioxide::layer::SocketIoLayer<A>,
) -> Router {
    use routes::{accounts, asks, health, jobs, leads, market, nft, verticals};
    let ctx = Arc::new(Ctx {
        in_flight: Arc::new(Semaphore::new(state.http.max_in_flight)),
        timeout: state.http.request_timeout,
    });
    let body_limit = state.http.body_limit;
    let mut r = Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/openapi.json", get(openapi::serve))
        .route("/v1/me", get(accounts::me))
        .route("/v1/me/keys", get(accounts::my_keys).post(accounts::create_my_key))
        .route("/v1/me/keys/{key_id}", axum::routing::delete(accounts::revoke_my_key))
        .route("/v1/me/leads", get(leads::list_mine))
        .route("/v1/me/asks", get(asks::list_mine))
        .route("/v1/admin/accounts", get(accounts::list_accounts).post(accounts::create_account))
        .route("/v1/admin/accounts/{id}", get(accounts::get_account))
        .route("/v1/admin/accounts/{id}/keys", get(accounts::list_keys).post(accounts::create_key))
        .route("/v1/admin/accounts/{id}/keys/{key_id}", axum::routing::delete(accounts::revoke_key))
        .route("/v1/admin/accounts/{id}/daily-cap", put(accounts::set_daily_cap))
        .route("/v1/admin/jobs", get(jobs::list))
        .route("/v1/admin/jobs/{id}", get(jobs::get).delete(jobs::delete))
        .route("/v1/admin/jobs/{id}/retry", post(jobs::retry))
        .route("/v1/admin/queues", get(jobs::stats))
        .route("/v1/admin/vaults/{account_id}/credit", post(market::credit))
        .route("/v1/admin/announcements", post(verticals::announce))
        .route("/v1/me/vault", get(market::vault))
        .route("/v1/me/vault/entries", get(market::entries))
        .route("/v1/me/bids", get(market::my_bids))
        .route("/v1/me/purchases", get(market::purchases))
        .route("/v1/me/rules", get(market::list_rules).post(market::create_rule))
        .route("/v1/me/rules/{id}", get(market::get_rule).put(market::update_rule).delete(market::delete_rule))
        .route("/v1/me/rules/{id}/decisions", get(market::decisions))
        .route("/v1/me/bounties", get(market::my_bounties))
        .route("/v1/bounties", get(market::bounty_totals).post(market::create_bounty))
        .route("/v1/bounties/{id}/top-up", post(market::top_up))
        .route("/v1/bounties/{id}/withdraw", post(market::withdraw_bounty))
        .route("/v1/buy-now", get(market::buy_now_list))
        .route("/v1/leads/{id}/bids", post(market::place_bid))
        .route("/v1/leads/{id}/bids/mine", axum::routing::delete(market::withdraw_bid))
        .route("/v1/leads/{id}/auction", get(market::auction))
        .route("/v1/leads/{id}/buy", post(market::buy))
        .route("/v1/leads", get(leads::list).post(leads::submit))
        .route("/v1/leads:batch", post(leads::submit_batch))
        .route("/v1/leads/{id}", get(leads::get))
        .route("/v1/leads/{id}/pii", get(leads::pii))
        .route("/v1/leads/{id}/jobs", get(leads::jobs))
        .route("/v1/asks", get(asks::list).post(asks::create))
        .route("/v1/asks/{id}", get(asks::get).patch(asks::update).delete(asks::delete))
        .route("/v1/nft/{token_id}", get(nft::metadata))
        .route("/v1/leads/{id}/nft", get(nft::of_lead))
        .route("/v1/me/wallet", get(nft::mine).post(nft::link))
        .route("/v1/me/wallet/challenge", post(nft::challenge))
        .route("/v1/me/vault/withdrawals", get(nft::withdrawals).post(nft::withdraw))
        .route("/v1/reserves", get(nft::reserves))
        .route("/v1/me/nft/claim", post(nft::claim))
        .route("/v1/admin/trace/{correlation_id}", get(nft::trace))
        .route("/v1/verticals", get(verticals::tree))
        .route("/v1/verticals/{slug}", get(verticals::get));
    if let Some(render) = metrics {
        r = r.route("/metrics", get(move || async move { render() }));
    }
    r.route_layer(middleware::from_fn_with_state(state.clone(), ratelimit::enforce))
        .route_layer(middleware::from_fn(record_metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(sockets)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(ctx, request_context))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains
/// in-flight requests.
///
/// Every accepted connection gets `TCP_NODELAY` and, when `stall_timeout`
/// is set, `TCP_USER_TIMEOUT`: a peer that stops reading (its window stays
/// closed with our data unsent) for that long is aborted by the kernel.
/// Socket.IO needs this: engineioxide's writer waits on a blocked socket
/// without seeing the session's cancellation, so a stalled client would
/// otherwise hold its connection, slot and rooms forever.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    stall_timeout: Option<std::time::Duration>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(move |tcp| {
        let _ = tcp.set_nodelay(true);
        if let Some(t) = stall_timeout {
            let _ = socket2::SockRef::from(&*tcp).set_tcp_user_timeout(Some(t));
        }
    });
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
