//! `leadex-loadgen`: benchmarks for leadex against a running server.
//!
//! - `ingest`: closed-loop ingestion load (single or `:batch`), reporting
//!   accepted leads/s, latency percentiles, errors by status and CPU use.
//! - `list-depth`: seeds a large `leads` table and compares page 1 with a
//!   deep page, through the API's keyset cursor and through SQL `OFFSET`.

mod depth;
mod ingest;
mod stats;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "leadex-loadgen", version, about = "Load generator and benchmarks for leadex")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Closed-loop ingestion load for a fixed time.
    Ingest(ingest::IngestArgs),
    /// Page 1 vs page N latency with N × limit leads stored.
    ListDepth(depth::DepthArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        match cli.command {
            Command::Ingest(a) => ingest::run(a).await,
            Command::ListDepth(a) => depth::run(a).await,
        }
    })
}
