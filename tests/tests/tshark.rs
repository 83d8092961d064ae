//! Cross-checks bfd-common's control packet encoding against an independent
//! implementation: Wireshark's BFD dissector, through `tshark`.
//!
//! A few hundred deterministic pseudo-random `ControlRepr`s (every state,
//! every diagnostic and some reserved ones, every flag, every auth type,
//! every multiplier, discriminators and intervals across their range) are
//! emitted with bfd-common, wrapped in Ethernet/IPv4/UDP to port 3784 and
//! written to one pcap file. tshark decodes the file once, and every field it
//! reads must be the one we meant to write. A round trip through our own
//! parser cannot catch a field written at the wrong offset or bit if the
//! parser shares the mistake; tshark can.

use std::collections::BTreeSet;
use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use bfd_common::wire::{AuthRepr, AuthType, ControlPacket, ControlRepr, Diagnostic, Password, State};
use bfd_lab::frame::{UdpFrame, internet_checksum};
use serde_json::Value;

/// Two per Detect Mult value 1..=255.
const PACKETS: usize = 510;

/// The diagnostics we generate: all defined ones (0..=8) and a few of the
/// reserved 9..=31, including the largest that fits the 5-bit field.
const DIAGNOSTICS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 31];

const STATES: [State; 4] = [State::AdminDown, State::Down, State::Init, State::Up];

/// xorshift64 (Marsaglia): deterministic, so a failure reproduces, and
/// needs no dependency.
struct XorShift(u64);

impl XorShift {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn next_u32(&mut self) -> u32 {
        // The high half: xorshift's low bits are its weakest.
        (self.next_u64() >> 32) as u32
    }

    /// Uniform enough in 0..n for small n.
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn bool(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn fill(&mut self, bytes: &mut [u8]) {
        for byte in bytes {
            *byte = (self.next_u64() >> 56) as u8;
        }
    }

    /// A u32 that is an edge value a quarter of the time, so that the
    /// extremes (and the values around 1 s that BFD really uses) are
    /// certainly covered, and anything else otherwise.
    fn interval(&mut self) -> u32 {
        if self.below(4) == 0 {
            self.pick(&[0, 1, 1_000, 300_000, 1_000_000, 0x8000_0000, u32::MAX])
        } else {
            self.next_u32()
        }
    }

    /// A non-zero u32 (My Discriminator, and Your Discriminator outside
    /// Down/AdminDown, must not be 0: RFC 5880 §6.8.6).
    fn discriminator(&mut self) -> u32 {
        if self.below(8) == 0 { self.pick(&[1, 0x8000_0000, u32::MAX]) } else { self.next_u32().max(1) }
    }
}

/// Packet `index` of the test set.
fn generate(index: usize, rng: &mut XorShift) -> ControlRepr {
    let state = rng.pick(&STATES);
    // Your Discriminator is 0 until the peer is heard from, which only a
    // Down or AdminDown packet may say (§6.8.6).
    let may_be_zero = matches!(state, State::Down | State::AdminDown);
    let your_discriminator = if may_be_zero && rng.below(3) == 0 { 0 } else { rng.discriminator() };
    let auth = match rng.below(6) {
        0 => None,
        1 => {
            // Printable ASCII, since tshark reads the password as a string.
            let mut password = [0u8; 16];
            let len = 1 + rng.below(16);
            for byte in &mut password[..len] {
                *byte = b'!' + rng.below(usize::from(b'~' - b'!') + 1) as u8;
            }
            Some(AuthRepr::SimplePassword {
                key_id: rng.next_u32() as u8,
                password: Password::new(&password[..len]).expect("1 to 16 bytes"),
            })
        }
        2 | 3 => {
            let mut digest = [0u8; 16];
            rng.fill(&mut digest);
            Some(AuthRepr::KeyedMd5 {
                meticulous: rng.bool(),
                key_id: rng.next_u32() as u8,
                sequence: rng.next_u32(),
                digest,
            })
        }
        _ => {
            let mut hash = [0u8; 20];
            rng.fill(&mut hash);
            Some(AuthRepr::KeyedSha1 {
                meticulous: rng.bool(),
                key_id: rng.next_u32() as u8,
                sequence: rng.next_u32(),
                hash,
            })
        }
    };
    ControlRepr {
        diagnostic: Diagnostic::from(rng.pick(&DIAGNOSTICS)),
        state,
        poll: rng.bool(),
        final_: rng.bool(),
        control_plane_independent: rng.bool(),
        demand: rng.bool(),
        // Every value 1..=255, twice over the set.
        detect_mult: (index % 255 + 1) as u8,
        my_discriminator: rng.discriminator(),
        your_discriminator,
        desired_min_tx: rng.interval(),
        required_min_rx: rng.interval(),
        required_min_echo_rx: rng.interval(),
        auth,
    }
}

/// The test set, checked to cover what the module comment promises: a
/// change to the generator cannot quietly drop a case.
fn test_set() -> Vec<ControlRepr> {
    let mut rng = XorShift(0x5eed_b0fd_2024_0001);
    let reprs: Vec<ControlRepr> = (0..PACKETS).map(|i| generate(i, &mut rng)).collect();

    let states: BTreeSet<u8> = reprs.iter().map(|r| u8::from(r.state)).collect();
    assert_eq!(states.len(), 4, "states covered: {states:?}");
    let diags: BTreeSet<u8> = reprs.iter().map(|r| u8::from(r.diagnostic)).collect();
    assert_eq!(diags, DIAGNOSTICS.into_iter().collect(), "diagnostics covered");
    let flags: BTreeSet<[bool; 4]> =
        reprs.iter().map(|r| [r.poll, r.final_, r.control_plane_independent, r.demand]).collect();
    assert_eq!(flags.len(), 16, "P/F/C/D combinations covered: {flags:?}");
    let auths: BTreeSet<Option<u8>> = reprs.iter().map(|r| r.auth.map(|a| a.auth_type() as u8)).collect();
    assert_eq!(auths.len(), 6, "no auth and auth types 1..=5: {auths:?}");
    let mults: BTreeSet<u8> = reprs.iter().map(|r| r.detect_mult).collect();
    assert_eq!(mults.len(), 255, "every Detect Mult 1..=255");
    assert!(reprs.iter().any(|r| r.your_discriminator == 0), "some Your Discriminator 0");
    for interval in [0, u32::MAX] {
        assert!(reprs.iter().any(|r| r.desired_min_tx == interval), "Desired Min TX {interval}");
    }
    reprs
}

fn emit(repr: &ControlRepr) -> Vec<u8> {
    let mut payload = vec![0; repr.buffer_len()];
    repr.emit(&mut ControlPacket::new_unchecked(&mut payload[..]));
    payload
}

/// An Ethernet frame carrying `payload` in IPv4/UDP the way RFC 5881 sends
/// single-hop control packets: destination port 3784, a source port from
/// 49152, TTL 255, and a correct IPv4 header checksum (UDP checksum 0,
/// "none", legal over IPv4).
fn frame(index: usize, payload: &[u8]) -> Vec<u8> {
    UdpFrame {
        dst_mac: [0x02, 0, 0, 0, 0, 0x02],
        src_mac: [0x02, 0, 0, 0, 0, 0x01],
        vlans: &[],
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        ttl: bfd_common::TTL,
        // Spread over the RFC 5881 source port range.
        src_port: bfd_common::SOURCE_PORT_MIN + (index % 16384) as u16,
        dst_port: bfd_common::CONTROL_PORT,
        payload,
    }
    .to_bytes()
}

/// A classic pcap file (not pcapng): the 24-byte global header, then a
/// 16-byte record header before each frame. Little-endian, microsecond
/// timestamps, link type 1 (Ethernet).
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut file = Vec::new();
    file.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes()); // magic
    file.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
    file.extend_from_slice(&4u16.to_le_bytes());
    file.extend_from_slice(&0i32.to_le_bytes()); // timezone offset
    file.extend_from_slice(&0u32.to_le_bytes()); // timestamp accuracy
    file.extend_from_slice(&65535u32.to_le_bytes()); // snap length
    file.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (index, frame) in frames.iter().enumerate() {
        let len = u32::try_from(frame.len()).expect("small frame");
        // One frame per millisecond from the epoch: any order-preserving
        // timestamps do.
        file.extend_from_slice(&((index / 1000) as u32).to_le_bytes());
        file.extend_from_slice(&((index % 1000 * 1000) as u32).to_le_bytes());
        file.extend_from_slice(&len.to_le_bytes()); // captured length
        file.extend_from_slice(&len.to_le_bytes()); // original length
        file.extend_from_slice(frame);
    }
    file
}

/// The tshark fields we compare, all present on every packet (the auth ones
/// are handled separately).
const FIELDS: [&str; 16] = [
    "bfd.version",
    "bfd.diag",
    "bfd.sta",
    "bfd.flags.p",
    "bfd.flags.f",
    "bfd.flags.c",
    "bfd.flags.a",
    "bfd.flags.d",
    "bfd.flags.m",
    "bfd.detect_time_multiplier",
    "bfd.message_length",
    "bfd.my_discriminator",
    "bfd.your_discriminator",
    "bfd.desired_min_tx_interval",
    "bfd.required_min_rx_interval",
    "bfd.required_min_echo_interval",
];

/// Fields of the authentication section, present only with the A bit.
const AUTH_FIELDS: [&str; 6] = [
    "bfd.auth.type",
    "bfd.auth.len",
    "bfd.auth.key",
    "bfd.auth.password",
    "bfd.auth.seq_num",
    "bfd.checksum",
];

/// What tshark must read for `repr`: (field, value) in tshark's
/// normalized form (see `normalize`). Absent fields must be absent.
fn expected_fields(repr: &ControlRepr) -> Vec<(&'static str, String)> {
    let flag = |b: bool| u8::from(b).to_string();
    let mut fields = vec![
        ("bfd.version", "1".to_owned()),
        ("bfd.diag", u8::from(repr.diagnostic).to_string()),
        ("bfd.sta", u8::from(repr.state).to_string()),
        ("bfd.flags.p", flag(repr.poll)),
        ("bfd.flags.f", flag(repr.final_)),
        ("bfd.flags.c", flag(repr.control_plane_independent)),
        ("bfd.flags.a", flag(repr.auth.is_some())),
        ("bfd.flags.d", flag(repr.demand)),
        ("bfd.flags.m", flag(false)),
        ("bfd.detect_time_multiplier", repr.detect_mult.to_string()),
        ("bfd.message_length", repr.buffer_len().to_string()),
        ("bfd.my_discriminator", repr.my_discriminator.to_string()),
        ("bfd.your_discriminator", repr.your_discriminator.to_string()),
        ("bfd.desired_min_tx_interval", repr.desired_min_tx.to_string()),
        ("bfd.required_min_rx_interval", repr.required_min_rx.to_string()),
        ("bfd.required_min_echo_interval", repr.required_min_echo_rx.to_string()),
    ];
    if let Some(auth) = &repr.auth {
        fields.push(("bfd.auth.type", (auth.auth_type() as u8).to_string()));
        fields.push(("bfd.auth.len", auth.buffer_len().to_string()));
        fields.push(("bfd.auth.key", auth.key_id().to_string()));
        match auth {
            AuthRepr::SimplePassword { password, .. } => {
                let text = std::str::from_utf8(password.as_bytes()).expect("ASCII password");
                fields.push(("bfd.auth.password", text.to_owned()));
            }
            AuthRepr::KeyedMd5 { sequence, digest, .. } => {
                fields.push(("bfd.auth.seq_num", sequence.to_string()));
                fields.push(("bfd.checksum", hex(digest)));
            }
            AuthRepr::KeyedSha1 { sequence, hash, .. } => {
                fields.push(("bfd.auth.seq_num", sequence.to_string()));
                fields.push(("bfd.checksum", hex(hash)));
            }
        }
    }
    fields
}

/// tshark prints numbers in their display base ("0x0000002a" for hex
/// fields, "42" for decimal ones), booleans as "1"/"0" (or "True"/"False"
/// in other versions) and bytes as "de:ad:be:ef" or "deadbeef": bring all
/// to decimal / 0-1 / plain lowercase hex. Strings are kept as they are.
fn normalize(field: &str, value: &str) -> String {
    match field {
        "bfd.auth.password" => value.to_owned(),
        "bfd.checksum" => value.replace(':', "").to_ascii_lowercase(),
        _ => match value {
            "True" | "true" => "1".to_owned(),
            "False" | "false" => "0".to_owned(),
            _ => match value.strip_prefix("0x") {
                Some(digits) => {
                    u64::from_str_radix(digits, 16).map_or_else(|_| value.to_owned(), |v| v.to_string())
                }
                None => value.to_owned(),
            },
        },
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A scratch directory, removed on drop unless `keep` is set (when a
/// mismatch report points at the pcap in it).
struct ScratchDir {
    path: PathBuf,
    keep: bool,
}

impl ScratchDir {
    fn new() -> ScratchDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos();
        let path = std::env::temp_dir().join(format!("bfd-tshark-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&path).expect("create scratch directory");
        ScratchDir { path, keep: false }
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if !self.keep {
            // Best effort: a leftover in the temp dir is harmless.
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Runs tshark with `args` on `pcap`, isolated from the user's Wireshark
/// preferences (which could, say, move BFD to another port).
fn tshark(scratch: &Path, pcap: &Path, args: &[&str]) -> String {
    let output = Command::new("tshark")
        .env("WIRESHARK_CONFIG_DIR", scratch)
        .arg("-r")
        .arg(pcap)
        .args(args)
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "cannot run tshark ({err}); it is needed by this test: \
                 `cargo xtask setup` installs it"
            )
        });
    assert!(
        output.status.success(),
        "tshark {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("tshark prints UTF-8")
}

/// Each frame's fields as tshark reads them: frame number -> field -> values.
type Dissection = std::collections::BTreeMap<usize, std::collections::BTreeMap<String, Vec<String>>>;

fn parse_tshark_json(json: &str) -> Dissection {
    let frames: Value = serde_json::from_str(json).expect("tshark -T json output is JSON");
    let mut dissection = Dissection::new();
    for frame in frames.as_array().expect("a JSON array of frames") {
        let layers = frame["_source"]["layers"].as_object().expect("_source.layers in each frame");
        let number: usize =
            layers["frame.number"][0].as_str().and_then(|n| n.parse().ok()).expect("frame.number");
        let fields = layers
            .iter()
            .filter(|(name, _)| name.as_str() != "frame.number")
            .map(|(name, values)| {
                let values = values
                    .as_array()
                    .expect("an array of values per field")
                    .iter()
                    .map(|v| v.as_str().expect("string values").to_owned())
                    .collect();
                (name.clone(), values)
            })
            .collect();
        assert!(dissection.insert(number, fields).is_none(), "frame {number} twice in tshark's output");
    }
    dissection
}

#[bfd_lab::test]
fn tshark_reads_what_we_emit() {
    let reprs = test_set();
    let payloads: Vec<Vec<u8>> = reprs.iter().map(emit).collect();
    let frames: Vec<Vec<u8>> =
        payloads.iter().enumerate().map(|(index, payload)| frame(index, payload)).collect();

    let mut scratch = ScratchDir::new();
    let pcap_path = scratch.path.join("bfd-control.pcap");
    fs::write(&pcap_path, pcap(&frames)).expect("write pcap");

    // Validate our IPv4 header checksums too (tshark skips it by default):
    // a broken one would make a kernel drop the packet before BFD sees it.
    let mut args =
        vec!["-o", "ip.check_checksum:TRUE", "-T", "json", "-e", "frame.number", "-e", "ip.checksum.status"];
    for field in FIELDS.iter().chain(&AUTH_FIELDS) {
        args.extend(["-e", field]);
    }
    let started = std::time::Instant::now();
    let dissection = parse_tshark_json(&tshark(&scratch.path, &pcap_path, &args));
    eprintln!("tshark decoded {} frames in {:?}", dissection.len(), started.elapsed());

    // Every frame read back, each one BFD: a truncated or malformed pcap, or
    // a dissector that did not run, cannot pass.
    let bfd_frames = dissection.values().filter(|fields| fields.contains_key("bfd.version")).count();
    assert_eq!(
        bfd_frames,
        reprs.len(),
        "tshark saw {bfd_frames} BFD packets in {} written ({})",
        reprs.len(),
        pcap_path.display()
    );
    assert_eq!(
        dissection.keys().copied().collect::<Vec<_>>(),
        (1..=reprs.len()).collect::<Vec<_>>(),
        "frame numbers"
    );
    for (number, fields) in &dissection {
        // PROTO_CHECKSUM_E_GOOD is 1.
        assert_eq!(
            fields.get("ip.checksum.status"),
            Some(&vec!["1".to_owned()]),
            "frame {number}: IPv4 header checksum not good"
        );
    }

    let mut failures = Vec::new();
    for (index, (repr, payload)) in reprs.iter().zip(&payloads).enumerate() {
        let number = index + 1;
        let actual = &dissection[&number];
        let expected = expected_fields(repr);
        let mut problems = Vec::new();
        for (field, want) in &expected {
            let got: Vec<String> = actual
                .get(*field)
                .map(|values| values.iter().map(|v| normalize(field, v)).collect())
                .unwrap_or_default();
            if got != [want.clone()] {
                problems.push(format!("{field}: tshark {got:?}, expected {want:?}"));
            }
        }
        for field in FIELDS.iter().chain(&AUTH_FIELDS) {
            if actual.contains_key(*field) && !expected.iter().any(|(f, _)| f == field) {
                problems.push(format!("{field}: tshark {:?}, expected none", actual[*field]));
            }
        }
        if !problems.is_empty() {
            failures.push((number, payload, problems));
        }
    }

    if !failures.is_empty() {
        let mut report = format!(
            "tshark disagrees on {} of {} packets (pcap kept at {}):\n",
            failures.len(),
            reprs.len(),
            pcap_path.display()
        );
        // The full dissection of the first few, to see what tshark made of
        // the bytes; the rest are summarized.
        for (number, payload, problems) in failures.iter().take(3) {
            let filter = format!("frame.number=={number}");
            let verbose = tshark(&scratch.path, &pcap_path, &["-V", "-Y", &filter]);
            report += &format!(
                "\nframe {number}: payload {}\n  {}\ntshark -V:\n{verbose}\n",
                hex(payload),
                problems.join("\n  ")
            );
        }
        for (number, payload, problems) in failures.iter().skip(3) {
            report += &format!("frame {number}: payload {}: {}\n", hex(payload), problems.join("; "));
        }
        scratch.keep = true;
        panic!("{report}");
    }
}

/// The pcap and IPv4 helpers themselves, against known answers, so that a
/// failure of the main test points at bfd-common and not at the harness.
#[bfd_lab::test]
fn harness_builds_valid_headers() {
    // RFC 1071's worked example (section 3): the sum is 0xddf2.
    assert_eq!(internet_checksum(&[&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]]), !0xddf2);
    let frame = frame(0, &[0; 24]);
    assert_eq!(internet_checksum(&[&frame[14..34]]), 0, "IPv4 header checksum verifies");
    assert_eq!(frame.len(), 14 + 20 + 8 + 24);
    assert_eq!(&frame[36..38], &3784u16.to_be_bytes());
    let file = pcap(std::slice::from_ref(&frame));
    assert_eq!(file.len(), 24 + 16 + frame.len());
    assert_eq!(&file[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
    // The auth type numbering tshark is compared against.
    assert_eq!(AuthType::MeticulousKeyedSha1 as u8, 5);
}
