//! Realtime events (SPEC §10 "WebSocket sharding"): services publish them
//! through this port; the API layer delivers them to Socket.IO rooms.
//!
//! Publishing never blocks and never fails a state change: events are sent
//! after the transaction that caused them committed, and a slow or absent
//! subscriber costs nothing here.

use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};

/// One event for one or more rooms (a socket in several gets it once).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Event name (`lead:new`, `auction:bid`, …).
    pub name: &'static str,
    /// Rooms: `vertical:<slug>`, `lead:<id>`, `account:<id>`.
    pub rooms: Vec<String>,
    /// Payload (an object; `ts` and `correlation_id` are added).
    pub payload: Map<String, Value>,
    /// Correlation id of the request or job that caused it.
    pub correlation_id: String,
}

/// Where events go.
pub trait EventSink: Send + Sync + std::fmt::Debug + 'static {
    /// Delivers `event` (must not block).
    fn publish(&self, event: Event);
}

/// The process's event hub: the API layer plugs its Socket.IO sink in after
/// the services are built; until then (and in worker-only processes without
/// a fan-out adapter) events are dropped.
#[derive(Debug, Default)]
pub struct EventHub {
    sink: RwLock<Option<Arc<dyn EventSink>>>,
}

impl EventHub {
    /// Installs the sink.
    pub fn set_sink(&self, sink: Arc<dyn EventSink>) {
        *self.sink.write().unwrap_or_else(|p| p.into_inner()) = Some(sink);
    }

    /// Publishes an event, stamping `ts` (server emit time, ms) and the
    /// correlation id into its payload.
    pub fn publish(&self, mut event: Event) {
        let sink = self.sink.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(sink) = sink else { return };
        event.payload.insert("ts".into(), Value::from(chrono::Utc::now().timestamp_millis()));
        event.payload.insert("correlation_id".into(), Value::String(event.correlation_id.clone()));
        metrics::counter!("leadex_ws_events_total", "event" => event.name).increment(1);
        sink.publish(event);
    }
}

/// Room of a vertical.
pub fn vertical_room(slug: &str) -> String {
    format!("vertical:{slug}")
}

/// Room of a lead's auction.
pub fn lead_room(id: impl std::fmt::Display) -> String {
    format!("lead:{id}")
}

/// Private room of an account.
pub fn account_room(id: impl std::fmt::Display) -> String {
    format!("account:{id}")
}
