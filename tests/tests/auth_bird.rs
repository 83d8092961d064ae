//! The session core's authentication (RFC 5880 §6.7) against BIRD 2, for
//! every type: what BIRD computes and checks is what we compute and check.
//!
//! Not the agent: the agent's engine does not apply authentication yet, so
//! the test drives one `bfd_session::Session` itself, with one UDP socket
//! each way in the test's namespace (TTL 255, source port 49152, RFC 5881
//! §4), and BIRD in the peer's. Per type: both sides Up within 5 s and 3 s
//! more with no state change and no authentication failure on either side
//! (BIRD logs each); with a different key, never Up, our digest or password
//! failures counted, and BIRD logging its own. Root; about 40 s.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use bfd_common::wire::{AuthType, ControlPacket, State};
use bfd_session::{
    AuthConfig, AuthCounters, Key, Lifetime, Output, ReceivedControl, Secret, Session, SessionConfig,
    Sha1Construction, Time, WallTime,
};
use bfd_tests::bird::Bird;
use bfd_tests::e2e::{AGENT_V4, Link, PEER_V4, test_passed};
use bfd_tests::lab::{monotonic_ns, require_root};

const SECRET: &str = "bfd-xdp-secret";

/// BIRD's words for each type (its `authentication` option).
fn bird_words(auth_type: AuthType) -> &'static str {
    match auth_type {
        AuthType::SimplePassword => "simple",
        AuthType::KeyedMd5 => "keyed md5",
        AuthType::MeticulousKeyedMd5 => "meticulous keyed md5",
        AuthType::KeyedSha1 => "keyed sha1",
        AuthType::MeticulousKeyedSha1 => "meticulous keyed sha1",
    }
}

fn bird_config(auth_type: AuthType, secret: &str) -> String {
    format!(
        "router id {PEER_V4};\nprotocol device {{ }}\nprotocol bfd {{\n  debug {{ events }};\n  interface \"*\" {{\n    \
         min rx interval 50 ms;\n    min tx interval 50 ms;\n    multiplier 3;\n    authentication {};\n    \
         password \"{secret}\" {{ id 7; }};\n  }};\n  neighbor {AGENT_V4} local {PEER_V4};\n}}\n",
        bird_words(auth_type)
    )
}

/// What the driven session saw.
struct Outcome {
    up_after: Option<Duration>,
    changes_after_up: usize,
    state: State,
    auth: AuthCounters,
    received: u64,
}

/// Runs a session with `auth_type` and `secret` against BIRD for `up_limit`
/// (or until Up) and then `steady` more, from the agent's namespace.
fn drive(
    auth_type: AuthType,
    secret: &'static str,
    up_limit: Duration,
    steady: Duration,
) -> anyhow::Result<Outcome> {
    let config = SessionConfig {
        desired_min_tx: Duration::from_millis(50),
        required_min_rx: Duration::from_millis(50),
        detect_mult: 3,
        ..SessionConfig::default()
    };
    let key = Key { id: 7, secret: Secret::new(secret), send: Lifetime::ALWAYS, accept: Lifetime::ALWAYS };
    let auth = AuthConfig { auth_type, keys: vec![key], sha1: Sha1Construction::Rfc5880 };
    let now = || Time::from_nanos(monotonic_ns());
    let start = now();
    let mut session =
        Session::with_auth(0x5eed_0001, config, Some((auth, WallTime::from_unix_secs(0))), 42, start)?;

    let rx = UdpSocket::bind((AGENT_V4, bfd_common::CONTROL_PORT)).context("binding 3784")?;
    let tx = UdpSocket::bind((AGENT_V4, bfd_common::SOURCE_PORT_MIN)).context("binding 49152")?;
    tx.set_ttl(255)?;
    let peer: SocketAddr = format!("{PEER_V4}:{}", bfd_common::CONTROL_PORT).parse()?;

    let mut up_at = None;
    let mut changes_after_up = 0;
    let mut end = start + up_limit;
    let mut buffer = [0u8; 128];
    loop {
        // Act on everything the last input produced.
        for output in session.drain_outputs() {
            match output {
                Output::Transmit(repr) => {
                    let mut bytes = [0u8; 64];
                    let len = repr.buffer_len();
                    repr.emit(&mut ControlPacket::new_unchecked(&mut bytes[..len]));
                    tx.send_to(&bytes[..len], peer)?;
                }
                Output::StateChange(change) => {
                    eprintln!("{auth_type}: {} -> {} ({})", change.from, change.to, change.diagnostic);
                    if up_at.is_some() {
                        changes_after_up += 1;
                    }
                    if change.to == State::Up && up_at.is_none() {
                        up_at = Some(change.at);
                        end = change.at + steady;
                    }
                }
                _ => {}
            }
        }
        let current = now();
        if current >= end {
            break;
        }
        let deadline = session.next_deadline().unwrap_or(end).min(end);
        let wait = deadline.saturating_since(current).max(Duration::from_micros(100));
        rx.set_read_timeout(Some(wait))?;
        match rx.recv_from(&mut buffer) {
            Ok((len, _)) => {
                let now = now();
                match ReceivedControl::parse(&buffer[..len]) {
                    Ok(packet) => {
                        if let Err(discard) = session.on_packet(now, &packet) {
                            eprintln!("{auth_type}: discarded: {discard}");
                        }
                    }
                    Err(error) => eprintln!("{auth_type}: invalid packet: {error}"),
                }
            }
            Err(error)
                if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                session.on_timer(now());
            }
            Err(error) => return Err(error.into()),
        }
    }
    let status = session.status();
    Ok(Outcome {
        up_after: up_at.map(|at| at.saturating_since(start)),
        changes_after_up,
        state: status.state,
        auth: status.counters.auth,
        received: status.counters.control_rx,
    })
}

const TYPES: [AuthType; 5] = [
    AuthType::SimplePassword,
    AuthType::KeyedMd5,
    AuthType::MeticulousKeyedMd5,
    AuthType::KeyedSha1,
    AuthType::MeticulousKeyedSha1,
];

#[test]
fn every_type_comes_up_with_bird_and_stays_up() -> anyhow::Result<()> {
    require_root()?;
    for auth_type in TYPES {
        let link = Link::new("au")?;
        let bird = Bird::start(&link.b, &bird_config(auth_type, SECRET))?;
        let outcome = link
            .a
            .run_in(move || drive(auth_type, SECRET, Duration::from_secs(5), Duration::from_secs(3)))?;
        let up_after = outcome.up_after.with_context(|| format!("{auth_type}: never Up\n{}", bird.log()))?;
        eprintln!(
            "{auth_type}: Up after {up_after:?}, {} packets accepted, failures {:?}",
            outcome.received, outcome.auth
        );
        ensure!(outcome.state == State::Up && outcome.changes_after_up == 0, "{auth_type}: left Up");
        ensure!(outcome.auth.total() == 0, "{auth_type}: our failures {:?}", outcome.auth);
        ensure!(outcome.received >= 40, "{auth_type}: only {} packets in 3 s", outcome.received);
        let session = bird.session(AGENT_V4)?.context("BIRD lists the session")?;
        ensure!(session.state == "Up", "{auth_type}: BIRD says {}", session.line);
        let failures = bird.log_lines("Authentication failed");
        ensure!(failures.is_empty(), "{auth_type}: BIRD refused our packets: {failures:?}");
    }
    test_passed();
    Ok(())
}

#[test]
fn a_different_key_never_comes_up_and_both_sides_count_it() -> anyhow::Result<()> {
    require_root()?;
    for auth_type in [AuthType::SimplePassword, AuthType::MeticulousKeyedMd5, AuthType::KeyedSha1] {
        let link = Link::new("aw")?;
        let bird = Bird::start(&link.b, &bird_config(auth_type, "bird-other-key"))?;
        let outcome =
            link.a.run_in(move || drive(auth_type, SECRET, Duration::from_secs(4), Duration::ZERO))?;
        ensure!(
            outcome.up_after.is_none() && outcome.state != State::Up,
            "{auth_type}: came Up with a wrong key"
        );
        let ours = if auth_type == AuthType::SimplePassword {
            outcome.auth.password_mismatch
        } else {
            outcome.auth.digest_mismatch
        };
        ensure!(ours >= 3 && ours == outcome.auth.total(), "{auth_type}: our failures {:?}", outcome.auth);
        let failures = bird.log_lines("Authentication failed");
        ensure!(!failures.is_empty(), "{auth_type}: BIRD logged no failure:\n{}", bird.log());
        eprintln!("{auth_type}: {ours} refused here, {} by BIRD", failures.len());
    }
    test_passed();
    Ok(())
}
