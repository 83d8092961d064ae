//! The agent's metrics endpoint end to end (root; issue 15): the agent in
//! a namespace against FRR's bfdd, a real Prometheus (Debian's package) in
//! the agent's namespace scraping the agent's default endpoint
//! (127.0.0.1:9784) every second, and every check asked of Prometheus
//! through its HTTP API: the session Up, then Down after a cut, the state
//! change counted by `increase()`, the kernel's gap histogram adding up to
//! the packets the kernel received, the detection's overshoot observed.
//! Also the health endpoints, and a malformed request answered with an
//! HTTP error while the endpoint goes on serving; and `/readyz` following
//! FRR's data-plane channel as bfdd connects and goes away.
//!
//! Tools: FRR (bfdd), Prometheus, nft.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use bfd_lab::{
    agent::{Agent, AgentArgs},
    e2e::{AGENT_V4, Cut, Frr, Link, PEER_V4, fast_config, frr_config, frr_peer},
    lab::{require_root, wait_for},
    prometheus::{Prometheus, http_get, http_request},
};

/// The agent's default metrics address (in its own namespace).
const METRICS: (&str, u16) = ("127.0.0.1", 9784);
/// Prometheus' port, in the agent's namespace.
const PROMETHEUS_PORT: u16 = 9090;
/// Time for a change to reach the agent, a scrape (1 s) and a query.
const SCRAPED: Duration = Duration::from_secs(10);

#[bfd_lab::test]
fn prometheus_sees_the_session_its_state_changes_and_the_kernels_histograms() -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("mx")?;
    let frr = Frr::start(&link.b, &frr_config(&[frr_peer(AGENT_V4, PEER_V4, false, &[])]))?;
    let agent = Agent::start(&link.a, "A", &link.a_if, &fast_config(PEER_V4, AGENT_V4))?;
    let target = format!("{}:{}", METRICS.0, METRICS.1);
    let prometheus = Prometheus::start(&link.a, PROMETHEUS_PORT, &[&target])?;
    agent.wait_status(PEER_V4, "up", Duration::from_secs(5))?;
    frr.wait_status(AGENT_V4, "up", Duration::from_secs(5))?;

    // Up, with the session's labels.
    let session = format!("peer=\"{PEER_V4}\"");
    let up = wait_for("Prometheus: bfd_session_up 1", SCRAPED, || {
        let series = prometheus.query(&format!("bfd_session_up{{{session}}}"))?;
        Ok(series.into_iter().find(|(_, value)| *value == 1.0))
    })?;
    let labels = &up.0;
    for (key, expected) in [
        ("local", AGENT_V4),
        ("interface", link.a_if.as_str()),
        ("vrf", "default"),
        ("type", "single-hop"),
        ("profile", "fast"),
        ("job", "bfd"),
    ] {
        ensure!(labels[key] == expected, "{key}: {labels}");
    }
    ensure!(prometheus.value("up{job=\"bfd\"}")? == Some(1.0), "the scrape is not healthy");
    let timers = prometheus.query(&format!("bfd_session_detection_time_seconds{{{session}}}"))?;
    ensure!(timers.len() == 1 && (timers[0].1 - 0.15).abs() < 1e-9, "50 ms x 3: {timers:?}");

    // The kernel's gap histogram: one gap per valid packet the kernel saw
    // but the first, i.e. absorbed + passed - 1. (Asked as one expression,
    // so both sides come from one scrape; a scrape reads the map while the
    // kernel writes it, so an odd read may be one packet apart: the next
    // scrape settles it.)
    let gaps = format!("bfd_session_control_packet_gap_seconds_count{{{session}}}");
    let kernel_valid = format!(
        "bfd_session_control_packets_absorbed_total{{{session}}} + \
         bfd_session_control_packets_passed_total{{{session}}}"
    );
    wait_for("the gap histogram's count = the kernel's valid packets - 1", SCRAPED, || {
        let (count, valid) = (prometheus.value(&gaps)?, prometheus.value(&kernel_valid)?);
        Ok(match (count, valid) {
            (Some(count), Some(valid)) if count > 40.0 && count == valid - 1.0 => Some(()),
            _ => None,
        })
    })?;
    let buckets = prometheus.query(&format!("bfd_session_control_packet_gap_seconds_bucket{{{session}}}"))?;
    let mut cumulative: Vec<(f64, f64)> = buckets
        .iter()
        .map(|(labels, value)| {
            let le = labels["le"].as_str().unwrap_or_default();
            Ok((if le == "+Inf" { f64::INFINITY } else { le.parse()? }, *value))
        })
        .collect::<anyhow::Result<_>>()?;
    cumulative.sort_by(|a, b| a.0.total_cmp(&b.0));
    ensure!(cumulative.len() == 16, "16 buckets: {cumulative:?}");
    ensure!(cumulative.windows(2).all(|pair| pair[0].1 <= pair[1].1), "cumulative: {cumulative:?}");
    let count = prometheus.value(&gaps)?.context("the count")?;
    let infinite = cumulative.last().map(|bucket| bucket.1).unwrap_or_default();
    ensure!(
        (infinite - count).abs() <= 1.0,
        "the +Inf bucket ({infinite}) is the count ({count}), to within a packet between two reads"
    );
    eprintln!("gaps between FRR's packets (le seconds, cumulative): {cumulative:?}");

    // The names the alert rules and the dashboard use, in a scrape while
    // the session is Up.
    check_deploy_names(&link.a.run_in(|| http_get(METRICS, "/metrics"))?)?;

    // Cut FRR -> agent: Down, through Prometheus, and counted.
    let cut = Cut::outgoing_control(&link.b)?;
    agent.wait_status(PEER_V4, "down", Duration::from_secs(3))?;
    wait_for("Prometheus: bfd_session_up 0", SCRAPED, || {
        Ok((prometheus.value(&format!("bfd_session_up{{{session}}}"))? == Some(0.0)).then_some(()))
    })?;
    let increase = format!("sum(increase(bfd_session_state_changes_total{{{session},from=\"up\"}}[1m]))");
    let counted = wait_for("increase() counts the Up -> Down", SCRAPED, || {
        Ok(prometheus.value(&increase)?.filter(|increase| *increase >= 1.0))
    })?;
    eprintln!("{increase} = {counted}");
    let detected = prometheus.query(&format!(
        "bfd_session_state_changes_total{{{session},from=\"up\",to=\"down\",\
         diagnostic=\"control_detection_time_expired\"}}"
    ))?;
    ensure!(detected.len() == 1 && detected[0].1 == 1.0, "one detection: {detected:?}");
    // The kernel timed the detection: its overshoot is observed once.
    let overshoot = wait_for("the detection's overshoot observed", SCRAPED, || {
        let count =
            prometheus.value(&format!("bfd_session_detection_overshoot_seconds_count{{{session}}}"))?;
        let sum = prometheus.value(&format!("bfd_session_detection_overshoot_seconds_sum{{{session}}}"))?;
        Ok(count.filter(|count| *count == 1.0).and(sum))
    })?;
    eprintln!("detection overshoot measured in the kernel: {:.0} us", overshoot * 1e6);

    // Health, readiness, and a malformed request, asked in the agent's
    // namespace.
    let answers = link.a.run_in(|| {
        let healthz = http_get(METRICS, "/healthz")?;
        let readyz = http_get(METRICS, "/readyz")?;
        let mut stream = std::net::TcpStream::connect(METRICS)?;
        std::io::Write::write_all(&mut stream, b"GET /metrics HTTP/1.1\r\nBad header line\r\n\r\n")?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut malformed = String::new();
        let _ = std::io::Read::read_to_string(&mut stream, &mut malformed);
        let metrics = http_get(METRICS, "/metrics")?;
        Ok((healthz, readyz, malformed, metrics))
    })?;
    let (healthz, readyz, malformed, metrics) = answers;
    ensure!(healthz.starts_with("ok"), "/healthz: {healthz}");
    ensure!(readyz.starts_with("ready"), "/readyz: {readyz}");
    ensure!(malformed.starts_with("HTTP/1.1 400"), "a malformed request: {malformed:?}");
    ensure!(metrics.ends_with("# EOF\n"), "still serving after it");

    cut.lift()?;
    agent.wait_status(PEER_V4, "up", Duration::from_secs(6))?;
    wait_for("Prometheus: bfd_session_up 1 again", SCRAPED, || {
        Ok((prometheus.value(&format!("bfd_session_up{{{session}}}"))? == Some(1.0)).then_some(()))
    })?;
    let mut agent = agent;
    agent.stop()?;
    Ok(())
}

#[bfd_lab::test]
fn readiness_follows_the_data_plane_channel() -> anyhow::Result<()> {
    require_root()?;
    const PORT: u16 = 50713;
    let link = Link::new("mr")?;
    // The agent listens for bfdd (ipv4c:), with no configuration file.
    let args = AgentArgs {
        configs: Vec::new(),
        extra: vec!["--frr-dplane".into(), format!("ipv4c:127.0.0.1:{PORT}")],
        ..AgentArgs::new(&link.a_if, "")
    };
    let agent = Agent::start_with(&link.a, "A", args)?;
    let ask = |path: &'static str| link.a.run_in(move || http_request(METRICS, path));
    let (status, body) = wait_for("the endpoint up", SCRAPED, || Ok(ask("/readyz").ok()))?;
    ensure!(
        status.contains(" 503 ") && body.contains("FRR data-plane channel: not connected to bfdd"),
        "without bfdd: {status}\n{body}"
    );
    let (status, body) = ask("/healthz")?;
    ensure!(status.contains(" 200 "), "alive without bfdd: {status}\n{body}");

    // "bfdd" connects: ready.
    let bfdd = link.a.run_in(move || Ok(std::net::TcpStream::connect(("127.0.0.1", PORT))?))?;
    wait_for("/readyz 200 with bfdd connected", SCRAPED, || {
        Ok(ask("/readyz")?.0.contains(" 200 ").then_some(()))
    })?;
    let metrics = link.a.run_in(|| http_get(METRICS, "/metrics"))?;
    ensure!(metrics.contains("\nbfd_data_plane_connected 1.0\n"), "{metrics}");

    // And gone: not ready again.
    drop(bfdd);
    let (_, body) = wait_for("/readyz 503 once bfdd is gone", SCRAPED, || {
        Ok(Some(ask("/readyz")?).filter(|(status, _)| status.contains(" 503 ")))
    })?;
    ensure!(body.contains("not connected to bfdd"), "{body}");
    let mut agent = agent;
    agent.stop()?;
    Ok(())
}

/// Every `bfd_` name the alert rules and the Grafana dashboard query is in
/// the agent's real scrape (histograms by their `_bucket`/`_count`
/// samples), except the data-plane channel's gauge, present only with
/// `--frr-dplane`, and the echo round-trip histogram, present only for
/// sessions running echo (this one does not).
fn check_deploy_names(scrape: &str) -> anyhow::Result<()> {
    let repository = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("the repository")?;
    let exported: std::collections::BTreeSet<&str> = scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .collect();
    for file in ["deploy/prometheus/bfd-rules.yaml", "deploy/grafana/bfd-xdp.json"] {
        let text = std::fs::read_to_string(repository.join(file))?;
        for (index, _) in text.match_indices("bfd_") {
            let name: String =
                text[index..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            // Only with --frr-dplane, and only for sessions running echo.
            if name == "bfd_data_plane_connected" || name.starts_with("bfd_session_echo_round_trip_seconds") {
                continue;
            }
            ensure!(exported.contains(name.as_str()), "{file} uses {name}, which the agent does not export");
        }
    }
    Ok(())
}
