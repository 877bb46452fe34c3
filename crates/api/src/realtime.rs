//! Socket.IO on the API port (socketioxide): rooms per vertical, per
//! auction and per account, `bid:place` with an acknowledgement carrying the
//! same result or problem code as the REST route, and the sink through which
//! the services' events reach the rooms. See `docs/realtime.md`.
//!
//! Sealed bids stay sealed: public rooms only ever receive counts; amounts go
//! to the bidder's own `account:<id>` room.

use std::sync::Arc;

use leadex_core::events::{Event, EventSink, account_room, lead_room, vertical_room};
use leadex_core::model::Principal;
use leadex_core::{AppError, Leadex};
use leadex_domain::account::Scope;
use leadex_domain::{LeadId, Money};
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::layer::SocketIoLayer;

use crate::problem::ApiError;

/// Largest number of events buffered per socket; a client that falls this
/// far behind is disconnected rather than slowing anyone else down.
pub const SOCKET_BUFFER: usize = 256;
/// Simultaneous sockets per authenticated account.
pub const MAX_SOCKETS_PER_ACCOUNT: usize = 50;

/// Delivers service events to Socket.IO rooms (of every process, when the
/// adapter fans out through Redis).
pub struct SocketSink<A: Adapter> {
    io: SocketIo<A>,
}

impl<A: Adapter> std::fmt::Debug for SocketSink<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SocketSink")
    }
}

impl<A: Adapter> EventSink for SocketSink<A> {
    fn publish(&self, event: Event) {
        let io = self.io.clone();
        // Emitting is cheap but async; never make the caller wait for it.
        tokio::spawn(async move {
            if let Err(e) = io.to(event.rooms).emit(event.name, &Value::Object(event.payload)).await {
                metrics::counter!("leadex_ws_emit_errors_total").increment(1);
                tracing::debug!(error = %e, event = event.name, "emit failed");
            }
        });
    }
}

/// The handshake `auth` payload: `{ "token": "lx_…" }` (optional).
#[derive(Debug, Default, Deserialize)]
pub struct Handshake {
    #[serde(default)]
    token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Subscribe {
    verticals: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinAuction {
    lead_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceBid {
    lead_id: String,
    amount: String,
}

fn problem(e: AppError) -> Value {
    json!({ "ok": false, "error": ApiError(e).problem() })
}

fn bad(code: &'static str, detail: &str) -> Value {
    problem(AppError::bad_request(code, detail))
}

/// A Socket.IO layer with the in-process adapter (one process).
pub fn local_layer(svc: Leadex) -> SocketIoLayer {
    let (layer, io) = SocketIo::builder().max_buffer_size(SOCKET_BUFFER).build_layer();
    set_sink(&io, &svc);
    io.ns("/", connect_handler(svc, io.clone()));
    layer
}

/// Plugs `io` into the service's event hub: events published by the
/// services are emitted to the rooms of every process sharing the adapter.
pub fn set_sink<A: Adapter>(io: &SocketIo<A>, svc: &Leadex) {
    svc.events().set_sink(Arc::new(SocketSink { io: io.clone() }));
}

/// The connect handler of the `/` namespace, for any adapter:
/// `io.ns("/", connect_handler(svc, io.clone()))` (awaited with a remote
/// adapter).
pub fn connect_handler<A: Adapter>(
    svc: Leadex,
    io: SocketIo<A>,
) -> impl Fn(SocketRef<A>, TryData<Handshake>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    move |socket: SocketRef<A>, TryData(auth): TryData<Handshake>| {
        let svc = svc.clone();
        let io = io.clone();
        Box::pin(async move { on_connect(svc, io, socket, auth.unwrap_or_default()).await })
    }
}

async fn on_connect<A: Adapter>(svc: Leadex, io: SocketIo<A>, socket: SocketRef<A>, auth: Handshake) {
    if let Some(token) = auth.token.filter(|t| !t.is_empty()) {
        match svc.authenticate(&token).await {
            Ok(p) => {
                let room = account_room(p.account.id);
                if io.within(room.clone()).sockets().len() >= MAX_SOCKETS_PER_ACCOUNT {
                    let _ = socket.emit("error", &bad("too_many_connections", "connection cap per account reached"));
                    let _ = socket.disconnect();
                    return;
                }
                socket.join(room);
                socket.extensions.insert(p);
            }
            Err(e) => {
                let _ = socket.emit("error", &problem(e));
                let _ = socket.disconnect();
                return;
            }
        }
    }
    metrics::gauge!("leadex_ws_connections").increment(1.0);
    socket.on_disconnect(|| async { metrics::gauge!("leadex_ws_connections").decrement(1.0) });

    let s1 = svc.clone();
    socket.on("subscribe", move |socket: SocketRef<A>, TryData(req): TryData<Subscribe>, ack: AckSender<A>| {
        let svc = s1.clone();
        async move {
            let reply = match req {
                Ok(req) if req.verticals.len() <= 100 => {
                    let mut joined = Vec::new();
                    let mut unknown = Vec::new();
                    for v in req.verticals {
                        match svc.catalog().get(&v) {
                            Some(vert) => joined.push(vert.def.slug.clone()),
                            None => unknown.push(v),
                        }
                    }
                    if unknown.is_empty() {
                        socket.join(joined.iter().map(|v| vertical_room(v)).collect::<Vec<_>>());
                        json!({"ok": true, "subscribed": joined})
                    } else {
                        problem(AppError::invalid(
                            "unknown_vertical",
                            format!("unknown verticals: {}", unknown.join(", ")),
                        ))
                    }
                }
                _ => bad("invalid_payload", "expected {\"verticals\": [\"slug\", …]} (at most 100)"),
            };
            let _ = ack.send(&reply);
        }
    });

    socket.on("unsubscribe", |socket: SocketRef<A>, TryData(req): TryData<Subscribe>, ack: AckSender<A>| async move {
        let reply = match req {
            Ok(req) => {
                socket.leave(req.verticals.iter().map(|v| vertical_room(v)).collect::<Vec<_>>());
                json!({"ok": true})
            }
            Err(_) => bad("invalid_payload", "expected {\"verticals\": [\"slug\", …]}"),
        };
        let _ = ack.send(&reply);
    });

    let s2 = svc.clone();
    socket.on("join_auction", move |socket: SocketRef<A>, TryData(req): TryData<JoinAuction>, ack: AckSender<A>| {
        let svc = s2.clone();
        async move {
            let reply = match req.map(|r| r.lead_id.parse::<LeadId>()) {
                Ok(Ok(id)) => {
                    let viewer = socket.extensions.get::<Principal>();
                    match svc.read_lead(viewer.as_ref(), id).await {
                        Ok(read) => {
                            socket.join(lead_room(id));
                            json!({"ok": true, "lead_id": id, "status": read.record.status.as_str(), "bid_count": read.record.bid_count})
                        }
                        Err(e) => problem(e),
                    }
                }
                Ok(Err(_)) => problem(AppError::not_found("lead_not_found", "no such lead (malformed id)")),
                Err(_) => bad("invalid_payload", "expected {\"lead_id\": \"…\"}"),
            };
            let _ = ack.send(&reply);
        }
    });

    socket.on(
        "leave_auction",
        |socket: SocketRef<A>, TryData(req): TryData<JoinAuction>, ack: AckSender<A>| async move {
            if let Ok(r) = req {
                socket.leave(lead_room(r.lead_id));
            }
            let _ = ack.send(&json!({"ok": true}));
        },
    );

    let s3 = svc;
    socket.on("bid:place", move |socket: SocketRef<A>, TryData(req): TryData<PlaceBid>, ack: AckSender<A>| {
        let svc = s3.clone();
        async move {
            let reply = place_bid(&svc, &socket, req).await;
            let _ = ack.send(&reply);
        }
    });
}

/// The socket twin of `POST /v1/leads/{id}/bids`: same checks, same codes.
async fn place_bid<A: Adapter>(
    svc: &Leadex,
    socket: &SocketRef<A>,
    req: Result<PlaceBid, impl std::fmt::Display>,
) -> Value {
    let Some(p) = socket.extensions.get::<Principal>() else {
        return problem(AppError::unauthorized("an API key is required (handshake auth.token)"));
    };
    if !p.can(Scope::BidsWrite) {
        return problem(AppError::forbidden("insufficient_scope", "this key lacks the `bids:write` scope"));
    }
    let req = match req {
        Ok(r) => r,
        Err(_) => return bad("invalid_payload", "expected {\"lead_id\": \"…\", \"amount\": \"12.50\"}"),
    };
    let Ok(lead) = req.lead_id.parse::<LeadId>() else {
        return problem(AppError::not_found("lead_not_found", "no such resource (malformed id)"));
    };
    let amount = match Money::parse(&req.amount) {
        Ok(m) => m,
        Err(e) => return problem(AppError::invalid("invalid_amount", e.to_string()).with_field("amount")),
    };
    let cid = uuid::Uuid::now_v7().to_string();
    match svc.place_bid(&p, lead, amount, &cid).await {
        Ok(bid) => json!({"ok": true, "bid": crate::dto::BidView::from(bid), "correlation_id": cid}),
        Err(e) => problem(e),
    }
}
