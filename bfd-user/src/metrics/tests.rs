use std::time::{Duration, SystemTime};

use bfd_common::maps::{GlobalStats, HISTOGRAM_BUCKETS, LogHistogram, SessionState, histogram_bucket};
use bfd_common::wire::{Diagnostic, Error as WireError, State};
use bfd_session::{Counters, SessionStatus};

use super::*;

fn status(state: State) -> SessionStatus {
    SessionStatus {
        state,
        remote_state: state,
        local_discr: 7,
        remote_discr: 9,
        local_diag: Diagnostic::NoDiagnostic,
        remote_diag: Diagnostic::NoDiagnostic,
        last_down: None,
        last_state_change: None,
        last_rx: None,
        desired_min_tx: Duration::from_millis(300),
        required_min_rx: Duration::from_millis(300),
        required_min_echo_rx: Duration::ZERO,
        detect_mult: 3,
        remote_desired_min_tx: Duration::from_millis(400),
        remote_min_rx: Duration::from_millis(300),
        remote_min_echo_rx: Duration::ZERO,
        remote_detect_mult: 3,
        remote_demand: false,
        remote_control_plane_independent: false,
        tx_interval: Some(Duration::from_millis(300)),
        detection_time: Some(Duration::from_millis(1200)),
        echo_tx_interval: None,
        echo_detection_time: None,
        echo_rtt: None,
        polling: false,
        counters: Counters {
            control_rx: 10,
            control_discarded: 1,
            control_tx: 20,
            echo_tx: 0,
            echo_rx: 0,
            up: 2,
            down: 1,
            ..Counters::default()
        },
        auth: None,
    }
}

fn labels(peer: &str, multihop: bool) -> SessionLabels {
    SessionLabels {
        peer: peer.parse().unwrap(),
        local: Some("192.0.2.1".parse().unwrap()),
        interface: (!multihop).then(|| "eth0".to_owned()),
        vrf: "default".to_owned(),
        multihop,
        profile: "fast".to_owned(),
    }
}

/// A kernel state whose gap histogram holds `gaps` (ns).
fn kernel(gaps: &[u64]) -> SessionState {
    let mut state = SessionState {
        absorbed: 100,
        passed: 4,
        echo_rx: 5,
        drop_ttl: 3,
        ctl_expired: 1,
        ..Default::default()
    };
    for gap in gaps {
        state.gap_hist.buckets[histogram_bucket(*gap, GAP_HISTOGRAM_SHIFT)] += 1;
        state.gap_hist.sum_ns += gap;
    }
    state.detect_overshoot_hist.buckets[histogram_bucket(40_000, OVERSHOOT_HISTOGRAM_SHIFT)] += 1;
    state.detect_overshoot_hist.sum_ns = 40_000;
    state
}

fn scrape() -> Scrape {
    let mut changes = StateChangeCounter::default();
    changes.count(State::Down, State::Init, Diagnostic::NoDiagnostic);
    changes.count(State::Init, State::Up, Diagnostic::NoDiagnostic);
    changes.count(State::Up, State::Down, Diagnostic::ControlDetectionTimeExpired);
    changes.count(State::Down, State::Up, Diagnostic::ControlDetectionTimeExpired);
    let single = SessionMetrics {
        labels: labels("192.0.2.2", false),
        status: status(State::Up),
        kernel: Some(kernel(&[300_000_000, 290_000_000, 50_000_000, 9_000_000_000])),
        agent_rx: 6,
        last_state_change: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500)),
        state_changes: changes.counts(),
    };
    let multi = SessionMetrics {
        labels: labels("2001:db8::2", true),
        status: status(State::Down),
        kernel: None,
        agent_rx: 10,
        last_state_change: None,
        state_changes: vec![],
    };
    // The engine woke 3 times, twice for a deadline: 3 µs and 20 ms late.
    let mut lateness = LogHistogram::default();
    for late in [3_000, 20_000_000] {
        lateness.buckets[histogram_bucket(late, ENGINE_LATENESS_SHIFT)] += 1;
        lateness.sum_ns += late;
    }
    let mut stats = GlobalStats {
        frames: 1000,
        ctl_absorbed: 100,
        ctl_drop_ttl: 4,
        events_lost: 2,
        ..Default::default()
    };
    *stats.control_invalid.counter_mut(WireError::BadVersion) += 5;
    Scrape {
        sessions: vec![single, multi],
        agent: AgentMetrics {
            engine_wakeups: 3,
            engine_lateness: lateness,
            reloads_succeeded: 3,
            reloads_failed: 1,
            last_reload_succeeded: false,
            data_plane_connected: Some(true),
            fast_path_attached: true,
            transmit: crate::transmit::TransmitCounters {
                packet_path: true,
                frames: 900,
                frames_refused: 2,
                ip_output: 14,
                ip_output_refused: 1,
                fallback_unresolved: 6,
                fallback_stale: 3,
                fallback_not_ethernet: 0,
                fallback_link_unknown: 5,
            },
            receive_dropped: 12,
        },
        kernel: Some(stats),
    }
}

/// The value of the sample of `name` whose labels contain every one of
/// `labels` (`key="value"`); panics unless exactly one matches.
fn value(text: &str, name: &str, labels: &[&str]) -> f64 {
    let found: Vec<&str> = sample_lines(text, name)
        .into_iter()
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:#?}\n{text}");
    found[0].rsplit(' ').next().unwrap().parse().unwrap()
}

/// The families of `text`: name and type, from the `# TYPE` lines.
fn families(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|rest| rest.split_once(' ').unwrap())
        .collect()
}

#[test]
fn names_follow_prometheus_conventions() {
    let text = render(scrape(), Format::OpenMetrics, Compat::None);
    assert!(text.ends_with("# EOF\n"), "{text}");
    let families = families(&text);
    assert!(families.len() > 30, "{families:?}");
    for (name, kind) in &families {
        assert!(name.starts_with("bfd_") && !name.starts_with("bfd_bfd"), "{name}: one bfd_ prefix");
        assert!(!name.ends_with("_total"), "{name}: OpenMetrics adds _total to the samples");
        assert!(
            !name.contains("_ms") && !name.contains("_us") && !name.contains("_ns"),
            "{name}: base units"
        );
        if *kind != "gauge" {
            assert!(sample_lines(&text, name).is_empty(), "{name} ({kind}): samples without a suffix");
        }
        match *kind {
            "counter" => assert!(!sample_lines(&text, &format!("{name}_total")).is_empty(), "{name}"),
            "histogram" => {
                assert!(name.ends_with("_seconds"), "{name}");
                assert!(!sample_lines(&text, &format!("{name}_bucket")).is_empty(), "{name}");
            }
            "gauge" => {}
            other => panic!("{name}: unexpected type {other}"),
        }
    }
    // Units: every duration is in seconds, with its UNIT line.
    for name in ["bfd_session_detection_time_seconds", "bfd_session_control_packet_gap_seconds"] {
        assert!(text.contains(&format!("# UNIT {name} seconds\n")), "{name}\n{text}");
    }
}

#[test]
fn every_session_series_carries_the_session_labels() {
    let text = render(scrape(), Format::OpenMetrics, Compat::None);
    let single = [
        "peer=\"192.0.2.2\"",
        "local=\"192.0.2.1\"",
        "interface=\"eth0\"",
        "vrf=\"default\"",
        "type=\"single-hop\"",
        "profile=\"fast\"",
    ];
    assert_eq!(value(&text, "bfd_session_up", &single), 1.0);
    let multi = ["peer=\"2001:db8::2\"", "interface=\"\"", "type=\"multihop\""];
    assert_eq!(value(&text, "bfd_session_up", &multi), 0.0);
    for line in text.lines().filter(|line| line.starts_with("bfd_session_")) {
        for key in ["peer=", "local=", "interface=", "vrf=", "type=", "profile="] {
            assert!(line.contains(key), "{line}: no {key}");
        }
    }
}

#[test]
fn states_and_state_changes() {
    let text = render(scrape(), Format::OpenMetrics, Compat::None);
    let peer = "peer=\"192.0.2.2\"";
    for (state, expected) in [("admin_down", 0.0), ("down", 0.0), ("init", 0.0), ("up", 1.0)] {
        let label = format!("state=\"{state}\"");
        assert_eq!(value(&text, "bfd_session_state", &[peer, &label]), expected, "{state}");
    }
    let change = |from: &str, to: &str, diagnostic: &str| {
        let labels = [
            peer.to_owned(),
            format!("from=\"{from}\""),
            format!("to=\"{to}\""),
            format!("diagnostic=\"{diagnostic}\""),
        ];
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        value(&text, "bfd_session_state_changes_total", &labels)
    };
    assert_eq!(change("up", "down", "control_detection_time_expired"), 1.0);
    assert_eq!(change("init", "up", "ok"), 1.0);
    // One series per (from, to, diagnostic): the 4 that happened, and the
    // two other transitions out of Up alerts watch, at 0 (the other
    // session has only those 3).
    let peer_changes: Vec<&str> = sample_lines(&text, "bfd_session_state_changes_total")
        .into_iter()
        .filter(|line| line.contains(peer))
        .collect();
    assert_eq!(peer_changes.len(), 6, "{peer_changes:#?}");
    assert_eq!(sample_lines(&text, "bfd_session_state_changes_total").len(), 9);
    assert_eq!(change("up", "down", "neighbor_signaled_session_down"), 0.0);
    assert_eq!(change("up", "down", "echo_function_failed"), 0.0);
    assert_eq!(value(&text, "bfd_session_last_state_change_timestamp_seconds", &[peer]), 1_700_000_000.5);
    assert_eq!(value(&text, "bfd_session_up_transitions_total", &[peer]), 2.0);
}

#[test]
fn packets_split_between_kernel_and_agent() {
    let text = render(scrape(), Format::OpenMetrics, Compat::None);
    let peer = "peer=\"192.0.2.2\"";
    // 10 accepted by the session core + 100 absorbed in the kernel.
    assert_eq!(value(&text, "bfd_session_control_packets_received_total", &[peer]), 110.0);
    assert_eq!(value(&text, "bfd_session_control_packets_absorbed_total", &[peer]), 100.0);
    assert_eq!(value(&text, "bfd_session_control_packets_passed_total", &[peer]), 4.0);
    assert_eq!(value(&text, "bfd_session_control_packets_agent_received_total", &[peer]), 6.0);
    assert_eq!(value(&text, "bfd_session_control_packets_sent_total", &[peer]), 20.0);
    assert_eq!(value(&text, "bfd_session_control_packets_dropped_total", &[peer, "reason=\"ttl\""]), 3.0);
    assert_eq!(value(&text, "bfd_session_echo_packets_received_total", &[peer]), 5.0);
    // Without the fast path: no kernel series for the session.
    let multi = "peer=\"2001:db8::2\"";
    assert_eq!(value(&text, "bfd_session_control_packets_received_total", &[multi]), 10.0);
    assert!(!text.contains(&format!("bfd_session_control_packets_absorbed_total{{{multi}")));
    // The program's global counters, drops by reason.
    assert_eq!(
        value(&text, "bfd_xdp_control_packets_total", &["decision=\"dropped\"", "reason=\"ttl\""]),
        4.0
    );
    assert_eq!(
        value(&text, "bfd_xdp_control_packets_total", &["decision=\"dropped\"", "reason=\"bad_version\""]),
        5.0
    );
    assert_eq!(value(&text, "bfd_xdp_control_packets_total", &["decision=\"absorbed\""]), 100.0);
    assert_eq!(value(&text, "bfd_xdp_ring_buffer_events_lost_total", &[]), 2.0);
}

#[test]
fn timers_are_in_seconds() {
    let text = render(scrape(), Format::OpenMetrics, Compat::None);
    let peer = "peer=\"192.0.2.2\"";
    assert_eq!(value(&text, "bfd_session_transmit_interval_seconds", &[peer]), 0.3);
    // Ours 300 ms, the peer sends every 400 ms: 400 ms.
    assert_eq!(value(&text, "bfd_session_receive_interval_seconds", &[peer]), 0.4);
    assert_eq!(value(&text, "bfd_session_detection_time_seconds", &[peer]), 1.2);
    // Echo inactive: no series.
    assert!(sample_lines(&text, "bfd_session_echo_transmit_interval_seconds").is_empty());
}

#[test]
fn histogram_buckets_are_cumulative_and_sum_to_the_count() {
    let text = render(scrape(), Format::OpenMetrics, Compat::None);
    let peer = "peer=\"192.0.2.2\"";
    let name = "bfd_session_control_packet_gap_seconds";
    let buckets: Vec<(String, f64)> = sample_lines(&text, &format!("{name}_bucket"))
        .into_iter()
        .filter(|line| line.contains(peer))
        .map(|line| {
            let le = line.split("le=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
            (le, line.rsplit(' ').next().unwrap().parse().unwrap())
        })
        .collect();
    assert_eq!(buckets.len(), HISTOGRAM_BUCKETS);
    assert!(buckets.windows(2).all(|pair| pair[0].1 <= pair[1].1), "cumulative: {buckets:?}");
    assert_eq!(buckets.last().unwrap(), &("+Inf".to_owned(), 4.0), "9 s is past the last bound\n{text}");
    assert_eq!(buckets[0].0, "0.000524288", "the first bound, in seconds");
    let count = value(&text, &format!("{name}_count"), &[peer]);
    assert_eq!(count, 4.0);
    assert!((value(&text, &format!("{name}_sum"), &[peer]) - 9.64).abs() < 1e-9);
    // 50 ms is under 2^26 ns = 67.1 ms: that bucket holds it and none before.
    let le = |bound: &str| buckets.iter().find(|(le, _)| le == bound).unwrap().1;
    assert_eq!(le("0.067108864"), 1.0);
    assert_eq!(le("0.033554432"), 0.0);
    // 290 and 300 ms are under 2^29 ns = 536.9 ms.
    assert_eq!(le("0.536870912"), 3.0);
    // The echo round-trip histogram only where echo runs (the session has
    // 5 echoes back).
    assert_eq!(sample_lines(&text, "bfd_session_echo_round_trip_seconds_count").len(), 1);
    // The overshoot and engine lateness histograms.
    assert_eq!(value(&text, "bfd_session_detection_overshoot_seconds_count", &[peer]), 1.0);
    assert_eq!(
        value(&text, "bfd_engine_lateness_seconds_count", &[]),
        2.0,
        "wake-ups without a deadline are not late"
    );
    assert_eq!(value(&text, "bfd_engine_wakeups_total", &[]), 3.0);
}

#[test]
fn histogram_samples_of_an_empty_histogram() {
    let (sum, count, buckets) = histogram_samples(GAP_HISTOGRAM_SHIFT, &LogHistogram::default());
    assert_eq!((sum, count, buckets.len()), (0.0, 0, HISTOGRAM_BUCKETS));
    assert!(buckets.last().unwrap().0.is_infinite());
}

/// Three single-hop sessions with kernel state: two share interface and
/// profile (`fast`), one runs profile `slow`; plus the multihop one without.
fn three_sessions() -> Scrape {
    let mut scrape = scrape();
    let first = scrape.sessions[0].clone();
    let mut second = first.clone();
    second.labels.peer = "192.0.2.3".parse().unwrap();
    second.status.local_discr = 8;
    second.kernel = Some(kernel(&[300_000_000, 40_000_000_000]));
    let mut slow = first.clone();
    slow.labels.peer = "192.0.2.4".parse().unwrap();
    slow.labels.profile = "slow".to_owned();
    slow.status.local_discr = 9;
    slow.kernel = Some(kernel(&[1_000_000_000]));
    scrape.sessions.splice(1..1, [second, slow]);
    scrape
}

const HISTOGRAM_NAMES: [&str; 3] = [
    "bfd_session_control_packet_gap_seconds",
    "bfd_session_echo_round_trip_seconds",
    "bfd_session_detection_overshoot_seconds",
];

#[test]
fn aggregate_histograms_sum_the_sessions_by_interface_vrf_type_and_profile() {
    let renderer = Renderer::new(Options { histograms: Histograms::Aggregate, ..Options::default() });
    let text = renderer.render(three_sessions(), Format::OpenMetrics);
    let gap = "bfd_session_control_packet_gap_seconds";
    // One series per (interface, vrf, type, profile), without peer or local.
    let counts = sample_lines(&text, &format!("{gap}_count"));
    assert_eq!(counts.len(), 2, "{counts:#?}");
    for name in HISTOGRAM_NAMES {
        for line in sample_lines(&text, &format!("{name}_bucket")) {
            assert!(!line.contains("peer=") && !line.contains("local="), "{line}");
            for key in ["interface=\"eth0\"", "vrf=\"default\"", "type=\"single-hop\"", "profile="] {
                assert!(line.contains(key), "{line}: no {key}");
            }
        }
    }
    // The two `fast` sessions: 4 + 2 gaps, 9.64 + 40.3 s; `slow`: 1.
    let fast = ["profile=\"fast\""];
    assert_eq!(value(&text, &format!("{gap}_count"), &fast), 6.0);
    assert!((value(&text, &format!("{gap}_sum"), &fast) - 49.94).abs() < 1e-9);
    assert_eq!(value(&text, &format!("{gap}_bucket"), &[fast[0], "le=\"+Inf\""]), 6.0);
    assert_eq!(value(&text, &format!("{gap}_bucket"), &[fast[0], "le=\"0.536870912\""]), 4.0);
    assert_eq!(value(&text, &format!("{gap}_count"), &["profile=\"slow\""]), 1.0);
    assert_eq!(value(&text, "bfd_session_detection_overshoot_seconds_count", &fast), 2.0);
    // Each session's counters and gauges stay, with all its labels.
    assert_eq!(sample_lines(&text, "bfd_session_up").len(), 4);
    assert_eq!(value(&text, "bfd_session_control_packets_absorbed_total", &["peer=\"192.0.2.3\""]), 100.0);
    // The same families as per session: dashboards and alerts find them.
    let per_session = render(three_sessions(), Format::OpenMetrics, Compat::None);
    assert_eq!(families(&text), families(&per_session));
}

#[test]
fn aggregate_histograms_keep_what_a_removed_session_counted() {
    let renderer = Renderer::new(Options { histograms: Histograms::Aggregate, ..Options::default() });
    let gap_count = |scrape: Scrape| {
        let text = renderer.render(scrape, Format::OpenMetrics);
        value(&text, "bfd_session_control_packet_gap_seconds_count", &["profile=\"fast\""])
    };
    assert_eq!(gap_count(three_sessions()), 6.0);
    // Session 8's kernel state could not be read once: no fall, and no
    // double count when it is read again.
    let mut unread = three_sessions();
    unread.sessions[1].kernel = None;
    assert_eq!(gap_count(unread), 6.0);
    assert_eq!(gap_count(three_sessions()), 6.0);
    // Session 8 (2 gaps) goes: its gaps stay in the sum, which must not
    // fall (Prometheus would take it for a counter reset).
    let mut without = three_sessions();
    without.sessions.remove(1);
    assert_eq!(gap_count(without.clone()), 6.0);
    // It comes back with a new kernel entry, counting from 0: 1 gap more.
    let mut again = three_sessions();
    again.sessions[1].kernel = Some(kernel(&[300_000_000]));
    assert_eq!(gap_count(again.clone()), 7.0);
    // Session 7 moves to profile `slow`: what it counted under `fast`
    // stays there, and `slow` gets its counts.
    let mut moved = again;
    moved.sessions[0].labels.profile = "slow".to_owned();
    let text = renderer.render(moved, Format::OpenMetrics);
    let count = |profile: &str| {
        value(&text, "bfd_session_control_packet_gap_seconds_count", &[&format!("profile=\"{profile}\"")])
    };
    assert_eq!((count("fast"), count("slow")), (7.0, 1.0 + 4.0));
}

#[test]
fn no_histograms_when_off_and_every_other_series_stays() {
    let off = Renderer::new(Options { histograms: Histograms::Off, ..Options::default() })
        .render(three_sessions(), Format::OpenMetrics);
    let per_session = render(three_sessions(), Format::OpenMetrics, Compat::None);
    for name in HISTOGRAM_NAMES {
        assert!(!off.contains(name), "{name}");
    }
    let expected: Vec<_> =
        families(&per_session).into_iter().filter(|(name, _)| !HISTOGRAM_NAMES.contains(name)).collect();
    assert_eq!(families(&off), expected);
    assert!(
        off.lines()
            .filter(|line| !HISTOGRAM_NAMES.iter().any(|name| line.contains(name)))
            .eq(per_session.lines().filter(|line| !HISTOGRAM_NAMES.iter().any(|name| line.contains(name)))),
        "the other lines are the same"
    );
    // The engine's own histogram is the agent's, not the sessions'.
    assert!(off.contains("bfd_engine_lateness_seconds_count"));
}

#[test]
fn histogram_modes_parse() {
    assert_eq!("per-session".parse(), Ok(Histograms::PerSession));
    assert_eq!("aggregate".parse(), Ok(Histograms::Aggregate));
    assert_eq!("off".parse(), Ok(Histograms::Off));
    assert!("none".parse::<Histograms>().unwrap_err().contains("expected \"per-session\""));
    assert_eq!(Histograms::default(), Histograms::PerSession);
}

#[test]
fn agent_series() {
    let text = render(scrape(), Format::OpenMetrics, Compat::None);
    assert_eq!(value(&text, "bfd_config_reloads_total", &["result=\"success\""]), 3.0);
    assert_eq!(value(&text, "bfd_config_reloads_total", &["result=\"failure\""]), 1.0);
    assert_eq!(value(&text, "bfd_config_last_reload_successful", &[]), 0.0);
    assert_eq!(value(&text, "bfd_data_plane_connected", &[]), 1.0);
    let mut without = scrape();
    without.agent.data_plane_connected = None;
    without.kernel = None;
    let text = render(without, Format::OpenMetrics, Compat::None);
    assert!(!text.contains("bfd_data_plane_connected"), "not configured: no series");
    assert!(!text.contains("bfd_xdp_frames"), "no fast path: no kernel series");
}

#[test]
fn transmit_counters_by_path_and_fallback_reason_in_both_formats() {
    for format in [Format::OpenMetrics, Format::PrometheusText] {
        let text = render(scrape(), format, Compat::None);
        let counter = |name: &str, label: &str| value(&text, name, &[label]);
        assert_eq!(counter("bfd_transmit_control_packets_total", "path=\"frame\""), 900.0, "{format:?}");
        assert_eq!(counter("bfd_transmit_control_packets_total", "path=\"ip_output\""), 14.0);
        assert_eq!(counter("bfd_transmit_control_packets_refused_total", "path=\"frame\""), 2.0);
        assert_eq!(counter("bfd_transmit_control_packets_refused_total", "path=\"ip_output\""), 1.0);
        assert_eq!(counter("bfd_transmit_ip_output_fallbacks_total", "reason=\"unresolved\""), 6.0);
        assert_eq!(counter("bfd_transmit_ip_output_fallbacks_total", "reason=\"stale\""), 3.0);
        assert_eq!(counter("bfd_transmit_ip_output_fallbacks_total", "reason=\"link_unknown\""), 5.0);
        // Exported at 0 too, so that increase() sees the first one.
        assert_eq!(counter("bfd_transmit_ip_output_fallbacks_total", "reason=\"not_ethernet\""), 0.0);
        assert_eq!(value(&text, "bfd_transmit_packet_path_enabled", &[]), 1.0);
        assert_eq!(value(&text, "bfd_receive_control_packets_dropped_total", &[]), 12.0);
        for name in [
            "bfd_receive_control_packets_dropped",
            "bfd_transmit_control_packets",
            "bfd_transmit_control_packets_refused",
            "bfd_transmit_ip_output_fallbacks",
        ] {
            let declared = match format {
                Format::OpenMetrics => format!("# TYPE {name} counter\n"),
                Format::PrometheusText => format!("# TYPE {name}_total counter\n"),
            };
            assert!(text.contains(&declared), "{format:?}: {declared}{text}");
        }
        assert!(text.contains("# HELP bfd_transmit_control_packets"), "{text}");
    }
    // The udp path: every packet through IP output, the gauge at 0.
    let mut udp = scrape();
    udp.agent.transmit =
        crate::transmit::TransmitCounters { ip_output: 50, ..crate::transmit::TransmitCounters::default() };
    let text = render(udp, Format::OpenMetrics, Compat::None);
    assert_eq!(value(&text, "bfd_transmit_packet_path_enabled", &[]), 0.0);
    assert_eq!(value(&text, "bfd_transmit_control_packets_total", &["path=\"frame\""]), 0.0);
    assert_eq!(value(&text, "bfd_transmit_control_packets_total", &["path=\"ip_output\""]), 50.0);
}

#[test]
fn the_classic_text_format_names_counters_with_total() {
    let text = render(scrape(), Format::PrometheusText, Compat::None);
    assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
    assert!(text.contains("# TYPE bfd_session_control_packets_sent_total counter\n"), "{text}");
    assert!(text.contains("# TYPE bfd_session_control_packet_gap_seconds histogram\n"), "{text}");
    let open = render(scrape(), Format::OpenMetrics, Compat::None);
    let peer = "peer=\"192.0.2.2\"";
    for name in ["bfd_session_control_packets_sent_total", "bfd_session_control_packet_gap_seconds_count"] {
        assert_eq!(value(&text, name, &[peer]), value(&open, name, &[peer]), "{name}");
    }
}

#[test]
fn metallb_names_only_when_asked() {
    let plain = render(scrape(), Format::OpenMetrics, Compat::None);
    assert!(!plain.contains("metallb_"));
    for format in [Format::OpenMetrics, Format::PrometheusText] {
        let text = render(scrape(), format, Compat::MetalLb);
        let peer = ["peer=\"192.0.2.2\"", "vrf=\"default\""];
        assert_eq!(value(&text, "metallb_bfd_session_up", &peer), 1.0);
        assert_eq!(value(&text, "metallb_bfd_control_packet_input", &peer), 110.0, "{format:?}");
        assert_eq!(value(&text, "metallb_bfd_control_packet_output", &peer), 20.0);
        assert_eq!(value(&text, "metallb_bfd_echo_packet_input", &peer), 5.0);
        assert_eq!(value(&text, "metallb_bfd_echo_packet_output", &peer), 0.0);
        assert_eq!(value(&text, "metallb_bfd_session_up_events", &peer), 2.0);
        assert_eq!(value(&text, "metallb_bfd_session_down_events", &peer), 1.0);
        assert_eq!(value(&text, "metallb_bfd_zebra_notifications", &peer), 0.0);
        assert_eq!(value(&text, "metallb_bfd_session_state_changes_total", &peer), 4.0);
        assert_eq!(value(&text, "metallb_bfd_control_packets_sent_total", &peer), 20.0);
        assert_eq!(value(&text, "metallb_bfd_control_packets_received_total", &peer), 110.0);
        assert_eq!(value(&text, "metallb_bfd_session_up", &["peer=\"2001:db8::2\""]), 0.0);
        // Exactly MetalLB's labels.
        for line in text.lines().filter(|line| line.starts_with("metallb_")) {
            let labels = line.split_once('{').unwrap().1.split_once('}').unwrap().0;
            let keys: Vec<&str> = labels.split(',').map(|pair| pair.split('=').next().unwrap()).collect();
            assert_eq!(keys, ["peer", "vrf"], "{line}");
        }
    }
}

#[test]
fn negotiates_the_format_from_accept() {
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
    assert_eq!(Format::negotiate(Some("text/plain;version=0.0.4")), Format::PrometheusText);
    assert_eq!(Format::negotiate(Some("text/plain")), Format::PrometheusText);
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text; q=0, text/plain")),
        Format::PrometheusText
    );
    assert_eq!(Format::negotiate(Some("*/*")), Format::OpenMetrics);
    assert_eq!(Format::negotiate(None), Format::OpenMetrics);
}

#[test]
fn compat_parses() {
    assert_eq!("metallb".parse::<Compat>(), Ok(Compat::MetalLb));
    assert_eq!("none".parse::<Compat>(), Ok(Compat::None));
    assert!("frr".parse::<Compat>().unwrap_err().contains("metallb"));
}

/// `scrape()` with its single-hop session on meticulous keyed SHA1, which
/// refused 4 packets of another key, 2 replays and 1 without the A bit;
/// the multihop session has none and saw 3 packets with the A bit.
fn authenticated() -> Scrape {
    let mut scrape = scrape();
    let single = &mut scrape.sessions[0].status;
    single.auth = Some(bfd_session::AuthStatus {
        auth_type: bfd_common::wire::AuthType::MeticulousKeyedSha1,
        sha1: bfd_session::Sha1Construction::Rfc5880,
        send_key_id: Some(1),
        xmit_seq: 100,
        rcv_seq: Some(7),
    });
    single.counters.auth.unknown_key_id = 4;
    single.counters.auth.meticulous_sequence = 2;
    single.counters.auth.missing = 1;
    single.counters.auth.tx_no_key = 5;
    scrape.sessions[1].status.counters.auth.unexpected = 3;
    scrape
}

#[test]
fn authentication_failures_by_reason_with_the_session_labels() {
    for format in [Format::OpenMetrics, Format::PrometheusText] {
        let text = render(authenticated(), format, Compat::None);
        let peer = "peer=\"192.0.2.2\"";
        let failures = |labels: &[&str]| value(&text, "bfd_auth_failures_total", labels);
        assert_eq!(failures(&[peer, "reason=\"unknown_key_id\""]), 4.0, "{format:?}");
        assert_eq!(failures(&[peer, "reason=\"meticulous_sequence\""]), 2.0);
        assert_eq!(failures(&[peer, "reason=\"missing\""]), 1.0);
        // The other reasons a meticulous keyed session can count, at 0
        // from the start; none it cannot (no password, no keyed sequence,
        // no A bit on an unauthenticated session).
        let reasons: Vec<&str> = sample_lines(&text, "bfd_auth_failures_total")
            .into_iter()
            .filter(|line| line.contains(peer))
            .map(|line| line.split("reason=\"").nth(1).unwrap().split('"').next().unwrap())
            .collect();
        assert_eq!(
            reasons,
            ["missing", "type_mismatch", "unknown_key_id", "meticulous_sequence", "digest_mismatch"],
            "{format:?}"
        );
        assert_eq!(failures(&[peer, "reason=\"digest_mismatch\""]), 0.0);
        // The session without authentication: only the A bit it did not
        // expect.
        let multi = "peer=\"2001:db8::2\"";
        assert_eq!(failures(&[multi, "reason=\"unexpected\""]), 3.0);
        assert_eq!(sample_lines(&text, "bfd_auth_failures_total").len(), 6);
        // Every one with the session's labels.
        for line in sample_lines(&text, "bfd_auth_failures_total") {
            for key in ["peer=", "local=", "interface=", "vrf=", "type=", "profile=", "reason="] {
                assert!(line.contains(key), "{line}: no {key}");
            }
        }
        // Packets not sent for want of a key: authenticated sessions only.
        assert_eq!(value(&text, "bfd_auth_tx_no_key_total", &[peer]), 5.0);
        assert_eq!(sample_lines(&text, "bfd_auth_tx_no_key_total").len(), 1);
    }
    // Simple password and keyed types seed their own reasons.
    let mut scrape = authenticated();
    let reasons_of = |scrape: Scrape| -> Vec<String> {
        let text = render(scrape, Format::OpenMetrics, Compat::None);
        sample_lines(&text, "bfd_auth_failures_total")
            .into_iter()
            .filter(|line| line.contains("peer=\"192.0.2.2\""))
            .map(|line| line.split("reason=\"").nth(1).unwrap().split('"').next().unwrap().to_owned())
            .collect()
    };
    scrape.sessions[0].status.counters.auth = Default::default();
    scrape.sessions[0].status.auth.as_mut().unwrap().auth_type = bfd_common::wire::AuthType::SimplePassword;
    assert_eq!(
        reasons_of(scrape.clone()),
        ["missing", "type_mismatch", "unknown_key_id", "password_mismatch"]
    );
    scrape.sessions[0].status.auth.as_mut().unwrap().auth_type = bfd_common::wire::AuthType::KeyedMd5;
    assert_eq!(
        reasons_of(scrape.clone()),
        ["missing", "type_mismatch", "unknown_key_id", "sequence", "digest_mismatch"]
    );
    // A reason counted though the type cannot (a reconfigured session's
    // past) is still exported, never dropped while it counts.
    scrape.sessions[0].status.counters.auth.password_mismatch = 1;
    assert!(reasons_of(scrape).contains(&"password_mismatch".to_owned()));
}

#[test]
fn authentication_failures_in_every_histogram_mode_and_with_metallb_names() {
    let expected = render(authenticated(), Format::OpenMetrics, Compat::None);
    let lines = |text: &str| -> Vec<String> {
        text.lines().filter(|line| line.starts_with("bfd_auth_")).map(str::to_owned).collect()
    };
    assert_eq!(lines(&expected).len(), 7);
    for histograms in [Histograms::PerSession, Histograms::Aggregate, Histograms::Off] {
        for compat in [Compat::None, Compat::MetalLb] {
            let text =
                Renderer::new(Options { compat, histograms }).render(authenticated(), Format::OpenMetrics);
            assert_eq!(lines(&text), lines(&expected), "{histograms:?} {compat:?}");
        }
    }
}
