//! `scale`: N sessions at 50 ms x 3 (`BFD_BENCH_SCALE_INTERVAL_MS` for
//! another interval) between two nodes, for growing N, each
//! implementation until it collapses (not every session Up within the
//! bring-up limit, or not every session still Up at the end of the
//! window); and `fastpath-share`: at N = 1000, the share of received
//! control packets the XDP program absorbs and how often each daemon
//! wakes up.
//!
//! CPU is each daemon's own time on CPU (all threads, from
//! /proc/PID/task/*/schedstat). The XDP program and its timers run in
//! the kernel's softirq context, charged to no daemon, so the machine's
//! busy time (every CPU, /proc/stat) is shown beside it: it holds both
//! nodes, their kernels and the veth.

use std::time::Duration;

use anyhow::Context as _;
use bfd_lab::e2e::{BfdPacket, Capture, TxWindow};
use bfd_user::config::EngineScheduling;
use serde_json::{Value, json};

use crate::{
    Context,
    load::AGENT_RT_PRIORITY,
    measure::{LinkCounters, ProcessSample, link_counters, machine_busy_seconds, napi_threads_cpu_ns},
    pair::{BFDD_8_4, BFDD_10_7, BIRD_2_20, Implementation, Pair, sessions, with_sample},
    report::{Cell, Table, Target},
    svg,
};

const INTERVAL_US: u64 = 50_000;
/// Sessions captured on the wire for §6.8.7 (`BFD_BENCH_SCALE_SAMPLE=K`
/// instead; 0: none).
const SAMPLE: usize = 16;
/// The capture's own slack each side of §6.8.7's window, µs: the bridge
/// port stamps a frame when its NAPI poll takes it, in batches.
const CAPTURE_SLACK_US: u64 = 500;

const FULL_SIZES: [usize; 6] = [100, 500, 1000, 2000, 5000, 10_000];
const QUICK_SIZES: [usize; 2] = [100, 500];

/// `50 ms`.
fn interval_label(interval_us: u64) -> String {
    format!("{} ms", interval_us as f64 / 1000.0)
}

/// How many sessions to capture (`BFD_BENCH_SCALE_SAMPLE`, else [`SAMPLE`]).
fn sample_size() -> anyhow::Result<usize> {
    match std::env::var("BFD_BENCH_SCALE_SAMPLE") {
        Ok(count) => count.trim().parse().context("BFD_BENCH_SCALE_SAMPLE: a number of sessions"),
        Err(_) => Ok(SAMPLE),
    }
}

/// The measuring window of the target rows in the full run: the
/// target's five minutes.
const TARGET_WINDOW: Duration = Duration::from_secs(300);

/// The measuring window of each row.
#[derive(Clone, Copy)]
enum Window {
    /// 60 s (10 with `--quick`); [`TARGET_WINDOW`] for the target rows of
    /// the full run.
    Default(Duration),
    /// `BFD_BENCH_SCALE_WINDOW_S`, for every row.
    Chosen(Duration),
}

/// The measuring window: `BFD_BENCH_SCALE_WINDOW_S` seconds, else the
/// default.
fn window(quick: bool) -> anyhow::Result<Window> {
    match std::env::var("BFD_BENCH_SCALE_WINDOW_S") {
        Ok(seconds) => Ok(Window::Chosen(Duration::from_secs(
            seconds.trim().parse().context("BFD_BENCH_SCALE_WINDOW_S: whole seconds")?,
        ))),
        Err(_) => Ok(Window::Default(Duration::from_secs(if quick { 10 } else { 60 }))),
    }
}

/// What one pair measured over its window.
struct Measured {
    up_after_s: f64,
    window_s: f64,
    /// Per node: CPU and wake-ups in the window.
    a: ProcessSample,
    b: ProcessSample,
    machine_busy_s: f64,
    /// CPU of the NAPI threads in the window, both nodes (the link's
    /// receive, with `BFD_BENCH_THREADED_NAPI=1`; 0 without).
    napi_cpu_ns: u64,
    /// Packets received and sent on A's link in the window.
    a_rx: u64,
    a_tx: u64,
    /// Packets the link dropped in the window, both ends: state changes
    /// with drops beside them are (at least partly) the link's (a full
    /// veth XDP ring), without them the daemons'.
    link_dropped: u64,
    state_changes: u64,
    /// Sessions still Up at the end (A, B).
    up_at_end: (usize, usize),
    rss_kib: (u64, u64),
    map_bytes: Option<u64>,
    /// Control packets absorbed in the kernel and seen in userspace, both
    /// nodes (agent only).
    absorbed: u64,
    seen_in_userspace: u64,
    /// §6.8.7 on the wire for the sampled sessions, if any.
    sample: Option<SampleWindows>,
}

/// RFC 5880 §6.8.7 on the wire for the sampled sessions, both ends of each
/// (captured at the sampled link's bridge port over the window): every
/// periodic interval against 75-100% of the negotiated interval.
struct SampleWindows {
    sessions: usize,
    intervals: usize,
    outside: Vec<u64>,
    shortest_us: Option<u64>,
    longest_us: Option<u64>,
}

impl SampleWindows {
    fn of(pair: &Pair, packets: &[BfdPacket]) -> SampleWindows {
        let mut sample = SampleWindows {
            sessions: 0,
            intervals: 0,
            outside: Vec::new(),
            shortest_us: None,
            longest_us: None,
        };
        for session in pair.sessions.iter().filter(|session| session.sampled) {
            sample.sessions += 1;
            // Each end's address is its session's alone: its packets are
            // the ones from it.
            for from in [&session.a, &session.b] {
                let window = TxWindow::measure(
                    packets,
                    from,
                    session.interval_us,
                    session.multiplier,
                    CAPTURE_SLACK_US,
                );
                sample.intervals += window.intervals_us.len();
                sample.outside.extend(window.outside());
                let (shortest, longest) =
                    (window.intervals_us.iter().min().copied(), window.intervals_us.iter().max().copied());
                sample.shortest_us = sample.shortest_us.into_iter().chain(shortest).min();
                sample.longest_us = sample.longest_us.into_iter().chain(longest).max();
            }
        }
        sample
    }

    /// The share of intervals inside the window, percent.
    fn inside_percent(&self) -> f64 {
        if self.intervals == 0 {
            return 0.0;
        }
        (self.intervals - self.outside.len()) as f64 * 100.0 / self.intervals as f64
    }

    fn cell(&self) -> Cell {
        if self.intervals == 0 {
            return Cell::text(format!("no intervals captured ({} sessions)", self.sessions))
                .against(Target::at_least(99.9));
        }
        Cell::number(self.inside_percent(), 2).against(Target::at_least(99.9))
    }

    fn json(&self) -> Value {
        json!({
            "sessions": self.sessions,
            "intervals": self.intervals,
            "outside_us": self.outside.iter().take(1000).collect::<Vec<_>>(),
            "shortest_us": self.shortest_us,
            "longest_us": self.longest_us,
        })
    }
}

impl Measured {
    fn cpu_s_per_min_per_node(&self) -> f64 {
        (self.a.cpu_ns + self.b.cpu_ns) as f64 / 2.0 / 1e9 / self.window_s * 60.0
    }

    fn wakeups_per_s_per_node(&self) -> f64 {
        (self.a.wakeups + self.b.wakeups) as f64 / 2.0 / self.window_s
    }

    fn json(&self) -> Value {
        json!({
            "up_after_s": self.up_after_s,
            "window_s": self.window_s,
            "cpu_ns": [self.a.cpu_ns, self.b.cpu_ns],
            "wakeups": [self.a.wakeups, self.b.wakeups],
            "machine_busy_s": self.machine_busy_s,
            "napi_cpu_ns": self.napi_cpu_ns,
            "a_rx_packets": self.a_rx,
            "a_tx_packets": self.a_tx,
            "link_dropped": self.link_dropped,
            "state_changes": self.state_changes,
            "up_at_end": [self.up_at_end.0, self.up_at_end.1],
            "rss_kib": [self.rss_kib.0, self.rss_kib.1],
            "map_bytes": self.map_bytes,
            "absorbed": self.absorbed,
            "seen_in_userspace": self.seen_in_userspace,
            "sample": self.sample.as_ref().map(SampleWindows::json),
        })
    }
}

/// Starts a pair of `count` sessions at `interval_us` x 3, `sample` of them
/// on the captured link ([`with_sample`]), waits for every one Up, and
/// measures it over `window`.
fn measure(
    implementation: Implementation,
    interval_us: u64,
    count: usize,
    sample: usize,
    window: Duration,
    agent_args: &[&str],
) -> anyhow::Result<Result<Measured, String>> {
    let sessions = with_sample(sessions(count, &[interval_us]), sample.min(count));
    let pair = Pair::start_with("sc", implementation, sessions, agent_args)?;
    // The bring-up limit grows with N: bfdd's and the agent's slow start
    // (1 s between packets until Up) dominates at small N.
    let limit = Duration::from_secs(30 + count as u64 / 100);
    let Some(up_after) = pair.wait_all_up(limit)? else {
        let (a, b) = pair.up_counts()?;
        return Ok(Err(format!(
            "collapsed: only {a}/{count} (A) and {b}/{count} (B) Up after {} s",
            limit.as_secs()
        )));
    };
    // The last sessions to come Up are still polling; let them settle.
    std::thread::sleep(Duration::from_secs(3));
    let changes_before = pair.state_changes()?;
    let (absorbed_before, seen_before) = packet_split(&pair)?;
    let (a_before, b_before) = (pair.a.sample()?, pair.b.sample()?);
    let busy_before = machine_busy_seconds()?;
    let napi_before = napi_threads_cpu_ns();
    let link_before = link_both_ends(&pair)?;
    let mut capture = match &pair.sample {
        Some(sample) => Some(Capture::start(&sample.switch, &sample.a_port, "udp port 3784")?),
        None => None,
    };
    let started = std::time::Instant::now();
    std::thread::sleep(window);
    let (a_after, b_after) = (pair.a.sample()?, pair.b.sample()?);
    let busy_after = machine_busy_seconds()?;
    let napi_after = napi_threads_cpu_ns();
    let link_after = link_both_ends(&pair)?;
    let (a_link, b_link) = (link_after.0.since(&link_before.0), link_after.1.since(&link_before.1));
    let window_s = started.elapsed().as_secs_f64();
    let (absorbed_after, seen_after) = packet_split(&pair)?;
    let state_changes = pair.state_changes()?.saturating_sub(changes_before);
    let up_at_end = pair.up_counts()?;
    let sample = match capture.as_mut() {
        Some(capture) => Some(SampleWindows::of(&pair, &capture.bfd_packets()?)),
        None => None,
    };
    let measured = Measured {
        up_after_s: up_after.as_secs_f64(),
        window_s,
        a: a_after.since(&a_before),
        b: b_after.since(&b_before),
        machine_busy_s: busy_after - busy_before,
        napi_cpu_ns: napi_after.saturating_sub(napi_before),
        a_rx: a_link.rx,
        a_tx: a_link.tx,
        link_dropped: a_link.dropped + b_link.dropped,
        state_changes,
        up_at_end,
        rss_kib: (pair.a.rss_kib()?, pair.b.rss_kib()?),
        map_bytes: pair.a.map_bytes()?,
        absorbed: absorbed_after.saturating_sub(absorbed_before),
        seen_in_userspace: seen_after.saturating_sub(seen_before),
        sample,
    };
    if up_at_end != (count, count) {
        return Ok(Err(format!(
            "collapsed: {}/{count} (A) and {}/{count} (B) Up at the end of the window, {state_changes} state changes",
            up_at_end.0, up_at_end.1
        )));
    }
    Ok(Ok(measured))
}

/// The counters of the pair's link at A's end and at B's.
fn link_both_ends(pair: &Pair) -> anyhow::Result<(LinkCounters, LinkCounters)> {
    Ok((link_counters(&pair.link.a, &pair.link.a_if)?, link_counters(&pair.link.b, &pair.link.b_if)?))
}

/// Control packets absorbed in the kernel and seen by the agent so far,
/// both nodes (0, 0 for bfdd).
fn packet_split(pair: &Pair) -> anyhow::Result<(u64, u64)> {
    if pair.a.agent().is_none() {
        return Ok((0, 0));
    }
    let mut totals = (0, 0);
    for node in [&pair.a, &pair.b] {
        for session in node.counters()? {
            totals.0 += session["control-absorbed-in-kernel"].as_u64().unwrap_or(0);
            totals.1 += session["control-seen-in-userspace"].as_u64().unwrap_or(0);
        }
    }
    Ok(totals)
}

/// The agent's variants to run, each its arguments: `BFD_BENCH_TRANSMIT=udp,packet+answers`
/// gives a row each, `--transmit PATH` (and `--kernel-answers` for
/// `+answers`, `--rt-priority` for `+fifo`); unset: the agent's defaults and `--kernel-answers` (issue 19).
fn agent_variants() -> anyhow::Result<Vec<Vec<String>>> {
    match std::env::var("BFD_BENCH_TRANSMIT") {
        Ok(spec) => parse_agent_variants(&spec).context("BFD_BENCH_TRANSMIT"),
        Err(_) => Ok(vec![Vec::new(), vec!["--kernel-answers".to_owned()]]),
    }
}

/// `udp,packet+answers+fifo` as the agents' arguments, a row each. A part
/// it does not know is an error: a typo must not run a mislabelled row.
pub(crate) fn parse_agent_variants(spec: &str) -> anyhow::Result<Vec<Vec<String>>> {
    spec.split(',')
        .map(|variant| {
            let mut parts = variant.trim().split('+');
            let path = parts.next().unwrap_or_default();
            anyhow::ensure!(
                matches!(path, "udp" | "packet" | "auto"),
                "{variant:?}: the transmit path {path:?} is none of udp, packet, auto"
            );
            let mut args = vec!["--transmit".to_owned(), path.to_owned()];
            for part in parts {
                match part {
                    "answers" => args.push("--kernel-answers".to_owned()),
                    // The engine thread at SCHED_FIFO (the README's advice
                    // where timing must be precise).
                    "fifo" => args.extend(["--rt-priority".to_owned(), AGENT_RT_PRIORITY.to_string()]),
                    other => anyhow::bail!("{variant:?}: {other:?} is neither +answers nor +fifo"),
                }
            }
            Ok(args)
        })
        .collect()
}

pub fn run(context: &Context) -> anyhow::Result<()> {
    // `BFD_BENCH_SCALE_SIZES=2000,5000` instead of the full or quick sizes.
    let sizes: Vec<usize> = match std::env::var("BFD_BENCH_SCALE_SIZES") {
        Ok(sizes) => sizes.split(',').map(|size| size.trim().parse()).collect::<Result<_, _>>()?,
        Err(_) if context.quick => QUICK_SIZES.to_vec(),
        Err(_) => FULL_SIZES.to_vec(),
    };
    let window = window(context.quick)?;
    let sample = sample_size()?;
    // `BFD_BENCH_SCALE_INTERVAL_MS=10`: every session at 10 ms x 3 instead.
    let interval_us = match std::env::var("BFD_BENCH_SCALE_INTERVAL_MS") {
        Ok(ms) => ms.trim().parse::<u64>().context("BFD_BENCH_SCALE_INTERVAL_MS: whole milliseconds")? * 1000,
        Err(_) => INTERVAL_US,
    };
    let mut table = Table::new(
        "scale",
        format!(
            "N sessions at {} x 3, measured over {} once all are Up",
            interval_label(interval_us),
            match window {
                Window::Default(window) if !context.quick =>
                    format!("{} s ({} s at the target's N)", window.as_secs(), TARGET_WINDOW.as_secs()),
                Window::Default(window) | Window::Chosen(window) => format!("{} s", window.as_secs()),
            }
        ),
        &[
            "implementation",
            "N",
            "all Up after s",
            "CPU s/min per node",
            "CPU ms/min per session",
            "machine busy s/min",
            "packets/s on the link",
            "state changes",
            "RSS MiB",
            "BPF maps MiB",
            "sample: intervals inside §6.8.7's window, %",
        ],
    );
    let mut raw = Vec::new();
    let mut curves: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut per_session: Vec<(Implementation, usize, f64)> = Vec::new();
    let agent = Implementation::Agent(EngineScheduling::Normal);
    let runs: Vec<(Implementation, Vec<String>)> = agent_variants()?
        .into_iter()
        .map(|args| (agent, args))
        .chain([(BFDD_8_4, Vec::new()), (BFDD_10_7, Vec::new()), (BIRD_2_20, Vec::new())])
        .collect();
    for (implementation, args) in runs {
        let label =
            std::iter::once(implementation.label()).chain(args.iter().cloned()).collect::<Vec<_>>().join(" ");
        // BFD_BENCH_ONLY=WORDS: only the rows whose label contains them.
        if !crate::selected(&label) {
            continue;
        }
        let agent_args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut points = Vec::new();
        for &count in &sizes {
            // The targets' rows (the agent's 10,000 at 50 ms, 2000 at 10
            // ms): no state change, measured over five minutes in the full
            // run.
            let target_row = !implementation.is_peer()
                && ((interval_us == INTERVAL_US && count == 10_000)
                    || (interval_us == 10_000 && count == 2000));
            let held = target_row.then(|| Target::at_most(0.0));
            let window = match window {
                Window::Default(_) if target_row && !context.quick => TARGET_WINDOW,
                Window::Default(window) | Window::Chosen(window) => window,
            };
            eprintln!("scale: {label} with N = {count}, {} s", window.as_secs());
            let result = measure(implementation, interval_us, count, sample, window, &agent_args)
                .unwrap_or_else(|error| Err(format!("failed: {error:#}")));
            match &result {
                Ok(measured) => {
                    let per_node = measured.cpu_s_per_min_per_node();
                    let per_session_ms = per_node * 1000.0 / count as f64;
                    per_session.push((implementation, count, per_session_ms));
                    points.push((count as f64, per_node));
                    let changes = Cell::count(measured.state_changes);
                    eprintln!(
                        "scale: {label} with N = {count}: {} state changes, {} packets dropped by the link \
                         (both ends)",
                        measured.state_changes, measured.link_dropped
                    );
                    table.row(vec![
                        Cell::text(label.clone()),
                        Cell::count(count as u64),
                        Cell::number(measured.up_after_s, 1),
                        Cell::number(per_node, 2),
                        Cell::number(per_session_ms, 3),
                        Cell::number(measured.machine_busy_s / measured.window_s * 60.0, 1),
                        Cell::number((measured.a_rx + measured.a_tx) as f64 / measured.window_s, 0),
                        if let Some(target) = held { changes.against(target) } else { changes },
                        Cell::number(measured.rss_kib.0 as f64 / 1024.0, 1),
                        measured.map_bytes.map_or_else(
                            || Cell::text("n/a"),
                            |bytes| Cell::number(bytes as f64 / 1048576.0, 2),
                        ),
                        measured.sample.as_ref().map_or_else(|| Cell::text("-"), SampleWindows::cell),
                    ]);
                    raw.push(json!({"implementation": label, "n": count, "measured": measured.json()}));
                }
                Err(why) => {
                    let mut cells = vec![Cell::text(label.clone()), Cell::count(count as u64)];
                    cells.push(Cell::text(why.clone()));
                    cells.extend((0..4).map(|_| Cell::text("-")));
                    let collapsed = Cell::text("collapsed");
                    cells.push(if let Some(target) = held { collapsed.against(target) } else { collapsed });
                    cells.extend((0..3).map(|_| Cell::text("-")));
                    table.row(cells);
                    raw.push(json!({"implementation": label, "n": count, "error": why}));
                    // Stop this side at its collapse.
                    break;
                }
            }
        }
        curves.push((label, points));
    }
    // Against the most frugal peer measured at that N (bfdd 10.7 spends far
    // less than 8.4 per session; BIRD is measured too).
    for count in [500, 2000].into_iter().filter(|count| sizes.contains(count)) {
        let at = |bfdd: bool| {
            per_session
                .iter()
                .filter(|(i, n, _)| *n == count && i.is_peer() == bfdd)
                .min_by(|a, b| a.2.total_cmp(&b.2))
        };
        let ratio = match (at(true), at(false)) {
            (Some((bfdd, _, bfdd_ms)), Some((_, _, agent_ms))) if *agent_ms > 0.0 => {
                (Cell::number(bfdd_ms / agent_ms, 1), bfdd.label())
            }
            _ => (Cell::text(format!("not measured at N = {count}")), "the most frugal peer".to_owned()),
        };
        let mut ratio_row = vec![
            Cell::text(format!("{} ÷ agent, CPU per session at N = {count}", ratio.1)),
            Cell::count(count as u64),
        ];
        ratio_row.extend([Cell::text(""), Cell::text(""), ratio.0.against(Target::at_least(10.0))]);
        ratio_row.extend((0..6).map(|_| Cell::text("")));
        table.row(ratio_row);
    }
    table.raw = json!(raw);
    let plot = context.out.join("scale-cpu.svg");
    std::fs::create_dir_all(&context.out)?;
    std::fs::write(
        &plot,
        svg::curves(
            &format!("CPU per node vs. sessions at {} x 3", interval_label(interval_us)),
            "sessions (N, log scale)",
            "CPU s per minute",
            &curves,
        ),
    )
    .with_context(|| format!("writing {}", plot.display()))?;
    table.note(
        "CPU: the daemon's own threads (schedstat), mean of the two nodes; the XDP program and its timers run in \
         softirq context and are not charged to the agent: machine busy (/proc/stat, both nodes, their kernels and the \
         veth, out of 120 s/min on 2 cores) shows the whole cost",
    );
    table.note("packets/s: received plus sent on node A's end of the veth; RSS and maps: node A");
    table.note(
        "state changes: both nodes' Up and Down events during the window; the packets the link dropped in it \
         (both ends, `ip -s link`: on a veth a full 256-frame XDP ring) are printed beside them while it runs \
         and are `link_dropped` in the JSON",
    );
    table.note(format!(
        "sample (`BFD_BENCH_SCALE_SAMPLE=K`, 0 for none): {} sessions spread over the N run on a second link between the nodes, \
         through a bridge whose ports pass every frame through an XDP program of their own; captured at the bridge's port (where the kernel's XDP_TX answers and packet-path frames are \
         visible), every interval between consecutive periodic packets of each end (Finals and a Poll Sequence's \
         first packet left out) against 75-100% of the interval (RFC 5880 §6.8.7), {} µs of capture slack each side; \
         the JSON has the count, the intervals outside and the shortest and longest",
        sample,
        CAPTURE_SLACK_US
    ));
    table.note(format!("plot: {}", plot.display()));
    table.publish(&context.out, &context.machine)
}

/// `fastpath-share`: N = 1000 at 50 ms x 3, both implementations.
pub fn fastpath_share(context: &Context) -> anyhow::Result<()> {
    let count = 1000;
    let window = Duration::from_secs(if context.quick { 10 } else { 60 });
    let mut table = Table::new(
        "fastpath-share",
        format!(
            "{count} sessions at 50 ms x 3 over {} s: control packets absorbed in the kernel, wake-ups",
            window.as_secs()
        ),
        &[
            "implementation",
            "control packets received",
            "absorbed in the kernel",
            "wake-ups/s per node",
            "CPU s/min per node",
            "state changes",
        ],
    );
    let mut raw = Vec::new();
    for implementation in [Implementation::Agent(EngineScheduling::Normal), BFDD_8_4, BFDD_10_7] {
        eprintln!("fastpath-share: {} with N = {count}", implementation.label());
        match measure(implementation, INTERVAL_US, count, 0, window, &[])
            .unwrap_or_else(|error| Err(format!("failed: {error:#}")))
        {
            Ok(measured) => {
                let received = measured.absorbed + measured.seen_in_userspace;
                let share = if matches!(implementation, Implementation::Bfdd(_)) {
                    Cell::text("n/a (no kernel fast path)")
                } else if received == 0 {
                    Cell::text("no packets counted").against(Target::at_least(99.9))
                } else {
                    Cell::number(measured.absorbed as f64 * 100.0 / received as f64, 3)
                        .against(Target::at_least(99.9))
                };
                let received = if matches!(implementation, Implementation::Bfdd(_)) {
                    Cell::count(measured.a_rx * 2)
                } else {
                    Cell::count(received)
                };
                table.row(vec![
                    Cell::text(implementation.label()),
                    received,
                    share,
                    Cell::number(measured.wakeups_per_s_per_node(), 0),
                    Cell::number(measured.cpu_s_per_min_per_node(), 2),
                    Cell::count(measured.state_changes),
                ]);
                raw.push(json!({"implementation": implementation.label(), "n": count, "measured": measured.json()}));
            }
            Err(why) => {
                table.row(vec![
                    Cell::text(implementation.label()),
                    Cell::text(why.clone()),
                    Cell::text("-"),
                    Cell::text("-"),
                    Cell::text("-"),
                    Cell::text("-"),
                ]);
                raw.push(json!({"implementation": implementation.label(), "n": count, "error": why}));
            }
        }
    }
    table.raw = json!(raw);
    table.note(
        "absorbed: the agents' control-absorbed-in-kernel over control-absorbed-in-kernel + control-seen-in-userspace \
         (show peers counters), both nodes, during the window",
    );
    table.note(
        "control packets received: both nodes (agent: its counters; bfdd: twice the packets node A's link received, \
         the two directions being symmetric)",
    );
    table.note("wake-ups: voluntary context switches of all the daemon's threads (each is a sleep ended by a wake-up)");
    table.publish(&context.out, &context.machine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_transmit_variant_is_a_row_of_arguments() {
        let variants = parse_agent_variants("udp, packet+answers+fifo").unwrap();
        assert_eq!(variants[0], ["--transmit", "udp"]);
        assert_eq!(
            variants[1],
            ["--transmit", "packet", "--kernel-answers", "--rt-priority", &AGENT_RT_PRIORITY.to_string()]
        );
    }

    #[test]
    fn an_unknown_path_or_part_is_an_error_not_a_mislabelled_row() {
        let error = parse_agent_variants("packet+answer").unwrap_err().to_string();
        assert!(error.contains("\"answer\""), "{error}");
        let error = parse_agent_variants("udp,pakcet").unwrap_err().to_string();
        assert!(error.contains("\"pakcet\""), "{error}");
    }
}
