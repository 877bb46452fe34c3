//! Logging, metrics and trace export setup. Logs are JSON lines by default;
//! each carries the fields of its span, so a request's correlation id
//! (`request_id`) is on every line logged while handling it. With
//! `--features otlp` and `telemetry.otlp_endpoint`, the same spans are also
//! exported as OTLP/HTTP traces (ADR 12).

use leadex_api::MetricsRender;
use metrics_exporter_prometheus::PrometheusBuilder;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogSettings, TelemetrySettings};

/// Installs the global tracing subscriber (once; later calls are no-ops).
pub fn init_logging(log: &LogSettings, telemetry: &TelemetrySettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if log.format == "pretty" {
        fmt.boxed()
    } else {
        fmt.json().with_current_span(true).with_span_list(false).flatten_event(true).boxed()
    };
    let endpoint = telemetry.otlp_endpoint.trim();
    #[cfg(feature = "otlp")]
    let otel = (!endpoint.is_empty()).then(|| otlp::layer(endpoint)).flatten();
    #[cfg(not(feature = "otlp"))]
    let otel: Option<tracing_subscriber::layer::Identity> = None;
    let installed = tracing_subscriber::registry().with(fmt).with(otel).with(filter).try_init().is_ok();
    if installed && !endpoint.is_empty() && !cfg!(feature = "otlp") {
        tracing::warn!(endpoint, "telemetry.otlp_endpoint is set but this binary has no `otlp` feature: not exporting");
    }
}

/// Flushes exported traces (a no-op without the `otlp` feature).
pub fn shutdown() {
    #[cfg(feature = "otlp")]
    otlp::shutdown();
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
    // The close-latency budget is 250 ms (issue 4): buckets fine enough
    // around it that the share within budget is read off exactly.
    const CLOSE: [f64; 20] = [
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        120.0,
    ];
    builder = builder
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full("leadex_auction_close_latency_seconds".into()),
            &CLOSE,
        )
        .ok()?;
    let handle = builder.install_recorder().ok()?;
    Some(std::sync::Arc::new(move || handle.render()))
}

#[cfg(feature = "otlp")]
mod otlp {
    //! OTLP/HTTP (protobuf) span export through the OpenTelemetry SDK's
    //! batch processor (its own thread, blocking HTTP client).

    use std::sync::OnceLock;

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig;
    use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
    use tracing::Subscriber;
    use tracing_subscriber::registry::LookupSpan;

    static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

    /// The layer exporting every span (with its fields as attributes) to
    /// `endpoint`, e.g. `http://127.0.0.1:4318/v1/traces`.
    pub fn layer<S>(endpoint: &str) -> Option<tracing_opentelemetry::OpenTelemetryLayer<S, SdkTracer>>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let exporter = match opentelemetry_otlp::SpanExporter::builder().with_http().with_endpoint(endpoint).build() {
            Ok(e) => e,
            Err(e) => {
                eprintln!("leadex: OTLP exporter not started: {e}");
                return None;
            }
        };
        let resource = opentelemetry_sdk::Resource::builder().with_service_name("leadex").build();
        let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
        let tracer = provider.tracer("leadex");
        let _ = PROVIDER.set(provider);
        Some(tracing_opentelemetry::layer().with_tracer(tracer))
    }

    /// Exports what is buffered and stops the exporter.
    pub fn shutdown() {
        if let Some(p) = PROVIDER.get() {
            let _ = p.shutdown();
        }
    }
}
