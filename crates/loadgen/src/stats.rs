//! Latency summaries (hdrhistogram, microsecond resolution) and CPU
//! accounting from `/proc`, so a run can say where the machine's time went.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Highest latency a histogram tracks: 60 s in µs.
const MAX_MICROS: u64 = 60_000_000;

/// A latency histogram in microseconds, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static histogram bounds are valid")
}

/// Records `d` (clamped into the tracked range).
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(MAX_MICROS).clamp(1, MAX_MICROS);
    h.saturating_record(us);
}

/// Percentiles of a histogram, all in microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest sample.
    pub max: u64,
}

impl Summary {
    /// Summarises `h`.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }

    /// As JSON, in microseconds.
    pub fn json(&self) -> Value {
        json!({"count": self.count, "mean_us": self.mean.round(), "p50_us": self.p50, "p90_us": self.p90,
               "p99_us": self.p99, "max_us": self.max})
    }

    /// `p50 … p99 … max` in milliseconds, for humans.
    pub fn line(&self) -> String {
        format!(
            "n={} mean={} p50={} p90={} p99={} max={}",
            self.count,
            ms(self.mean),
            ms(self.p50 as f64),
            ms(self.p90 as f64),
            ms(self.p99 as f64),
            ms(self.max as f64)
        )
    }
}

/// Microseconds as a millisecond string with 2 decimals.
pub fn ms(us: f64) -> String {
    format!("{:.2}ms", us / 1_000.0)
}

/// Clock ticks per second of `/proc` CPU times (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

/// A snapshot of CPU counters.
#[derive(Clone, Debug, Default)]
pub struct CpuSnapshot {
    /// Whole machine: (busy ticks, total ticks) summed over all CPUs.
    machine: (u64, u64),
    /// Ticks (user + system) per watched group.
    groups: BTreeMap<String, u64>,
    /// Ticks per server thread, keyed `name#tid`.
    threads: BTreeMap<String, u64>,
}

/// Which processes to account for separately.
#[derive(Clone, Debug, Default)]
pub struct CpuWatch {
    /// The server process, if known.
    pub server_pid: Option<u32>,
    /// Process names (`comm`) whose CPU is summed, e.g. `postgres`.
    pub comms: Vec<String>,
}

fn proc_ticks(stat: &str) -> Option<(String, u64)> {
    // `pid (comm) state ppid … utime(14) stime(15)`; comm may contain spaces.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14 → rest[11].
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

fn machine_ticks() -> (u64, u64) {
    let Ok(s) = std::fs::read_to_string("/proc/stat") else {
        return (0, 0);
    };
    let Some(line) = s.lines().next() else {
        return (0, 0);
    };
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

impl CpuWatch {
    /// Reads the counters now.
    pub fn snapshot(&self) -> CpuSnapshot {
        let mut groups = BTreeMap::new();
        if let Some((_, t)) = std::fs::read_to_string("/proc/self/stat").ok().as_deref().and_then(proc_ticks) {
            groups.insert("loadgen".to_owned(), t);
        }
        let mut threads = BTreeMap::new();
        if let Some(pid) = self.server_pid
            && let Some((_, t)) =
                std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().as_deref().and_then(proc_ticks)
        {
            groups.insert("server".to_owned(), t);
            for e in std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
                let tid = e.file_name().to_string_lossy().into_owned();
                if let Some((comm, t)) =
                    std::fs::read_to_string(e.path().join("stat")).ok().as_deref().and_then(proc_ticks)
                {
                    threads.insert(format!("{comm}#{tid}"), t);
                }
            }
        }
        if !self.comms.is_empty()
            && let Ok(dir) = std::fs::read_dir("/proc")
        {
            for e in dir.flatten() {
                let name = e.file_name();
                let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else {
                    continue;
                };
                if let Some((comm, t)) =
                    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().as_deref().and_then(proc_ticks)
                    && self.comms.contains(&comm)
                {
                    *groups.entry(comm).or_insert(0) += t;
                }
            }
        }
        CpuSnapshot { machine: machine_ticks(), groups, threads }
    }
}

/// CPU used between two snapshots over `wall`.
#[derive(Clone, Debug, Default)]
pub struct CpuUsage {
    /// Cores of the machine (`/proc/stat` CPUs).
    pub cores: usize,
    /// Share of the whole machine busy, 0–1.
    pub machine_busy: f64,
    /// Cores used per group (1.0 = one core fully busy).
    pub groups: BTreeMap<String, f64>,
    /// Cores used by the busiest server threads (`name#tid`), busiest first.
    pub threads: Vec<(String, f64)>,
}

impl CpuUsage {
    /// The difference `after - before` over `wall`.
    pub fn between(before: &CpuSnapshot, after: &CpuSnapshot, wall: Duration) -> Self {
        let busy = after.machine.0.saturating_sub(before.machine.0) as f64;
        let total = after.machine.1.saturating_sub(before.machine.1) as f64;
        let secs = wall.as_secs_f64().max(1e-9);
        let delta = |a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>| -> Vec<(String, f64)> {
            a.iter()
                .map(|(k, x)| (k.clone(), x.saturating_sub(b.get(k).copied().unwrap_or(0)) as f64 / TICKS / secs))
                .collect()
        };
        let mut threads = delta(&after.threads, &before.threads);
        threads.sort_by(|x, y| y.1.total_cmp(&x.1));
        threads.retain(|t| t.1 >= 0.01);
        threads.truncate(8);
        Self {
            cores: std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            machine_busy: if total > 0.0 { busy / total } else { 0.0 },
            groups: delta(&after.groups, &before.groups).into_iter().collect(),
            threads,
        }
    }

    /// Cores busy outside the watched groups (other processes, kernel).
    pub fn other(&self) -> f64 {
        let watched: f64 = self.groups.iter().filter(|(k, _)| !k.contains('#')).map(|(_, v)| v).sum();
        (self.machine_busy * self.cores as f64 - watched).max(0.0)
    }

    /// As JSON.
    pub fn json(&self) -> Value {
        json!({
            "cores": self.cores,
            "machine_busy": round3(self.machine_busy),
            "cores_used": self.groups.iter().map(|(k, v)| (k.clone(), json!(round3(*v)))).collect::<serde_json::Map<_, _>>(),
            "other_cores": round3(self.other()),
            "server_threads": self.threads.iter().map(|(k, v)| json!([k, round3(*v)])).collect::<Vec<_>>(),
        })
    }

    /// Lines for humans.
    pub fn line(&self) -> String {
        let mut s = format!("machine {:.0}% busy of {} cores", self.machine_busy * 100.0, self.cores);
        for (k, v) in &self.groups {
            let _ = write!(s, "; {k} {v:.2}");
        }
        let _ = write!(s, "; other {:.2} cores", self.other());
        if !self.threads.is_empty() {
            s.push_str("\n  server threads:");
            for (k, v) in &self.threads {
                let _ = write!(s, " {k} {v:.2};");
            }
        }
        s
    }
}

/// Rounds to 3 decimals.
pub fn round3(x: f64) -> f64 {
    (x * 1_000.0).round() / 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_with_spaces_in_comm() {
        let line = "42 (tokio rt) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 1000 0 0";
        assert_eq!(proc_ticks(line), Some(("tokio rt".to_owned(), 300)));
    }

    #[test]
    fn summary_of_known_samples() {
        let mut h = histogram();
        for i in 1..=100u64 {
            record(&mut h, Duration::from_millis(i));
        }
        let s = Summary::of(&h);
        assert_eq!(s.count, 100);
        assert!((49_900..=50_100).contains(&s.p50), "{}", s.p50);
        assert!((98_900..=99_100).contains(&s.p99), "{}", s.p99);
    }
}
