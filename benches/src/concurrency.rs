//! The measurement side of the concurrency benchmark (`shared/benchmarks.md` §4), shared by
//! calcine's `benches/concurrency.rs` and the peers' `peers/benches/concurrency.rs` (which
//! includes this file with `#[path]`): settings from the environment, the per-task loop that
//! times every operation, and the summary written as one JSON line per implementation and
//! workload. Plain `std`, no dependencies.
//!
//! Protocol: `tasks` tasks start together and each runs the operation in a loop, starting new
//! operations until `warm_up + measure` seconds after the start. The **throughput** is the
//! operations that completed inside the measurement window (after the warm-up, before the end)
//! divided by its length. The **latencies** are those of every operation that completed after
//! the warm-up, including operations that started during the warm-up and operations still
//! running at the end (the tasks finish them): a task starved by the pool then shows up as a
//! few very long operations instead of vanishing from the percentiles.

use std::time::{Duration, Instant};

/// Tasks sharing the pool (`shared/benchmarks.md` §4).
pub const TASKS: usize = 64;
/// Connections in every implementation's pool (no overflow).
pub const POOL_SIZE: usize = 4;
/// Worker threads of every multi-thread runtime (the same for all implementations).
pub const WORKER_THREADS: usize = 2;

/// The run's parameters: `WARM_UP` / `MEASURE` (seconds, default 1 / 5), `CONC_TASKS`
/// (default 64), and a substring filter on `implementation/workload` from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    pub warm_up: Duration,
    pub measure: Duration,
    pub tasks: usize,
    pub filter: Option<String>,
    /// `--json PATH`: where the JSON lines go (also printed).
    pub json: Option<String>,
}

fn env_secs(name: &str, default: f64) -> Duration {
    let v = std::env::var(name)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(default);
    Duration::from_secs_f64(v.max(0.0))
}

impl Settings {
    /// From the environment and the bench binary's arguments (`cargo bench` passes `--bench`).
    pub fn from_env() -> Settings {
        let mut args = std::env::args().skip(1);
        let mut json = None;
        let mut filter = None;
        while let Some(a) = args.next() {
            match a.as_str() {
                "--json" => json = args.next(),
                s if s.starts_with("--") => {}
                s => filter = Some(s.to_owned()),
            }
        }
        Settings {
            warm_up: env_secs("WARM_UP", 1.0),
            measure: env_secs("MEASURE", 5.0),
            tasks: std::env::var("CONC_TASKS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(TASKS),
            filter,
            json,
        }
    }

    /// Whether `implementation/workload` passes the filter.
    pub fn wants(&self, implementation: &str, workload: &str) -> bool {
        self.filter
            .as_deref()
            .is_none_or(|f| format!("{implementation}/{workload}").contains(f))
    }

    /// The time window of one measurement starting now.
    pub fn window(&self) -> Window {
        let now = Instant::now();
        Window {
            measure_from: now + self.warm_up,
            end: now + self.warm_up + self.measure,
        }
    }
}

/// When counting starts and when tasks stop starting operations.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub measure_from: Instant,
    pub end: Instant,
}

/// One task's record: `while let Some(t0) = rec.start() { op().await; rec.done(t0); }`.
#[derive(Debug)]
pub struct Recorder {
    window: Window,
    latencies_ns: Vec<u64>,
    in_window: usize,
    warm_up_ops: u64,
}

impl Recorder {
    pub fn new(window: Window) -> Recorder {
        Recorder {
            window,
            latencies_ns: Vec::with_capacity(4096),
            in_window: 0,
            warm_up_ops: 0,
        }
    }

    /// The start of the next operation, or `None` once the window has ended.
    #[inline]
    pub fn start(&self) -> Option<Instant> {
        let t0 = Instant::now();
        (t0 < self.window.end).then_some(t0)
    }

    /// Records the operation started at `t0`, which has just finished.
    #[inline]
    pub fn done(&mut self, t0: Instant) {
        let t1 = Instant::now();
        if t1 >= self.window.measure_from {
            self.latencies_ns
                .push(u64::try_from((t1 - t0).as_nanos()).unwrap_or(u64::MAX));
            if t1 <= self.window.end {
                self.in_window += 1;
            }
        } else {
            self.warm_up_ops += 1;
        }
    }
}

/// The two workloads of the concurrency benchmark.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Wl {
    /// trivial/1: one user row.
    Trivial,
    /// diesel's workload 4 (users x posts x comments).
    Assoc,
}

impl Wl {
    pub fn name(self) -> &'static str {
        match self {
            Wl::Trivial => "trivial",
            Wl::Assoc => "assoc",
        }
    }

    /// Top-level rows every operation must return (`assoc_users`: the seeded user count).
    pub fn want(self, assoc_users: usize) -> usize {
        match self {
            Wl::Trivial => 1,
            Wl::Assoc => assoc_users,
        }
    }
}

/// One task's work: `op` back to back until the window closes, each result checked against
/// `want` and each operation timed.
pub async fn op_loop<F, Fut>(window: Window, want: usize, mut op: F) -> Recorder
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut rec = Recorder::new(window);
    while let Some(t0) = rec.start() {
        let n = op().await;
        assert_eq!(n, want);
        rec.done(t0);
    }
    rec
}

/// Waits for every task's record.
pub async fn join_all(handles: Vec<tokio::task::JoinHandle<Recorder>>) -> Vec<Recorder> {
    let mut recs = Vec::with_capacity(handles.len());
    for h in handles {
        recs.push(h.await.expect("task"));
    }
    recs
}

/// The result of one implementation on one workload.
#[derive(Debug, Clone)]
pub struct Stats {
    pub implementation: String,
    pub workload: String,
    pub runtime: String,
    pub tasks: usize,
    pub pool: usize,
    /// Operations completed inside the measurement window.
    pub ops: usize,
    /// Latency samples (`ops` plus those finished after the end).
    pub samples: usize,
    pub warm_up_ops: u64,
    pub seconds: f64,
    pub throughput: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
    /// Fewest / most operations of a single task inside the window (fairness of the pool).
    pub task_ops_min: usize,
    pub task_ops_max: usize,
    /// Tasks that completed no operation inside the window (starved by the pool).
    pub tasks_starved: usize,
    pub note: String,
}

/// Nearest-rank percentile of sorted values (0 when empty).
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Merges the tasks' records into one [`Stats`].
pub fn summarize(
    implementation: &str,
    workload: &str,
    runtime: &str,
    note: &str,
    window: Window,
    recorders: Vec<Recorder>,
) -> Stats {
    let tasks = recorders.len();
    let task_ops_min = recorders.iter().map(|r| r.in_window).min().unwrap_or(0);
    let task_ops_max = recorders.iter().map(|r| r.in_window).max().unwrap_or(0);
    let tasks_starved = recorders.iter().filter(|r| r.in_window == 0).count();
    let ops = recorders.iter().map(|r| r.in_window).sum();
    let warm_up_ops = recorders.iter().map(|r| r.warm_up_ops).sum();
    let mut all: Vec<u64> = recorders.into_iter().flat_map(|r| r.latencies_ns).collect();
    all.sort_unstable();
    let seconds = (window.end - window.measure_from).as_secs_f64();
    let samples = all.len();
    let us = |ns: u64| ns as f64 / 1e3;
    let mean_us = if samples == 0 {
        0.0
    } else {
        all.iter().map(|&n| n as f64).sum::<f64>() / samples as f64 / 1e3
    };
    Stats {
        implementation: implementation.to_owned(),
        workload: workload.to_owned(),
        runtime: runtime.to_owned(),
        tasks,
        pool: POOL_SIZE,
        ops,
        samples,
        warm_up_ops,
        seconds,
        throughput: if seconds > 0.0 {
            ops as f64 / seconds
        } else {
            0.0
        },
        p50_us: us(percentile(&all, 50.0)),
        p99_us: us(percentile(&all, 99.0)),
        p999_us: us(percentile(&all, 99.9)),
        max_us: us(all.last().copied().unwrap_or(0)),
        mean_us,
        task_ops_min,
        task_ops_max,
        tasks_starved,
        note: note.to_owned(),
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Stats {
    /// One JSON object on one line.
    pub fn json(&self) -> String {
        format!(
            "{{\"implementation\": {}, \"workload\": {}, \"runtime\": {}, \"tasks\": {}, \
             \"pool\": {}, \"ops\": {}, \"samples\": {}, \"warm_up_ops\": {}, \
             \"seconds\": {:.4}, \
             \"throughput\": {:.1}, \"p50_us\": {:.1}, \"p99_us\": {:.1}, \"p999_us\": {:.1}, \
             \"max_us\": {:.1}, \"mean_us\": {:.1}, \"task_ops_min\": {}, \"task_ops_max\": {}, \
             \"tasks_starved\": {}, \"note\": {}}}",
            json_str(&self.implementation),
            json_str(&self.workload),
            json_str(&self.runtime),
            self.tasks,
            self.pool,
            self.ops,
            self.samples,
            self.warm_up_ops,
            self.seconds,
            self.throughput,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.max_us,
            self.mean_us,
            self.task_ops_min,
            self.task_ops_max,
            self.tasks_starved,
            json_str(&self.note),
        )
    }

    /// A human-readable line for the log.
    pub fn line(&self) -> String {
        format!(
            "{:<28} {:<8} {:>10.0} ops/s  p50 {:>9.1} µs  p99 {:>9.1} µs  p99.9 {:>9.1} µs  \
             ({} ops in {:.2} s, per task {}..{})",
            self.implementation,
            self.workload,
            self.throughput,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.ops,
            self.seconds,
            self.task_ops_min,
            self.task_ops_max,
        )
    }
}

/// Collects the results and writes them (`--json PATH`, one object per line) at the end.
#[derive(Debug, Default)]
pub struct Output {
    pub stats: Vec<Stats>,
}

impl Output {
    pub fn push(&mut self, s: Stats) {
        println!("{}", s.line());
        self.stats.push(s);
    }

    /// Writes the JSON lines to `path` (replacing the file).
    ///
    /// # Panics
    /// If the file cannot be written.
    pub fn write(&self, path: Option<&str>) {
        let Some(path) = path else {
            return;
        };
        let mut text = String::new();
        for s in &self.stats {
            text.push_str(&s.json());
            text.push('\n');
        }
        std::fs::write(path, text).expect("write the --json file");
        println!("wrote {path}");
    }
}
