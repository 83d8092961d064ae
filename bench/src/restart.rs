//! `restart`: node A's agent killed (SIGKILL) and started again on its
//! pins with N sessions at 50 ms x 3 Up against node B's agent: what node
//! B sees across it (its Up and Down events: the target is none), how many
//! sessions A adopted, and how long A's adoption took before and after it
//! stopped the kernel's answers (`restore_ms` and `resume_ms` in A's log:
//! the second is what a peer adds to its gap, README "Restarts and
//! upgrades without a flap").
//!
//! While no agent runs, A's kernel answers B's packets (its keepalive,
//! issue 17): native `XDP_TX` on a veth reaches B because B's end runs the
//! agent's program.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use bfd_lab::e2e::LogLine;
use bfd_user::config::EngineScheduling;
use serde_json::json;

use crate::{
    Context,
    pair::{Implementation, Pair, sessions},
    report::{Cell, Table, Target},
};

const INTERVAL_US: u64 = 50_000;
const DETECT_MULT: u64 = 3;
/// 10,000 is where `scale`'s defaults collapse without a restart: run it
/// with `BFD_BENCH_TRANSMIT=packet+answers+fifo`.
const FULL_SIZES: [usize; 3] = [1000, 2000, 4200];
const QUICK_SIZES: [usize; 1] = [500];

/// What one restart measured.
struct Restarted {
    /// From the kill to the new agent's control socket answering.
    back_after: Duration,
    adopted: Option<u64>,
    restore_ms: Option<f64>,
    resume_ms: Option<f64>,
    /// Node B's Up and Down events from just before the kill to two
    /// Detection Times after every session was Up at A again.
    b_changes: u64,
    /// Up at the end (A, B).
    up_at_end: (usize, usize),
}

/// A field of a log line as a number with a fraction (`restore_ms`).
fn decimal(line: &LogLine, key: &str) -> Option<f64> {
    line.field(key)?.parse().ok()
}

fn restart(count: usize, agent_args: &[&str]) -> anyhow::Result<Result<Restarted, String>> {
    let implementation = Implementation::Agent(EngineScheduling::Normal);
    let mut pair = Pair::start_with("rs", implementation, sessions(count, &[INTERVAL_US]), agent_args)?;
    let limit = Duration::from_secs(30 + count as u64 / 100);
    if pair.wait_all_up(limit)?.is_none() {
        let (a, b) = pair.up_counts()?;
        return Ok(Err(format!("only {a}/{count} (A) and {b}/{count} (B) Up after {} s", limit.as_secs())));
    }
    // The last sessions to come Up are still polling, and each session's
    // adoption record is written as it changes: let them settle.
    std::thread::sleep(Duration::from_secs(3));
    let b_before = pair.b.state_changes()?;
    let killed = Instant::now();
    pair.kill_and_restart_a()?;
    let back_after = killed.elapsed();
    let deadline = Instant::now() + limit;
    while pair.a.up_count()? < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Two Detection Times: a session A lost would be Down at B by then.
    std::thread::sleep(Duration::from_micros(2 * INTERVAL_US * DETECT_MULT) + Duration::from_secs(1));
    let b_changes = pair.b.state_changes()?.saturating_sub(b_before);
    let agent = pair.a.agent().context("node A runs an agent")?;
    let adopted = agent.log_lines("sessions adopted from the previous agent").pop();
    Ok(Ok(Restarted {
        back_after,
        adopted: adopted.as_ref().and_then(|line| line.number("adopted")),
        restore_ms: adopted.as_ref().and_then(|line| decimal(line, "restore_ms")),
        resume_ms: adopted.as_ref().and_then(|line| decimal(line, "resume_ms")),
        b_changes,
        up_at_end: pair.up_counts()?,
    }))
}

pub fn run(context: &Context) -> anyhow::Result<()> {
    // `BFD_BENCH_RESTART_SIZES=4200,10000` instead of the full or quick sizes.
    let sizes: Vec<usize> = match std::env::var("BFD_BENCH_RESTART_SIZES") {
        Ok(sizes) => sizes
            .split(',')
            .map(|size| size.trim().parse())
            .collect::<Result<_, _>>()
            .context("BFD_BENCH_RESTART_SIZES: numbers of sessions")?,
        Err(_) if context.quick => QUICK_SIZES.to_vec(),
        Err(_) => FULL_SIZES.to_vec(),
    };
    // `BFD_BENCH_TRANSMIT=packet+answers+fifo`: the agents' arguments, as in
    // `scale` (one variant); the agent's defaults otherwise.
    let agent_args = match std::env::var("BFD_BENCH_TRANSMIT") {
        Ok(spec) => match crate::scale::parse_agent_variants(&spec).context("BFD_BENCH_TRANSMIT")?.as_slice()
        {
            [one] => one.clone(),
            _ => anyhow::bail!("BFD_BENCH_TRANSMIT: one variant for restart"),
        },
        Err(_) => Vec::new(),
    };
    let label = std::iter::once("bfd-agent".to_owned())
        .chain(agent_args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let agent_args: Vec<&str> = agent_args.iter().map(String::as_str).collect();
    let mut table = Table::new(
        "restart",
        "node A's agent killed and started again on its pins, N sessions at 50 ms x 3 against node B's agent",
        &[
            "agent",
            "N",
            "A's control socket back after s",
            "adopted",
            "restore ms (kernel answering)",
            "resume ms (kernel stopped)",
            "B's state changes",
            "Up at the end (A / B)",
        ],
    );
    let mut raw = Vec::new();
    for count in sizes {
        if !crate::selected(&format!("{label} {count}")) {
            continue;
        }
        eprintln!("restart: N = {count}");
        let measured = restart(count, &agent_args).unwrap_or_else(|error| Err(format!("failed: {error:#}")));
        let optional =
            |value: Option<f64>| value.map_or_else(|| Cell::text("-"), |value| Cell::number(value, 1));
        match measured {
            Ok(restarted) => {
                eprintln!(
                    "restart: N = {count}: B counted {} state changes; adoption {:?} ms + {:?} ms",
                    restarted.b_changes, restarted.restore_ms, restarted.resume_ms
                );
                table.row(vec![
                    Cell::text(label.clone()),
                    Cell::count(count as u64),
                    Cell::number(restarted.back_after.as_secs_f64(), 2),
                    restarted.adopted.map_or_else(|| Cell::text("-"), Cell::count),
                    optional(restarted.restore_ms),
                    optional(restarted.resume_ms),
                    Cell::count(restarted.b_changes).against(Target::at_most(0.0)),
                    Cell::text(format!("{} / {}", restarted.up_at_end.0, restarted.up_at_end.1)),
                ]);
                raw.push(json!({
                    "agent": label,
                    "n": count,
                    "back_after_s": restarted.back_after.as_secs_f64(),
                    "adopted": restarted.adopted,
                    "restore_ms": restarted.restore_ms,
                    "resume_ms": restarted.resume_ms,
                    "b_state_changes": restarted.b_changes,
                    "up_at_end": [restarted.up_at_end.0, restarted.up_at_end.1],
                }));
            }
            Err(why) => {
                let mut cells =
                    vec![Cell::text(label.clone()), Cell::count(count as u64), Cell::text(why.clone())];
                cells.extend((0..5).map(|_| Cell::text("-")));
                table.row(cells);
                raw.push(json!({"agent": label, "n": count, "error": why}));
            }
        }
    }
    table.raw = json!(raw);
    table.note(
        "the agent's defaults (`udp` path, native XDP) unless `BFD_BENCH_TRANSMIT` says (as in `scale`); while no agent runs A's kernel answers B's packets for the Up \
         sessions (keepalive); restore: the adoption's work while the kernel still answers (sockets, restores, map \
         writes), resume: from stopping the kernel's answers (the lease) to the last session's first packet \
         scheduled, which a peer adds to its gap (about an interval)",
    );
    table.note(
        "B's state changes: node B's Up and Down events from just before the kill to two Detection Times after every \
         session is Up at A again (target: none)",
    );
    table.publish(&context.out, &context.machine)
}
