//! The engine's snapshots as the operator's [`PeerReport`]s.

use bfd_common::wire::State;
use bfd_session::Time;
use bfd_user::show::{AuthFailureCounts, LastDown, PeerCounters, PeerReport, PeerState, RttSummary, micros};

use bfd_user::engine::Snapshot;

/// One report per session.
pub fn reports(snapshots: &[Snapshot]) -> Vec<PeerReport> {
    snapshots.iter().map(report).collect()
}

/// The operator's view of one session.
pub fn report(snapshot: &Snapshot) -> PeerReport {
    let status = &snapshot.status;
    let spec = &snapshot.spec;
    let kernel = snapshot.kernel.as_ref();
    let secs_since = |at: Option<Time>| at.map_or(0, |at| snapshot.now.saturating_since(at).as_secs());
    let absorbed = kernel.map_or(0, |state| state.absorbed);
    let echo_rtt_us = kernel
        .filter(|state| state.echo_rx > 0)
        .map(|state| state.echo_rtt_ns / 1000)
        .or_else(|| status.echo_rtt.map(micros));
    PeerReport {
        peer: spec.peer,
        local: spec.local,
        interface: super::interface_name(spec, snapshot.ifindex),
        vrf: spec.vrf.clone().unwrap_or_else(|| "default".to_owned()),
        multihop: spec.multihop,
        profile: Some(spec.profile.clone()),
        passive: spec.session.passive,
        minimum_ttl: spec.multihop.then_some(spec.min_ttl),
        local_discr: status.local_discr,
        remote_discr: status.remote_discr,
        state: PeerState::from(status.state),
        since_secs: secs_since(status.last_state_change),
        diagnostic: status.local_diag.as_str().to_owned(),
        remote_diagnostic: status.remote_diag.as_str().to_owned(),
        detect_mult: status.detect_mult,
        receive_interval_us: micros(status.required_min_rx),
        transmit_interval_us: micros(status.desired_min_tx),
        echo_receive_interval_us: Some(micros(status.required_min_echo_rx)).filter(|us| *us > 0),
        echo_transmit_interval_us: status.echo_tx_interval.map(micros),
        remote_detect_mult: status.remote_detect_mult,
        remote_receive_interval_us: micros(status.remote_min_rx),
        remote_transmit_interval_us: micros(status.remote_desired_min_tx),
        remote_echo_receive_interval_us: Some(micros(status.remote_min_echo_rx)),
        rtt: kernel.filter(|state| state.echo_rtt_samples > 0).map(|state| RttSummary {
            min_us: state.echo_rtt_min_ns / 1000,
            avg_us: state.echo_rtt_sum_ns / state.echo_rtt_samples / 1000,
            max_us: state.echo_rtt_max_ns / 1000,
        }),
        counters: PeerCounters {
            // Every valid packet: those the kernel absorbed never reached
            // the session core.
            control_packet_input: status.counters.control_rx + absorbed,
            control_packet_output: status.counters.control_tx,
            echo_packet_input: kernel.map_or(status.counters.echo_rx, |state| state.echo_rx),
            echo_packet_output: status.counters.echo_tx,
            session_up: status.counters.up,
            session_down: status.counters.down,
            auth: auth_failures(status),
        },
        fast_path: snapshot.fast_path,
        control_absorbed_in_kernel: absorbed,
        control_seen_in_userspace: snapshot.userspace_rx,
        takeovers: status.counters.takeovers,
        largest_rx_gap_since_up_us: if status.state == State::Up {
            snapshot.largest_gap().map(micros)
        } else {
            None
        },
        echo_rtt_us,
        last_down: status.last_down.map(|(at, diagnostic)| LastDown {
            secs_ago: snapshot.now.saturating_since(at).as_secs(),
            diagnostic: diagnostic.as_str().to_owned(),
        }),
    }
}

/// The core's authentication counters as `show` prints them.
fn auth_failures(status: &bfd_session::SessionStatus) -> AuthFailureCounts {
    let counted = status.counters.auth;
    AuthFailureCounts {
        auth_type: status.auth.map(|auth| u8::from(auth.auth_type)),
        unexpected: counted.unexpected,
        missing: counted.missing,
        type_mismatch: counted.type_mismatch,
        unknown_key_id: counted.unknown_key_id,
        password_mismatch: counted.password_mismatch,
        digest_mismatch: counted.digest_mismatch,
        sequence: counted.sequence,
        meticulous_sequence: counted.meticulous_sequence,
        tx_no_key: counted.tx_no_key,
    }
}
