//! `floor`: the shortest timers each implementation holds without a flap.
//!
//! Sessions at 10 ms, 5 ms and 3.3 ms (3300 µs) x 3 run for 5 minutes (60 s
//! with `--quick`) under each load, and every state change is counted
//! (both nodes' Up and Down events). bfdd accepts 10 ms at the shortest,
//! so it runs the 10 ms session only. Within one load phase every pair
//! runs at the same time (an agent pair with the three sessions, a bfdd
//! pair, under stress-ng an agent pair with `--rt-deadline`, and under
//! the real-time hogs agent pairs with `--rt-priority` and with
//! `--rt-deadline`): each implementation also competes with the others,
//! which is harder than running alone, and the same for all.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use crate::{
    Context,
    load::{Load, agent_schedulings},
    pair::{Implementation, Pair, sessions},
    report::{Cell, Table, Target},
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
        &["implementation", "load", "10 ms x 3", "5 ms x 3", "3.3 ms x 3"],
    );
    let mut raw = Vec::new();
    for load in [Load::Idle, Load::Stress, Load::RtHogs] {
        let [agent, agent_fifo, agent_deadline] = agent_schedulings().map(Implementation::Agent);
        let implementations = match load {
            Load::Idle => vec![agent, Implementation::Bfdd],
            Load::Stress => vec![agent, agent_deadline, Implementation::Bfdd],
            Load::RtHogs => vec![agent, agent_fifo, agent_deadline, Implementation::Bfdd],
        };
        eprintln!("floor: {} for {} s", load.label(), window.as_secs());
        let rows = match phase(load, &implementations, window) {
            Ok(rows) => rows,
            Err(error) => {
                let why = format!("{error:#}");
                implementations.iter().map(|implementation| (*implementation, Err(why.clone()))).collect()
            }
        };
        for (implementation, result) in rows {
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
            raw.push(json!({
                "implementation": implementation.label(),
                "load": load.key(),
                "window_s": window.as_secs(),
                "changes_by_interval_us": result.as_ref().ok(),
                "error": result.as_ref().err(),
            }));
            table.row(cells);
        }
    }
    table.raw = json!(raw);
    table.note(
        "counted from each node's session-up and session-down counters (show peers counters), from the moment every \
         session was Up to the end of the window: a flap counts 2 per node that saw it",
    );
    table.note(
        "all pairs of a load phase run at the same time on the same 2 cores (each with its own namespaces and veth)",
    );
    table.publish(&context.out, &context.machine)
}

type Changes = Result<Vec<(u64, u64)>, String>;

/// One load phase: every implementation's pair at once; per
/// implementation, the state changes per interval.
fn phase(
    load: Load,
    implementations: &[Implementation],
    window: Duration,
) -> anyhow::Result<Vec<(Implementation, Changes)>> {
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
    std::thread::sleep(window);
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
    Ok(rows)
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
