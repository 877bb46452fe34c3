//! Logging and metrics setup. Logs are JSON lines by default; each carries
//! the fields of its spans, so a request's correlation id (`request_id`)
//! is on every line logged while handling it.

use leadex_api::MetricsRender;
use metrics_exporter_prometheus::PrometheusBuilder;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogSettings;

/// Installs the global tracing subscriber (once; later calls are no-ops).
pub fn init_logging(log: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_span_events(FmtSpan::NONE).with_writer(std::io::stderr);
    let _ = if log.format == "pretty" {
        builder.try_init()
    } else {
        builder.json().with_current_span(true).with_span_list(false).flatten_event(true).try_init()
    };
}

/// Installs the Prometheus recorder and returns the `/metrics` renderer
/// (`None` if a recorder was already installed, e.g. in tests).
pub fn init_metrics() -> Option<MetricsRender> {
    // Chain latencies run to minutes (docs/metrics.md).
    const CHAIN: [f64; 13] = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0];
    let mut builder = PrometheusBuilder::new()
        .set_buckets(&[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
        .ok()?;
    for name in ["leadex_nft_mint_confirmation_seconds", "leadex_escrow_funding_seconds"] {
        builder =
            builder.set_buckets_for_metric(metrics_exporter_prometheus::Matcher::Full(name.into()), &CHAIN).ok()?;
    }
    let handle = builder.install_recorder().ok()?;
    Some(std::sync::Arc::new(move || handle.render()))
}
