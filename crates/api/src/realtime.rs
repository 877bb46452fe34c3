//! Socket.IO on the API port (socketioxide): rooms per vertical, per
//! auction and per account, `bid:place` with an acknowledgement carrying the
//! same result or problem code as the REST route, and the sink through which
//! the services' events reach the rooms. See `docs/realtime.md`.
//!
//! Sealed bids stay sealed: public rooms only ever receive counts; amounts go
//! to the bidder's own `account:<id>` room.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use leadex_core::events::{Event, EventSink, account_room, lead_room, vertical_room};
use leadex_core::model::Principal;
use leadex_core::{AppError, Leadex};
use leadex_domain::account::Scope;
use leadex_domain::{LeadId, Money};
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::DisconnectReason;
use socketioxide::{BroadcastError, SocketError, SocketIo, SocketIoBuilder};
use socketioxide_core::adapter::DefinedAdapter;

use crate::problem::ApiError;

/// Socket.IO tunables (`realtime.*` configuration).
#[derive(Clone, Debug)]
pub struct RealtimeConfig {
    /// Events buffered per socket; a client that falls this far behind
    /// loses events (counted) instead of slowing anyone else down, and is
    /// disconnected at its next heartbeat, which cannot be queued either.
    pub buffer: usize,
    /// Simultaneous sockets per authenticated account.
    pub max_per_account: usize,
    /// Simultaneous sockets per client IP address.
    pub max_per_ip: usize,
    /// Heartbeat period (engine.io ping).
    pub ping_interval: Duration,
    /// How long a pong may take before the socket is closed.
    pub ping_timeout: Duration,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self {
            buffer: 256,
            max_per_account: 50,
            max_per_ip: 1_000,
            ping_interval: Duration::from_secs(10),
            ping_timeout: Duration::from_secs(10),
        }
    }
}

impl RealtimeConfig {
    /// A Socket.IO builder with these tunables (add an adapter to it).
    pub fn builder(&self) -> SocketIoBuilder {
        SocketIo::builder()
            .max_buffer_size(self.buffer)
            .ping_interval(self.ping_interval)
            .ping_timeout(self.ping_timeout)
    }
}

/// Connection counts behind the caps.
#[derive(Debug, Default)]
struct Caps {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl Caps {
    /// Takes a slot for `ip`, or `false` when it has `max` already.
    fn acquire(&self, ip: IpAddr, max: usize) -> bool {
        let mut m = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    fn release(&self, ip: IpAddr) {
        let mut m = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&ip);
            }
        }
    }
}

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
            match io.to(event.rooms).emit(event.name, &Value::Object(event.payload)).await {
                Ok(()) => {}
                Err(BroadcastError::Socket(errs)) => {
                    // Per socket: a full buffer drops this event for that
                    // client only; a closing socket is not a loss.
                    let full = errs.iter().filter(|e| matches!(e, SocketError::InternalChannelFull)).count();
                    if full > 0 {
                        metrics::counter!("leadex_ws_events_dropped_total", "reason" => "buffer_full")
                            .increment(full as u64);
                    }
                }
                Err(e) => {
                    metrics::counter!("leadex_ws_emit_errors_total").increment(1);
                    tracing::debug!(error = %e, event = event.name, "emit failed");
                }
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
pub fn local_layer(svc: Leadex, cfg: &RealtimeConfig) -> SocketIoLayer {
    let (layer, io) = cfg.builder().build_layer();
    set_sink(&io, &svc);
    namespace(&io, svc, cfg.clone());
    layer
}

/// Keeps `leadex_ws_rooms` (rooms with a socket of this process) current
/// while the runtime lives.
fn spawn_rooms_gauge<A: Adapter>(io: SocketIo<A>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
    rt.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            if let Ok(rooms) = io.local().rooms().await {
                metrics::gauge!("leadex_ws_rooms").set(rooms.len() as f64);
            }
        }
    });
}

/// Plugs `io` into the service's event hub: events published by the
/// services are emitted to the rooms of every process sharing the adapter.
pub fn set_sink<A: Adapter>(io: &SocketIo<A>, svc: &Leadex) {
    svc.events().set_sink(Arc::new(SocketSink { io: io.clone() }));
}

/// Registers the `/` namespace on `io`, for any adapter (the result is
/// awaited with a remote adapter).
///
/// socketioxide sends the namespace's connect packet *before* it calls the
/// connect handler, and reads the client's next packets meanwhile, so a
/// client that emits `subscribe` as soon as it is connected could reach a
/// socket without handlers (seen under load: the first `subscribe` was
/// never acknowledged). So the per-IP cap, the disconnect bookkeeping and
/// the event handlers are settled in a connect *middleware*, which runs
/// before that packet is sent; the handler then refuses or authenticates.
pub fn namespace<A: Adapter + DefinedAdapter>(io: &SocketIo<A>, svc: Leadex, cfg: RealtimeConfig) -> A::InitRes {
    spawn_rooms_gauge(io.clone());
    let ctx = Arc::new(ConnCtx { svc, io: io.clone(), cfg, caps: Caps::default() });
    let admit = {
        let ctx = ctx.clone();
        move |socket: SocketRef<A>| {
            admit(&ctx, &socket);
            async { Ok::<(), std::convert::Infallible>(()) }
        }
    };
    let handler = move |socket: SocketRef<A>, TryData(auth): TryData<Handshake>| {
        let ctx = ctx.clone();
        async move {
            match socket.extensions.get::<Admission<A>>() {
                Some(Admission::Admitted(slot)) => on_connect(ctx, socket, slot, auth.unwrap_or_default()).await,
                _ => refuse(socket, "per_ip", &bad("too_many_connections", "connection cap per IP address reached")),
            }
        }
    };
    io.ns("/", handler.with(admit))
}

/// What the connect middleware decided for a socket.
enum Admission<A: Adapter> {
    /// Within the per-IP cap: its slot (handlers registered).
    Admitted(Arc<Slot<A>>),
    /// Over the cap: no handler is registered, so nothing it sends before
    /// it is refused is answered.
    OverCap,
}

impl<A: Adapter> Clone for Admission<A> {
    fn clone(&self) -> Self {
        match self {
            Self::Admitted(s) => Self::Admitted(s.clone()),
            Self::OverCap => Self::OverCap,
        }
    }
}

/// Takes the socket's per-IP slot and registers its disconnect and event
/// handlers, or marks it over the cap.
fn admit<A: Adapter>(ctx: &Arc<ConnCtx<A>>, socket: &SocketRef<A>) {
    let ip = socket.req_parts().extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Some(ip) = ip
        && !ctx.caps.acquire(ip, ctx.cfg.max_per_ip)
    {
        socket.extensions.insert(Admission::<A>::OverCap);
        return;
    }
    let slot = Arc::new(Slot { ctx: ctx.clone(), ip, state: AtomicU8::new(PENDING), released: AtomicBool::new(false) });
    let gone = slot.clone();
    socket.on_disconnect(move |reason: DisconnectReason| async move {
        gone.release();
        if gone.state.swap(GONE, Ordering::AcqRel) == COUNTED {
            metrics::gauge!("leadex_ws_connections").decrement(1.0);
            metrics::counter!("leadex_ws_disconnects_total", "reason" => disconnect_reason(reason)).increment(1);
        }
    });
    register_events(&ctx.svc, socket);
    socket.extensions.insert(Admission::Admitted(slot));
}

/// A connection not yet accepted (authenticating).
const PENDING: u8 = 0;
/// Accepted and counted in `leadex_ws_connections`.
const COUNTED: u8 = 1;
/// Disconnected.
const GONE: u8 = 2;

/// One connection's per-IP slot and its place in the connection gauge.
struct Slot<A: Adapter> {
    ctx: Arc<ConnCtx<A>>,
    ip: Option<IpAddr>,
    state: AtomicU8,
    released: AtomicBool,
}

impl<A: Adapter> Slot<A> {
    /// Gives the per-IP slot back, once.
    fn release(&self) {
        if let Some(ip) = self.ip
            && !self.released.swap(true, Ordering::AcqRel)
        {
            self.ctx.caps.release(ip);
        }
    }
}

/// What every connection of a namespace shares.
struct ConnCtx<A: Adapter> {
    svc: Leadex,
    io: SocketIo<A>,
    cfg: RealtimeConfig,
    caps: Caps,
}

/// Turns a connection away: an `error` event with the problem, then close.
fn refuse<A: Adapter>(socket: SocketRef<A>, reason: &'static str, reply: &Value) {
    metrics::counter!("leadex_ws_refused_total", "reason" => reason).increment(1);
    let _ = socket.emit("error", reply);
    let _ = socket.disconnect();
}

async fn on_connect<A: Adapter>(ctx: Arc<ConnCtx<A>>, socket: SocketRef<A>, slot: Arc<Slot<A>>, auth: Handshake) {
    if let Some(token) = auth.token.filter(|t| !t.is_empty()) {
        match ctx.svc.authenticate(&token).await {
            Ok(p) => {
                let room = account_room(p.account.id);
                if ctx.io.within(room.clone()).sockets().len() >= ctx.cfg.max_per_account {
                    slot.release();
                    refuse(socket, "per_account", &bad("too_many_connections", "connection cap per account reached"));
                    return;
                }
                socket.join(room);
                socket.extensions.insert(p);
            }
            Err(e) => {
                slot.release();
                refuse(socket, "auth", &problem(e));
                return;
            }
        }
    }
    // Counted unless it went away while authenticating.
    if slot.state.compare_exchange(PENDING, COUNTED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        metrics::gauge!("leadex_ws_connections").increment(1.0);
    }
}

/// Registers the client → server events. Called synchronously from the
/// connect handler: socketioxide sends the connect acknowledgement *before*
/// it runs the (async) handler, so a client that emits right after
/// `connect` would otherwise race the registration and lose its event
/// (seen as a lost `subscribe` acknowledgement in the stalled-client test).
fn register_events<A: Adapter>(svc: &Leadex, socket: &SocketRef<A>) {
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

    let s3 = svc.clone();
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

/// A bounded label for `leadex_ws_disconnects_total`: `heartbeat` covers a
/// dead client and one whose buffer was full when its ping was due.
fn disconnect_reason(r: DisconnectReason) -> &'static str {
    match r {
        DisconnectReason::HeartbeatTimeout => "heartbeat",
        DisconnectReason::TransportClose | DisconnectReason::ClientNSDisconnect => "client",
        DisconnectReason::TransportError
        | DisconnectReason::PacketParsingError
        | DisconnectReason::MultipleHttpPollingError => "transport_error",
        DisconnectReason::ServerNSDisconnect | DisconnectReason::ClosingServer => "server",
    }
}
