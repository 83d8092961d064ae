//! `detection`: how precisely each implementation detects a silent peer.
//!
//! Two sessions between the nodes, one at 10 ms x 3 and one at 50 ms x 3.
//! Each trial: every session Up, then node B's control packets are
//! dropped by nftables in B's output hook (the same cut for both
//! implementations), and packet captures give, per session, the last
//! packet B sent to A and the first Down packet A sent; the overshoot is
//! the time between them minus the detection time. B's last packet is
//! taken from a capture on B's end of the veth (its transmit tap, after
//! the nftables drop, so it sees exactly what A receives: a veth hands a
//! frame over at once): A's own capture cannot see it, since A's XDP
//! program absorbs steady packets before the capture tap.
//! Then the cut is lifted and the sessions come Up again. One capture
//! covers every trial of a configuration; each trial's packets are told
//! apart by the times of its cut and its lift.
//!
//! BIRD runs one interval per pair (it has no per-neighbor timers, see
//! `pair::bird_config`): its configurations measure each interval in a
//! pair and a run of their own, one session each, one after the other.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use bfd_lab::e2e::{BfdPacket, Capture, TxWindow};
use serde_json::json;

use crate::{
    Context,
    load::{AGENT_RT_DEADLINE, AGENT_RT_PRIORITY, Load, agent_schedulings},
    measure::realtime_us,
    pair::{BFDD_8_4, BFDD_10_7, BIRD_2_20, Implementation, Pair, sessions},
    report::{Cell, Summary, Table, Target},
    stall::{STALL, StallProbe, Stalls},
    svg,
};

/// The intervals measured, µs (x 3).
const INTERVALS_US: [u64; 2] = [10_000, 50_000];
/// Targets on the overshoot, ms.
const P99_TARGET_MS: f64 = 0.5;
const MAX_TARGET_MS: f64 = 1.0;
/// Target on A's periodic intervals inside RFC 5880 §6.8.7's window, %.
const WINDOW_TARGET_PERCENT: f64 = 99.9;
/// The captures' own slack each side of the window, µs.
const CAPTURE_SLACK_US: u64 = 200;

/// The (implementation, load) configurations, in order.
pub fn configurations() -> Vec<(Implementation, Load)> {
    let [agent, agent_fifo, agent_deadline] = agent_schedulings().map(Implementation::Agent);
    vec![
        (agent, Load::Idle),
        (agent, Load::Scraped),
        (BFDD_8_4, Load::Idle),
        (BFDD_10_7, Load::Idle),
        (BIRD_2_20, Load::Idle),
        (agent, Load::Stress),
        (agent_deadline, Load::Stress),
        (BFDD_8_4, Load::Stress),
        (BFDD_10_7, Load::Stress),
        (BIRD_2_20, Load::Stress),
        (agent, Load::RtHogs),
        (agent_fifo, Load::RtHogs),
        (agent_deadline, Load::RtHogs),
        (BFDD_8_4, Load::RtHogs),
        (BFDD_10_7, Load::RtHogs),
        (BIRD_2_20, Load::RtHogs),
        // Sessions timed in userspace (multihop, links without the
        // program): the engine's own timers, on the wire.
        (Implementation::AgentNoXdp(agent_schedulings()[0]), Load::Idle),
        (Implementation::AgentNoXdp(agent_schedulings()[2]), Load::Stress),
    ]
}

/// One trial's window: CLOCK_REALTIME µs before the cut was applied,
/// once it was in place, and of its lift.
struct Window {
    cut_us: u64,
    cut_done_us: u64,
    lift_us: u64,
}

/// One measured trial of one session.
#[derive(Clone, Copy, Debug)]
struct Sample {
    /// The overshoot, ms.
    overshoot_ms: f64,
    /// Whether a machine stall (the probe's) overlapped the trial's
    /// detection, from B's last packet to A's Down.
    stalled: bool,
}

/// What one configuration measured, per interval.
struct Outcome {
    implementation: Implementation,
    load: Load,
    /// Per interval: the measured trials, and trials without a measurement.
    overshoots: Vec<(u64, Vec<Sample>, usize)>,
    /// Trials run, and why the run stopped early (if it did).
    trials: usize,
    problem: Option<String>,
    /// What the stall probe saw while the load ran.
    stalls: Stalls,
    /// Per interval, as `overshoots`: A's periodic packets while Up (§6.8.7,
    /// from A's capture), intervals inside the window and all, and the
    /// first of those outside (µs).
    tx_windows: Vec<(usize, usize, Vec<u64>)>,
}

pub fn run(context: &Context) -> anyhow::Result<()> {
    let trials = if context.quick { 5 } else { 50 };
    let mut outcomes = Vec::new();
    for (implementation, load) in configurations() {
        if !crate::selected(&format!("{} {}", implementation.label(), load.key())) {
            continue;
        }
        if context.quick && !in_quick_run(implementation, load) {
            continue;
        }
        for intervals_us in interval_groups(implementation) {
            eprintln!(
                "detection: {} under {} at {} ({trials} trials)",
                implementation.label(),
                load.label(),
                intervals_us.iter().map(|us| format!("{} ms", us / 1000)).collect::<Vec<_>>().join(" + ")
            );
            let outcome =
                measure(implementation, load, trials, &intervals_us).unwrap_or_else(|error| Outcome {
                    implementation,
                    load,
                    overshoots: intervals_us.iter().map(|interval| (*interval, Vec::new(), trials)).collect(),
                    trials: 0,
                    problem: Some(format!("{error:#}")),
                    stalls: Stalls::default(),
                    tx_windows: Vec::new(),
                });
            outcomes.push(outcome);
        }
    }

    let mut table = Table::new(
        "detection",
        format!(
            "overshoot beyond the detection time, ms: B's last packet sent -> A's first Down sent, from packet captures; \
             {trials} trials per row"
        ),
        &[
            "implementation",
            "load",
            "timers",
            "trials measured",
            "min",
            "median",
            "p99",
            "max",
            "trials in a machine stall",
            "p99 of the others",
            "max of the others",
            "machine stalls (probe)",
            "A's intervals in §6.8.7's window, %",
        ],
    );
    let mut groups = Vec::new();
    let mut raw = Vec::new();
    for outcome in &outcomes {
        for (index, (interval, trials_measured, unmeasured)) in outcome.overshoots.iter().enumerate() {
            let samples: Vec<f64> = trials_measured.iter().map(|sample| sample.overshoot_ms).collect();
            let calm: Vec<f64> = trials_measured
                .iter()
                .filter(|sample| !sample.stalled)
                .map(|sample| sample.overshoot_ms)
                .collect();
            let timers = format!("{} ms x 3", interval / 1000);
            let measured = Cell::text(format!("{}/{}", samples.len(), samples.len() + unmeasured));
            let mut cells = vec![
                Cell::text(outcome.implementation.label()),
                Cell::text(outcome.load.label()),
                Cell::text(timers.clone()),
                measured,
            ];
            match Summary::of(&samples) {
                Some(summary) => {
                    cells.extend([
                        Cell::number(summary.min, 3),
                        Cell::number(summary.median, 3),
                        Cell::number(summary.p99, 3).against(Target::at_most(P99_TARGET_MS)),
                        Cell::number(summary.max, 3).against(Target::at_most(MAX_TARGET_MS)),
                        Cell::count((samples.len() - calm.len()) as u64),
                    ]);
                    match Summary::of(&calm) {
                        Some(calm) => cells.extend([
                            Cell::number(calm.p99, 3).against(Target::at_most(P99_TARGET_MS)),
                            Cell::number(calm.max, 3).against(Target::at_most(MAX_TARGET_MS)),
                        ]),
                        None => cells.extend([Cell::text("-"), Cell::text("-")]),
                    }
                }
                None => {
                    let why = outcome.problem.clone().unwrap_or_else(|| "no detection captured".into());
                    cells.extend([
                        Cell::text("-"),
                        Cell::text("-"),
                        Cell::text(format!("none: {why}")).against(Target::at_most(P99_TARGET_MS)),
                        Cell::text("-").against(Target::at_most(MAX_TARGET_MS)),
                        Cell::text("-"),
                        Cell::text("-"),
                        Cell::text("-"),
                    ])
                }
            }
            cells.push(Cell::text(outcome.stalls.describe()));
            cells.push(match outcome.tx_windows.get(index) {
                Some(&(inside, total, _)) if total > 0 => {
                    Cell::number(inside as f64 * 100.0 / total as f64, 2)
                        .against(Target::at_least(WINDOW_TARGET_PERCENT))
                }
                _ => Cell::text("-"),
            });
            table.row(cells);
            groups.push((
                format!("{}, {}, {timers}", outcome.implementation.label(), outcome.load.key()),
                samples.clone(),
            ));
            raw.push(json!({
                "implementation": outcome.implementation.label(),
                "load": outcome.load.key(),
                "interval_us": interval,
                "trials": outcome.trials,
                "unmeasured": unmeasured,
                "overshoot_ms": samples,
                "in_a_stall": trials_measured.iter().map(|sample| sample.stalled).collect::<Vec<_>>(),
                "problem": outcome.problem,
                "stalls": outcome.stalls.count,
                "longest_stall_ms": outcome.stalls.longest_ms,
                "tx_intervals_inside_window": outcome.tx_windows.get(index).map(|w| w.0),
                "tx_intervals": outcome.tx_windows.get(index).map(|w| w.1),
                "tx_intervals_outside_us": outcome.tx_windows.get(index).map(|w| &w.2),
            }));
        }
    }
    table.raw = json!(raw);
    let plot = context.out.join("detection.svg");
    std::fs::create_dir_all(&context.out)?;
    std::fs::write(
        &plot,
        svg::strip_plot(
            "Detection overshoot beyond the detection time (dashed: p99 target 0.5 ms)",
            "overshoot, ms",
            &groups,
            0.001,
            Some(P99_TARGET_MS),
        ),
    )
    .with_context(|| format!("writing {}", plot.display()))?;
    table.note(
        "cut: nftables drops node B's UDP 3784 in B's output hook; overshoot = (first Down A sent, captured on A's end \
         of the veth - last packet B sent, captured on B's end) - detection time; tcpdump, kernel timestamps in µs (A's \
         own capture cannot see B's steady packets: its XDP program absorbs them before the capture tap)",
    );
    table.note(format!(
        "loads: stress-ng --cpu 16 (normal priority); chrt -f 50 busy loops pinned to each of the {} cores; \
         --rt-priority {AGENT_RT_PRIORITY} runs the agent's engine thread SCHED_FIFO above them, --rt-deadline \
         {AGENT_RT_DEADLINE} runs it SCHED_DEADLINE (which the kernel's fair server does not preempt)",
        crate::load::cpu_count()
    ));
    table.note(format!(
        "machine stalls: wake-ups of a SCHED_DEADLINE probe thread (50 µs every 1 ms, sleeping 1 ms at a time) at \
         least {} ms late during the configuration's trials (all of them, not one trial's): moments when not even \
         such a thread could run (a paused virtual CPU, the kernel's own work); trials in a machine stall: measured \
         trials whose detection (B's last packet to A's Down) a stall overlapped; p99 and max of the others: the \
         implementation's own precision where the machine let it run",
        STALL.as_millis()
    ));
    table.note(
        "trials measured: trials whose Down answered the cut: B's last packet said Up and left before the cut was in \
         place, and A's Down came at least the detection time after it (a Down that followed B's own Down, or a session \
         that failed before the cut or for another reason, is not a detection)",
    );
    table.note(
        "A's intervals in §6.8.7's window: the intervals between consecutive periodic control packets A sent while it and \
         its previous packet said Up (Finals and the first Poll of a sequence left out), in A's capture over all trials, \
         inside 75-100% of the interval (90% with a Detect Mult of 1) widened by 0.2 ms each side for the capture",
    );
    table.note(format!("plot: {}", plot.display()));
    table.publish(&context.out, &context.machine)
}

/// The intervals measured together, one pair and run per group: both in
/// one pair, except for BIRD, whose pair runs one interval (see
/// `pair::bird_config`).
fn interval_groups(implementation: Implementation) -> Vec<Vec<u64>> {
    match implementation {
        Implementation::Bird(_) => INTERVALS_US.iter().map(|interval| vec![*interval]).collect(),
        _ => vec![INTERVALS_US.to_vec()],
    }
}

/// Whether `--quick` runs the configuration: all but BIRD's loaded ones
/// (two runs each, one per interval; CI's quick run stays cheap).
fn in_quick_run(implementation: Implementation, load: Load) -> bool {
    !matches!(implementation, Implementation::Bird(_)) || load == Load::Idle
}

fn measure(
    implementation: Implementation,
    load: Load,
    trials: usize,
    intervals_us: &[u64],
) -> anyhow::Result<Outcome> {
    let pair = Pair::start("dt", implementation, sessions(intervals_us.len(), intervals_us))?;
    pair.wait_all_up(Duration::from_secs(30))?.context("the sessions did not come Up within 30 s")?;
    let mut a_capture = Capture::start(&pair.link.a, &pair.link.a_if, "udp port 3784")?;
    let mut b_capture = Capture::start(&pair.link.b, &pair.link.b_if, "udp port 3784")?;
    let limit = Duration::from_secs(trials as u64 * 20 + 120);
    let guard = load.start(limit)?;
    let scraper = if load == Load::Scraped { Some(crate::load::Scraper::start(&pair.link.a)?) } else { None };
    let probe = StallProbe::start()?;
    let mut windows = Vec::new();
    let mut problem = None;
    let started = Instant::now();
    for trial in 0..trials {
        // Under a real-time load bfdd may not come back at all: give up on
        // the configuration rather than hang.
        if pair.wait_all_up(Duration::from_secs(20))?.is_none() {
            let (a, b) = pair.up_counts()?;
            problem =
                Some(format!("sessions not Up again within 20 s after trial {trial} (Up: A {a}, B {b})"));
            break;
        }
        // Let the fast path take over and vary the cut's phase against
        // the peer's transmissions.
        std::thread::sleep(Duration::from_millis(300 + (trial as u64 * 37) % 100));
        let cut_us = realtime_us();
        let cut = pair.cut_b_to_a()?;
        let cut_done_us = realtime_us();
        // Wait for the longest detection time, then until A has no session Up.
        std::thread::sleep(Duration::from_millis(200));
        let deadline = Instant::now() + Duration::from_secs(10);
        while pair.a.up_count()? > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        cut.lift()?;
        windows.push(Window { cut_us, cut_done_us, lift_us: realtime_us() });
    }
    let stalls = probe.finish();
    if let Some(scraper) = scraper {
        eprintln!("  {} scrapes of A's /metrics during the trials", scraper.finish());
    }
    drop(guard);
    let (a_packets, b_packets) = (a_capture.bfd_packets()?, b_capture.bfd_packets()?);
    eprintln!(
        "  {} trials in {:.0} s, {} + {} packets captured",
        windows.len(),
        started.elapsed().as_secs_f64(),
        a_packets.len(),
        b_packets.len()
    );
    let overshoots = pair
        .sessions
        .iter()
        .map(|session| {
            let mut samples = Vec::new();
            for window in &windows {
                if let Some((last_us, down_us)) = detection(
                    &a_packets,
                    &b_packets,
                    window,
                    (&session.a, &session.b),
                    session.detection_time_us(),
                ) {
                    let detection_us = down_us - last_us;
                    samples.push(Sample {
                        overshoot_ms: (detection_us as f64 - session.detection_time_us() as f64) / 1000.0,
                        stalled: stalls.overlap(last_us, down_us),
                    });
                }
            }
            let unmeasured = trials - samples.len();
            (session.interval_us, samples, unmeasured)
        })
        .collect();
    let tx_windows = pair
        .sessions
        .iter()
        .map(|session| {
            let to_b: Vec<BfdPacket> =
                a_packets.iter().filter(|p| p.destination == session.b).cloned().collect();
            let window = TxWindow::measure(
                &to_b,
                &session.a,
                session.interval_us,
                session.multiplier,
                CAPTURE_SLACK_US,
            );
            let outside = window.outside();
            let first_outside = outside.iter().copied().take(100).collect();
            (window.intervals_us.len() - outside.len(), window.intervals_us.len(), first_outside)
        })
        .collect();
    Ok(Outcome { implementation, load, overshoots, trials: windows.len(), problem, stalls, tx_windows })
}

/// In one trial's window: when the last packet `b` sent to `a` left (in
/// B's capture) and when the first Down packet `a` sent to `b` did (in
/// A's), CLOCK_REALTIME µs.
fn detection(
    a_packets: &[BfdPacket],
    b_packets: &[BfdPacket],
    window: &Window,
    (a, b): (&str, &str),
    detection_time_us: u64,
) -> Option<(u64, u64)> {
    let down = a_packets.iter().find(|packet| {
        packet.at_us >= window.cut_us
            && packet.at_us <= window.lift_us
            && packet.source == a
            && packet.destination == b
            && packet.is_down()
    })?;
    let last = b_packets
        .iter()
        .rfind(|packet| packet.source == b && packet.destination == a && packet.at_us < down.at_us)?;
    // A last packet from before the cut's trial means the capture lost it:
    // no measurement rather than a wrong one.
    if std::env::var_os("BFD_BENCH_DEBUG").is_some() {
        eprintln!("  {a} <- {b}: last {last:?}\n  down {down:?}");
    }
    // A detection of the cut only: B's last packet said Up and left while
    // the cut was being put in place (not long before: the capture lost
    // nothing). Otherwise A's Down answered something else, e.g. B's own
    // Down when B, starved, had detected A first; no measurement then.
    // And a Down sooner than the detection time after B's last packet is
    // not a detection: A's session failed for another reason (a starved
    // side) while the cut went in.
    let detected_the_cut = last.is_up()
        && last.at_us + 2_000_000 > window.cut_us
        && last.at_us <= window.cut_done_us
        && down.at_us - last.at_us >= detection_time_us;
    detected_the_cut.then_some((last.at_us, down.at_us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bird_measures_each_interval_in_a_pair_of_its_own_and_the_others_both_in_one() {
        assert_eq!(interval_groups(BIRD_2_20), vec![vec![10_000], vec![50_000]]);
        for implementation in [BFDD_8_4, BFDD_10_7, Implementation::Agent(agent_schedulings()[0])] {
            assert_eq!(interval_groups(implementation), vec![INTERVALS_US.to_vec()]);
        }
    }

    #[test]
    fn the_quick_run_keeps_birds_unloaded_rows_only() {
        let quick: Vec<Load> = configurations()
            .into_iter()
            .filter(|&(implementation, load)| {
                implementation == BIRD_2_20 && in_quick_run(implementation, load)
            })
            .map(|(_, load)| load)
            .collect();
        assert_eq!(quick, vec![Load::Idle]);
        let all =
            configurations().into_iter().filter(|(implementation, _)| *implementation == BIRD_2_20).count();
        assert_eq!(all, 3);
        assert!(
            configurations()
                .into_iter()
                .all(|(implementation, load)| implementation == BIRD_2_20
                    || in_quick_run(implementation, load))
        );
    }
}
