//! `scrape`: what a Prometheus scrape of the agent's `/metrics` costs at
//! N sessions (50 ms x 3, fast path on, all Up) in each histogram mode
//! (`--metrics-histograms`): the time to the last byte and the size of the
//! answer, OpenMetrics and the classic format, from inside node A's
//! namespace (its endpoint is on loopback there). The scrape runs on the
//! agent's tokio side: one map lookup per session and the rendering, never
//! the engine thread. `BFD_BENCH_ONLY="1000 sessions"` runs one size,
//! `BFD_BENCH_ONLY=aggregate` one mode.

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bfd_user::config::EngineScheduling;
use serde_json::json;

use crate::{
    Context,
    pair::{Implementation, Pair, sessions},
    report::{Cell, Table},
};

const INTERVAL_US: u64 = 50_000;
const FULL_SIZES: [usize; 3] = [1, 1000, 10_000];
const QUICK_SIZES: [usize; 2] = [1, 100];
/// Scrapes per size and format (one a second, as a 1 s scrape interval).
const SCRAPES: usize = 10;
/// The same with `--quick`.
const QUICK_SCRAPES: usize = 5;
/// The histogram modes (`--metrics-histograms`).
const MODES: [&str; 3] = ["per-session", "aggregate", "off"];
/// The agent's default metrics address, in its namespace.
const METRICS: (&str, u16) = ("127.0.0.1", 9784);

/// One scrape: the time to the answer's last byte and its body's size.
fn scrape(accept: &str) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(METRICS)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: bench\r\nAccept: {accept}\r\nConnection: close\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let elapsed = started.elapsed();
    let head_end =
        response.windows(4).position(|window| window == b"\r\n\r\n").context("no end of headers")?;
    anyhow::ensure!(
        response.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&response[..head_end])
    );
    Ok((elapsed, response.len() - head_end - 4))
}

pub fn run(context: &Context) -> anyhow::Result<()> {
    let sizes: Vec<usize> = if context.quick { QUICK_SIZES.to_vec() } else { FULL_SIZES.to_vec() };
    // BFD_BENCH_ONLY="1000 sessions" runs one size.
    let runs: Vec<(usize, &str)> = sizes
        .into_iter()
        .flat_map(|count| MODES.into_iter().map(move |mode| (count, mode)))
        .filter(|(count, mode)| crate::selected(&format!("{count} sessions {mode}")))
        .collect();
    let scrapes = if context.quick { QUICK_SCRAPES } else { SCRAPES };
    let mut table = Table::new(
        "scrape",
        format!(
            "one /metrics scrape of bfd-agent at N sessions at 50 ms x 3, median and max of {scrapes}, 1 s apart"
        ),
        &["N", "histograms", "format", "median ms", "max ms", "size KiB", "bytes per session"],
    );
    let mut raw = Vec::new();
    let formats = [
        ("OpenMetrics", "application/openmetrics-text;version=1.0.0"),
        ("classic text", "text/plain;version=0.0.4"),
    ];
    for (count, mode) in runs {
        eprintln!("scrape: N = {count}, histograms {mode}");
        let pair = Pair::start_with(
            "sr",
            Implementation::Agent(EngineScheduling::Normal),
            sessions(count, &[INTERVAL_US]),
            &["--metrics-histograms", mode],
        )?;
        let limit = Duration::from_secs(30 + count as u64 / 100);
        // Scraped even if some sessions are not Up (this 2-core machine
        // may not hold 10,000 at 50 ms): every configured session is
        // exported either way, and the figures say how many were Up.
        let all_up = pair.wait_all_up(limit)?.is_some();
        let mode_cell = if all_up {
            mode.to_owned()
        } else {
            let (a, b) = pair.up_counts()?;
            format!("{mode} (Up: {a}, {b})")
        };
        for (name, accept) in formats {
            let samples = pair.link.a.run_in(move || {
                let mut samples = Vec::new();
                for _ in 0..scrapes {
                    samples.push(scrape(accept)?);
                    std::thread::sleep(Duration::from_secs(1));
                }
                Ok(samples)
            })?;
            let mut times: Vec<f64> = samples.iter().map(|(time, _)| time.as_secs_f64() * 1e3).collect();
            times.sort_by(f64::total_cmp);
            let size = samples.last().map_or(0, |(_, size)| *size);
            table.row(vec![
                Cell::count(count as u64),
                Cell::text(mode_cell.clone()),
                Cell::text(name),
                Cell::number(times[times.len() / 2], 2),
                Cell::number(times[times.len() - 1], 2),
                Cell::number(size as f64 / 1024.0, 1),
                Cell::count((size / count) as u64),
            ]);
            raw.push(json!({
                "n": count, "histograms": mode, "all_up": all_up, "format": name, "ms": times, "bytes": size,
            }));
        }
    }
    table.raw = json!(raw);
    table.publish(&context.out, &context.machine)
}
