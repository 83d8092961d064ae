//! `floor`: the shortest timers each implementation holds without a flap.
//!
//! Sessions at 10 ms, 5 ms and 3.3 ms (3300 µs) x 3 run for 5 minutes (60 s
//! with `--quick`) under each load, and every state change is counted
//! (both nodes' Up and Down events). bfdd accepts 10 ms at the shortest,
//! so it runs the 10 ms session only. Under each load the agent's pairs
//! run at the same time (the three sessions each: normal scheduling, under
//! stress-ng also `--rt-deadline`, under the real-time hogs also
//! `--rt-priority` and `--rt-deadline`), then bfdd's pair runs alone: bfdd
//! 8.4 never sleeps (0 voluntary context switches, a core's worth of CPU
//! when it can get it), so beside it no phase would be unloaded. A stall
//! probe (`stall.rs`) runs through every window.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use crate::{
    Context,
    load::{Load, agent_schedulings},
    pair::{BFDD_8_4, BFDD_10_7, Implementation, Pair, sessions},
    report::{Cell, Table, Target},
    stall::{STALL, StallProbe, Stalls},
};

const INTERVALS_US: [u64; 3] = [10_000, 5_000, 3_300];

pub fn run(context: &Context) -> anyhow::Result<()> {
    let window = Duration::from_secs(if context.quick { 60 } else { 300 });
    let mut table = Table::new(
        "floor",
        format!(
            "state changes (Up and Down events, both nodes) in {} s at each interval x 3",
            window.as_secs()
        ),
        &["implementation", "load", "10 ms x 3", "5 ms x 3", "3.3 ms x 3", "machine stalls (probe)"],
    );
    let mut raw = Vec::new();
    for load in [Load::Idle, Load::Stress, Load::RtHogs] {
        let [agent, agent_fifo, agent_deadline] = agent_schedulings().map(Implementation::Agent);
        let agents = match load {
            Load::Idle => vec![agent],
            Load::Stress => vec![agent, agent_deadline],
            Load::RtHogs => vec![agent, agent_fifo, agent_deadline],
            Load::Scraped => vec![agent],
        };
        let mut rows = Vec::new();
        for group in [agents, vec![BFDD_8_4], vec![BFDD_10_7]] {
            let names: Vec<String> = group.iter().map(|implementation| implementation.label()).collect();
            eprintln!("floor: {} under {} for {} s", names.join(", "), load.label(), window.as_secs());
            match phase(load, &group, window) {
                Ok((results, stalls)) => {
                    rows.extend(results.into_iter().map(|(i, r)| (i, r, stalls.clone())))
                }
                Err(error) => {
                    let why = format!("{error:#}");
                    rows.extend(group.iter().map(|i| (*i, Err(why.clone()), Stalls::default())));
                }
            }
        }
        for (implementation, result, stalls) in rows {
            let mut cells = vec![Cell::text(implementation.label()), Cell::text(load.label())];
            for interval in INTERVALS_US {
                let cell = if interval < implementation.minimum_interval_us() {
                    Cell::text("n/a (bfdd minimum 10 ms)")
                } else {
                    match &result {
                        Ok(changes) => changes
                            .iter()
                            .find(|(at, _)| *at == interval)
                            .map_or_else(|| Cell::text("-"), |(_, count)| Cell::count(*count)),
                        Err(why) => Cell::text(format!("failed: {why}")),
                    }
                };
                let cell = if interval == 3_300 { cell.against(Target::at_most(0.0)) } else { cell };
                cells.push(cell);
            }
            cells.push(Cell::text(stalls.describe()));
            raw.push(json!({
                "implementation": implementation.label(),
                "load": load.key(),
                "window_s": window.as_secs(),
                "changes_by_interval_us": result.as_ref().ok(),
                "error": result.as_ref().err(),
                "stalls": stalls.count,
                "longest_stall_ms": stalls.longest_ms,
            }));
            table.row(cells);
        }
    }
    table.raw = json!(raw);
    table.note(
        "counted from each node's session-up and session-down counters (show peers counters), from the moment every \
         session was Up to the end of the window: a flap counts 2 per node that saw it",
    );
    table.note(format!(
        "under each load the agent's pairs run at the same time on the same {cores} cores (each with its own \
         namespaces and veth), then bfdd's pair alone (bfdd 8.4 never sleeps: beside it nothing is unloaded)",
        cores = crate::load::cpu_count()
    ));
    table.note(format!(
        "machine stalls: wake-ups of a SCHED_DEADLINE probe thread (50 µs every 1 ms, sleeping 1 ms at a time) at \
         least {} ms late during that window: moments when not even such a thread could run (a paused virtual CPU, \
         the kernel's own work); flaps then need not be the implementation's",
        STALL.as_millis()
    ));
    table.publish(&context.out, &context.machine)
}

type Changes = Result<Vec<(u64, u64)>, String>;

/// One load phase: every implementation's pair at once; per
/// implementation, the state changes per interval; and the stalls the
/// probe saw.
fn phase(
    load: Load,
    implementations: &[Implementation],
    window: Duration,
) -> anyhow::Result<(Vec<(Implementation, Changes)>, Stalls)> {
    let mut pairs = Vec::new();
    for implementation in implementations {
        let intervals: Vec<u64> = INTERVALS_US
            .iter()
            .copied()
            .filter(|interval| *interval >= implementation.minimum_interval_us())
            .collect();
        let pair = Pair::start("fl", *implementation, sessions(intervals.len(), &intervals))?;
        pairs.push(pair);
    }
    for pair in &pairs {
        pair.wait_all_up(Duration::from_secs(30))?
            .with_context(|| format!("{}: not every session Up within 30 s", pair.implementation.label()))?;
    }
    let before: Vec<_> = pairs.iter().map(snapshot).collect::<anyhow::Result<_>>()?;
    let guard = load.start(window + Duration::from_secs(60))?;
    let probe = StallProbe::start()?;
    std::thread::sleep(window);
    let stalls = probe.finish();
    drop(guard);
    let mut rows = Vec::new();
    for (pair, before) in pairs.iter().zip(before) {
        let result = snapshot(pair).map(|after| {
            pair.sessions
                .iter()
                .map(|session| {
                    let key = (session.a.clone(), session.b.clone());
                    let changed = after
                        .get(&key)
                        .copied()
                        .unwrap_or(0)
                        .saturating_sub(before.get(&key).copied().unwrap_or(0));
                    (session.interval_us, changed)
                })
                .collect()
        });
        rows.push((pair.implementation, result.map_err(|error| format!("{error:#}"))));
    }
    Ok((rows, stalls))
}

/// Per session (A's address, B's address): both nodes' changes so far.
fn snapshot(pair: &Pair) -> anyhow::Result<std::collections::HashMap<(String, String), u64>> {
    let mut total = pair.a.state_changes_by_session()?;
    for ((local, peer), count) in pair.b.state_changes_by_session()? {
        // B's local is the session's B address.
        *total.entry((peer, local)).or_insert(0) += count;
    }
    Ok(total)
}
