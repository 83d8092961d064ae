//! `bfd-agent run` with RFC 5880 authentication against BIRD 2 (root): a
//! `BFDAuthentication` document attaches a key to the MetalLB profile, the
//! agent and BIRD come Up and stay Up with no authentication failure on
//! either side, and a cut of BIRD's packets is detected, for each of the
//! five types. Who times the session (issue 18): the kernel for simple
//! password and keyed MD5 / SHA1, absorbing BIRD's packets while they are
//! byte-identical to the last one the agent verified (the share absorbed is
//! printed); the agent for the meticulous types, whose packets all differ.
//! For meticulous keyed SHA1 and keyed MD5 also: with another key BIRD
//! never comes Up while the agent counts every packet it refused, and
//! replacing the secret file reloads it.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use bfd_lab::{
    agent::{Agent, AgentArgs},
    bird::Bird,
    e2e::{AGENT_V4, Cut, Link, PEER_V4, TempDir, bfd_profile, bgp_peer, documents},
    lab::{require_root, wait_for},
};

/// BIRD's words and ours for each type, and whether to run the rotation
/// and wrong-key checks too (for two types: they do not depend on it).
const TYPES: [(&str, &str, bool); 5] = [
    ("meticulous keyed sha1", "meticulous-keyed-sha1", true),
    ("keyed md5", "keyed-md5", true),
    ("simple", "simple-password", false),
    ("keyed sha1", "keyed-sha1", false),
    ("meticulous keyed md5", "meticulous-keyed-md5", false),
];

fn count(session: &serde_json::Value, key: &str) -> u64 {
    session[key].as_u64().unwrap_or(0)
}

fn bird_config(words: &str, secret: &str) -> String {
    format!(
        "router id {PEER_V4};\nprotocol device {{ }}\nprotocol bfd {{\n  debug {{ events }};\n  interface \"*\" {{\n    \
         min rx interval 50 ms;\n    min tx interval 50 ms;\n    multiplier 3;\n    authentication {words};\n    \
         password \"{secret}\" {{ id 7; }};\n  }};\n  neighbor {AGENT_V4} local {PEER_V4};\n}}\n"
    )
}

fn agent_config(ours: &str, secret_file: &std::path::Path) -> String {
    documents(&[
        bfd_profile("secure", "receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3"),
        bgp_peer("bird", PEER_V4, AGENT_V4, "secure", ""),
        format!(
            "apiVersion: bfd-xdp.io/v1alpha1\nkind: BFDAuthentication\nmetadata: {{name: keys, namespace: \
             metallb-system}}\nspec:\n  bfdProfiles: [secure]\n  type: {ours}\n  keys:\n    - id: 7\n      \
             secretFile: {}\n",
            secret_file.display()
        ),
    ])
}

fn auth_failures(session: &serde_json::Value) -> u64 {
    session.as_object().map_or(0, |object| {
        object
            .iter()
            .filter(|(key, _)| key.contains("authentication"))
            .filter_map(|(_, value)| value.as_u64())
            .sum()
    })
}

#[bfd_lab::test]
fn the_agent_authenticates_with_bird_detects_a_cut_and_refuses_another_key() -> anyhow::Result<()> {
    require_root()?;
    let mut shares = Vec::new();
    for (words, ours, full) in TYPES {
        let link = Link::new("au")?;
        let dir = TempDir::new("au")?;
        let secret = dir.join("key");
        std::fs::write(&secret, "correct-horse\n")?;
        let bird = Bird::start(&link.b, &bird_config(words, "correct-horse"))?;
        let args = AgentArgs::new(&link.a_if, agent_config(ours, &secret));
        let agent = Agent::start_with(&link.a, "A", args)?;
        let session = agent.wait_status(PEER_V4, "up", Duration::from_secs(5))?;
        // Meticulous: every packet differs, the agent times the session;
        // otherwise the kernel does.
        let meticulous = ours.starts_with("meticulous");
        ensure!(
            session["fast-path"] == !meticulous,
            "{ours}: the kernel times only the non-meticulous types: {session:#}"
        );
        bird.wait_state(AGENT_V4, "Up", Duration::from_secs(3))?;
        // Steady: no state change, no failure counted by the agent; the
        // share of BIRD's packets absorbed in the kernel.
        let changes = agent.state_changes().len();
        let before = agent.show_counters()?.first().cloned().context("no session in show counters")?;
        std::thread::sleep(Duration::from_secs(3));
        ensure!(agent.state_changes().len() == changes, "{ours}: a state change while steady");
        let counters = agent.show_counters()?;
        let ours_counters = counters.first().context("no session in show counters")?;
        let absorbed =
            count(ours_counters, "control-absorbed-in-kernel") - count(&before, "control-absorbed-in-kernel");
        let seen =
            count(ours_counters, "control-seen-in-userspace") - count(&before, "control-seen-in-userspace");
        let share = 100.0 * absorbed as f64 / (absorbed + seen).max(1) as f64;
        eprintln!(
            "{ours}: over 3 s Up, {absorbed} of BIRD's packets absorbed in the kernel, {seen} seen by the agent ({share:.1}%)"
        );
        shares.push(format!("{ours}: {share:.1}% ({absorbed} absorbed, {seen} seen)"));
        if meticulous {
            ensure!(absorbed == 0, "{ours}: a meticulous packet absorbed: {ours_counters:#}");
        }
        if ours == "simple-password" {
            // Every packet of BIRD's is the same bytes while steady.
            ensure!(absorbed > 10 * seen, "{ours}: {absorbed} absorbed, {seen} seen");
        }
        ensure!(auth_failures(ours_counters) == 0, "{ours}: authentication failures: {ours_counters:#}");
        ensure!(
            !bird.log().contains("authentication failed") && !bird.log().contains("Bad"),
            "{ours}: BIRD refused packets:\n{}",
            bird.log()
        );

        // BIRD's packets cut: the kernel's timer, or the agent's.
        let changes = agent.state_changes().len();
        let cut = Cut::outgoing_control(&link.b)?;
        wait_for(&format!("{ours}: the agent detects the cut"), Duration::from_secs(3), || {
            Ok(agent.state_changes().into_iter().skip(changes).find(|line| {
                line.field("to") == Some("Down")
                    && line.field("diagnostic") == Some("control detection time expired")
            }))
        })?;
        cut.lift()?;
        agent.wait_status(PEER_V4, "up", Duration::from_secs(6))?;
        if !full {
            let mut agent = agent;
            agent.stop()?;
            continue;
        }

        // The secret file replaced (as a Kubernetes Secret's update does):
        // the agent reloads and the session takes the new key (a changed
        // session, not a new one), which BIRD then refuses.
        let applied = agent.log_lines("configuration applied").len();
        let staged = dir.join("key.new");
        std::fs::write(&staged, "rotated-horse\n")?;
        std::fs::rename(&staged, &secret)?;
        let line = wait_for(
            &format!("{ours}: the agent reloads the rotated secret"),
            Duration::from_secs(3),
            || Ok(agent.log_lines("configuration applied").into_iter().nth(applied)),
        )?;
        ensure!(
            line.field("summary").is_some_and(|summary| summary.contains("1 changed")),
            "{ours}: the new key did not change the session: {line}"
        );
        // The new key is on the wire: BIRD refuses it and its session
        // expires (asked of BIRD itself).
        bird.wait_state(AGENT_V4, "Down", Duration::from_secs(3))?;
        ensure!(
            bird.log().contains("Authentication failed"),
            "{ours}: BIRD did not refuse the new key:\n{}",
            bird.log()
        );
        // And the agent, refusing BIRD's packets under the old key, keeps
        // sending and detects the silence (a discarded packet once made
        // the engine lose the session's timers: it went quiet instead).
        agent.wait_status(PEER_V4, "down", Duration::from_secs(3))?;
        let refused = auth_failures(agent.show_counters()?.first().context("no session in show counters")?);
        ensure!(refused >= 1, "{ours}: BIRD's packets under the old key were not refused");
        let mut agent = agent;
        agent.stop()?;
        drop(bird);

        // Another key: never Up, and the agent refuses BIRD's packets.
        let link = Link::new("av")?;
        let bird = Bird::start(&link.b, &bird_config(words, "wrong-horse"))?;
        let args = AgentArgs::new(&link.a_if, agent_config(ours, &secret));
        let mut agent = Agent::start_with(&link.a, "B", args)?;
        std::thread::sleep(Duration::from_secs(4));
        let session = agent.session(PEER_V4)?;
        ensure!(session["status"] != "up", "{ours}: Up with another key: {session:#}");
        let theirs = bird.session(AGENT_V4)?;
        ensure!(
            theirs.as_ref().is_none_or(|s| s.state != "Up"),
            "{ours}: BIRD Up with another key: {theirs:?}"
        );
        let counters = agent.show_counters()?;
        let refused = auth_failures(counters.first().context("no session in show counters")?);
        ensure!(refused >= 2, "{ours}: BIRD's packets with another key were not counted: {counters:#?}");
        eprintln!("{ours}: with another key, {refused} of BIRD's packets refused");
        agent.stop()?;
    }
    eprintln!("share of BIRD's control packets absorbed in the kernel, by type:\n  {}", shares.join("\n  "));
    Ok(())
}

/// The agent's metrics endpoint (its default, in its namespace).
const METRICS: (&str, u16) = ("127.0.0.1", 9784);

/// `bfd_auth_failures_total{peer=PEER_V4,reason}` in a scrape of the agent.
fn scraped_failures(agent_netns: &bfd_lab::lab::NetNs, reason: &str) -> anyhow::Result<u64> {
    let scrape = agent_netns.run_in(|| bfd_lab::prometheus::http_get(METRICS, "/metrics"))?;
    let wanted = format!("reason=\"{reason}\"");
    let lines: Vec<&str> = scrape
        .lines()
        .filter(|line| line.starts_with("bfd_auth_failures_total{"))
        .filter(|line| line.contains(&format!("peer=\"{PEER_V4}\"")) && line.contains(&wanted))
        .collect();
    ensure!(lines.len() == 1, "one series for {reason}: {lines:?}");
    Ok(lines[0].rsplit(' ').next().context("a value")?.parse()?)
}

#[bfd_lab::test]
fn another_keys_packets_are_counted_by_reason_in_the_metrics() -> anyhow::Result<()> {
    require_root()?;
    let link = Link::new("am")?;
    let dir = TempDir::new("am")?;
    let secret = dir.join("key");
    std::fs::write(&secret, "correct-horse\n")?;
    // BIRD's key 7 is another secret: its digests never verify.
    let bird = Bird::start(&link.b, &bird_config("meticulous keyed sha1", "wrong-horse"))?;
    let args = AgentArgs::new(&link.a_if, agent_config("meticulous-keyed-sha1", &secret));
    let mut agent = Agent::start_with(&link.a, "A", args)?;
    let first = wait_for("the agent refuses BIRD's packets", Duration::from_secs(5), || {
        Ok(Some(scraped_failures(&link.a, "digest_mismatch")?).filter(|count| *count >= 1))
    })?;
    // BIRD sends once a second while Down: the counter moves on.
    let later = wait_for("the counter moves", Duration::from_secs(4), || {
        Ok(Some(scraped_failures(&link.a, "digest_mismatch")?).filter(|count| *count > first))
    })?;
    // The same count as `show peers counters` (FRR's key), and no other
    // reason counted.
    let counters = agent.show_counters()?;
    let shown = count(
        counters.first().context("no session in show counters")?,
        "rx-pkt-authentication-keyed-sha1-mismatch",
    );
    let now = scraped_failures(&link.a, "digest_mismatch")?;
    ensure!(shown >= later && now >= shown, "scraped {later}, shown {shown}, scraped {now}");
    for reason in ["missing", "type_mismatch", "unknown_key_id", "meticulous_sequence"] {
        ensure!(scraped_failures(&link.a, reason)? == 0, "{reason} counted");
    }
    ensure!(agent.session(PEER_V4)?["status"] != "up", "Up with another key");
    eprintln!("bfd_auth_failures_total{{reason=\"digest_mismatch\"}}: {first}, then {later}, {now}");
    agent.stop()?;
    drop(bird);
    Ok(())
}

/// The Sequence Number of a BFD control frame's authentication section
/// (keyed types: RFC 5880 §4.3, §4.4), if it is one from BIRD's address.
fn bfd_sequence(frame: &[u8]) -> Option<u32> {
    // Ethernet, IPv4 (no options from BIRD), UDP to 3784.
    if frame.len() < 14 + 20 + 8 + 24 + 8 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    let source: std::net::Ipv4Addr = <[u8; 4]>::try_from(&ip[12..16]).ok()?.into();
    if ip[9] != 17 || source.to_string() != PEER_V4 {
        return None;
    }
    let udp = ip.get(header_len..)?;
    if udp.get(2..4)? != 3784u16.to_be_bytes() {
        return None;
    }
    let bfd = udp.get(8..)?;
    // The A bit, and a keyed section (types 2 to 5).
    if bfd[1] & 0x04 == 0 || !(2..=5).contains(&bfd[24]) {
        return None;
    }
    Some(u32::from_be_bytes(bfd.get(28..32)?.try_into().ok()?))
}

/// What RFC 5880 says of a replayed packet, checked end to end against
/// BIRD 2.0: one of BIRD's packets captured on the agent's side, then sent
/// again, byte for byte, from BIRD's namespace (its MAC and IP addresses,
/// TTL 255, through a raw socket, so that the nftables cut of BIRD's own
/// packets below lets the replays through).
///
/// - Meticulous keyed SHA1 (§6.7.4): "if the sequence number lies outside
///   of the range of bfd.RcvAuthSeq+1 to bfd.RcvAuthSeq+(3*Detect Mult)
///   inclusive ..., the received packet MUST be discarded": every replay,
///   even of the latest packet, is refused (`meticulous_sequence`).
/// - Keyed SHA1 and keyed MD5 (§6.7.3, §6.7.4): the range is bfd.RcvAuthSeq
///   to bfd.RcvAuthSeq+(3*Detect Mult), so a copy of the last packet is
///   *accepted* (the RFC's own allowance; the kernel absorbs it as the
///   template it is), and a packet from before BIRD last moved its
///   sequence number is behind the window and refused (`sequence`). That
///   is what is replayed here.
///
/// Both are checked: a copy of BIRD's latest packet, sent the moment the
/// agent's side sees it, refused only by the meticulous type; the older
/// packet refused by every type. Each refused replay is counted in
/// `show peers counters` and in /metrics, moves no state, and does not
/// feed the detection timer: with
/// BIRD's own packets cut and a replay every 10 ms, the agent still
/// detects the cut.
#[bfd_lab::test]
fn replayed_packets_are_counted_and_never_hold_a_session_up() -> anyhow::Result<()> {
    require_root()?;
    use bfd_lab::bird::BirdRelease;
    for (release, words, config_type, json, reason) in [
        (
            BirdRelease::V2_0,
            "meticulous keyed sha1",
            "meticulous-keyed-sha1",
            "rx-pkt-authentication-keyed-sha1-sequence-meticulous-error",
            "meticulous_sequence",
        ),
        (
            BirdRelease::V2_0,
            "keyed sha1",
            "keyed-sha1",
            "rx-pkt-authentication-keyed-sha1-sequence-error",
            "sequence",
        ),
        (
            BirdRelease::V2_0,
            "keyed md5",
            "keyed-md5",
            "rx-pkt-authentication-keyed-md5-sequence-error",
            "sequence",
        ),
        // A newer BIRD's keyed SHA1: the kernel-absorbed case once more,
        // with another implementation's sequence numbers.
        (
            BirdRelease::V3,
            "keyed sha1",
            "keyed-sha1",
            "rx-pkt-authentication-keyed-sha1-sequence-error",
            "sequence",
        ),
    ] {
        let ours = format!("{config_type} ({release})");
        let meticulous = config_type.starts_with("meticulous");
        let link = Link::new("ar")?;
        let dir = TempDir::new("ar")?;
        let secret = dir.join("key");
        std::fs::write(&secret, "correct-horse\n")?;
        let bird = Bird::start_release(&link.b, release, &bird_config(words, "correct-horse"))?;
        let args = AgentArgs::new(&link.a_if, agent_config(config_type, &secret));
        let agent = Agent::start_with(&link.a, "A", args)?;
        agent.wait_status(PEER_V4, "up", Duration::from_secs(5))?;
        bird.wait_state(AGENT_V4, "Up", Duration::from_secs(3))?;

        // Capture one of BIRD's Up packets as the agent's stack sees it
        // (the meticulous ones all come up; of the keyed ones, the kernel
        // passes each new sequence number once), then wait until BIRD has
        // sent a later sequence number.
        let interface = link.a_if.clone();
        let (captured, captured_seq, later_seq) = link.a.run_in(move || {
            let socket = bfd_lab::frame::PacketSocket::open(&interface)?;
            let captured = socket
                .receive(Duration::from_secs(3), |frame| bfd_sequence(frame).is_some())?
                .context("no authenticated packet of BIRD's seen")?;
            let captured_seq = bfd_sequence(&captured).context("a sequence number")?;
            let later = socket
                .receive(Duration::from_secs(4), |frame| {
                    bfd_sequence(frame)
                        .is_some_and(|seq| seq.wrapping_sub(captured_seq).wrapping_sub(1) < 1000)
                })?
                .context("BIRD never moved its sequence number on")?;
            Ok((captured, captured_seq, bfd_sequence(&later).context("a sequence number")?))
        })?;
        eprintln!("{ours}: captured BIRD's sequence number {captured_seq}; BIRD has sent {later_seq} since");
        let captured = with_udp_checksum(captured)?;

        // Replays while BIRD talks: each one refused and counted, no state
        // change.
        let counted = |agent: &Agent| -> anyhow::Result<u64> {
            Ok(count(agent.show_counters()?.first().context("no session in show counters")?, json))
        };
        let before = counted(&agent)?;
        let scraped_before = scraped_failures(&link.a, reason)?;
        let changes = agent.state_changes().len();
        const REPLAYS: u64 = 5;
        let (interface, frame) = (link.b_if.clone(), captured.clone());
        link.b.run_in(move || {
            let sender = bfd_lab::frame::RawSender::open(&interface)?;
            for _ in 0..REPLAYS {
                sender.send(&frame)?;
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(())
        })?;
        let after = wait_for(&format!("{ours}: {REPLAYS} replays counted"), Duration::from_secs(3), || {
            Ok(Some(counted(&agent)?).filter(|after| after - before >= REPLAYS))
        })
        .with_context(|| {
            let scrape =
                link.a.run_in(|| bfd_lab::prometheus::http_get(METRICS, "/metrics")).unwrap_or_default();
            let kernel: Vec<&str> = scrape
                .lines()
                .filter(|line| line.starts_with("bfd_xdp_") || line.contains("_dropped_total"))
                .filter(|line| !line.ends_with(" 0"))
                .collect();
            format!("show peers counters: {:#?}\nthe XDP program: {kernel:#?}", agent.show_counters())
        })?;
        ensure!(after - before == REPLAYS, "{ours}: {} counted for {REPLAYS} replays", after - before);
        let scraped = scraped_failures(&link.a, reason)?;
        ensure!(
            scraped - scraped_before == REPLAYS,
            "{ours}: /metrics {reason} went {scraped_before} -> {scraped}"
        );
        ensure!(agent.state_changes().len() == changes, "{ours}: a state change on replays");
        ensure!(agent.session(PEER_V4)?["status"] == "up", "{ours}: not Up after the replays");
        ensure!(auth_failures_other_than(&agent, json)? == 0, "{ours}: another failure counted");

        // A copy of the latest packet, sent the moment it is seen (BIRD's
        // next one is tens of ms away; the agent's socket takes the two in
        // order): meticulous refuses it (a sequence number equal to
        // bfd.RcvAuthSeq), keyed accepts it (the window starts at
        // bfd.RcvAuthSeq), absorbed in the kernel or verified by the agent.
        let before = counted(&agent)?;
        let (capture_if, send_if) = (link.a_if.clone(), link.b_if.clone());
        let peer_netns = std::fs::File::open(link.b.path())?;
        let latest = link.a.run_in(move || {
            let socket = bfd_lab::frame::PacketSocket::open(&capture_if)?;
            nix::sched::setns(&peer_netns, nix::sched::CloneFlags::CLONE_NEWNET)?;
            let sender = bfd_lab::frame::RawSender::open(&send_if)?;
            let frame = socket
                .receive(Duration::from_secs(4), |frame| bfd_sequence(frame).is_some())?
                .context("no authenticated packet of BIRD's seen")?;
            sender.send(&with_udp_checksum(frame.clone())?)?;
            bfd_sequence(&frame).context("a sequence number")
        })?;
        std::thread::sleep(Duration::from_millis(300));
        let refused = counted(&agent)? - before;
        eprintln!("{ours}: a copy of BIRD's latest packet ({latest}) replayed at once: {refused} refused");
        ensure!(refused == u64::from(meticulous), "{ours}: {refused} refused of the latest packet's copy");
        ensure!(agent.state_changes().len() == changes, "{ours}: a state change on the latest's copy");
        let after = counted(&agent)?;

        // BIRD's own packets cut, its captured packet replayed every 10
        // ms: the agent detects the cut all the same.
        let changes = agent.state_changes().len();
        let cut = Cut::outgoing_control(&link.b)?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (interface, frame, flag) = (link.b_if.clone(), captured.clone(), stop.clone());
        let file = std::fs::File::open(link.b.path())?;
        let replayer = std::thread::spawn(move || -> anyhow::Result<u64> {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)?;
            let sender = bfd_lab::frame::RawSender::open(&interface)?;
            let mut sent = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                sender.send(&frame)?;
                sent += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(sent)
        });
        let detected =
            wait_for(&format!("{ours}: the cut detected under replays"), Duration::from_secs(3), || {
                Ok(agent.state_changes().into_iter().skip(changes).find(|line| {
                    line.field("to") == Some("Down")
                        && line.field("diagnostic") == Some("control detection time expired")
                }))
            });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let sent = replayer.join().map_err(|_| anyhow::anyhow!("the replayer panicked"))??;
        detected?;
        let refused = counted(&agent)? - after;
        eprintln!("{ours}: cut detected while {sent} replays were sent; {refused} refused as {reason}");
        ensure!(refused >= 1, "{ours}: no replay refused under the cut");
        ensure!(!meticulous || agent.session(PEER_V4)?["status"] != "up", "{ours}: Up under replays");
        cut.lift()?;
        let mut agent = agent;
        agent.stop()?;
        drop(bird);
    }
    Ok(())
}

/// Authentication failures other than `json`'s in `show peers counters`
/// (less FRR's total).
fn auth_failures_other_than(agent: &Agent, json: &str) -> anyhow::Result<u64> {
    let counters = agent.show_counters()?;
    let session = counters.first().context("no session in show counters")?;
    Ok(session.as_object().map_or(0, |object| {
        object
            .iter()
            .filter(|(key, _)| key.contains("authentication"))
            .filter(|(key, _)| *key != json && *key != "rx-pkt-authentication-failure")
            .filter_map(|(_, value)| value.as_u64())
            .sum()
    }))
}

/// `frame` (IPv4, UDP) with its UDP checksum computed. A frame captured on
/// a veth carries what checksum offload left there (the pseudo-header's
/// sum only: the sender's kernel never completed it), which the receiving
/// stack would take as corrupt; the BFD packet itself stays byte for byte
/// what BIRD sent.
fn with_udp_checksum(mut frame: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let header_len = usize::from(frame[14] & 0x0f) * 4;
    let udp_start = 14 + header_len;
    let udp_len = usize::from(u16::from_be_bytes([frame[udp_start + 4], frame[udp_start + 5]]));
    ensure!(frame.len() >= udp_start + udp_len, "a truncated frame");
    frame[udp_start + 6..udp_start + 8].copy_from_slice(&[0, 0]);
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&frame[14 + 12..14 + 20]);
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&(udp_len as u16).to_be_bytes());
    let checksum = bfd_lab::frame::internet_checksum(&[&pseudo, &frame[udp_start..udp_start + udp_len]]);
    let checksum = if checksum == 0 { 0xffff } else { checksum };
    frame[udp_start + 6..udp_start + 8].copy_from_slice(&checksum.to_be_bytes());
    Ok(frame)
}
