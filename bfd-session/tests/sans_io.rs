//! The session core does no I/O and reads no clock: its sources name none
//! of the types or crates that would (and `#![forbid(unsafe_code)]` rules
//! out raw system calls).

const SOURCES: &[(&str, &str)] = &[
    ("auth.rs", include_str!("../src/auth.rs")),
    ("lib.rs", include_str!("../src/lib.rs")),
    ("config.rs", include_str!("../src/config.rs")),
    ("rng.rs", include_str!("../src/rng.rs")),
    ("session.rs", include_str!("../src/session.rs")),
    ("sim.rs", include_str!("../src/sim.rs")),
    ("table.rs", include_str!("../src/table.rs")),
    ("time.rs", include_str!("../src/time.rs")),
];

const FORBIDDEN: &[&str] = &[
    "Instant",
    "SystemTime",
    "UNIX_EPOCH",
    "UdpSocket",
    "TcpStream",
    "std::fs",
    "std::io",
    "std::thread",
    "std::process",
    "std::env",
    "tokio",
    "getrandom",
    "rand::",
    "libc",
    "nix::",
];

#[test]
fn no_io_no_clock_no_entropy() {
    for (file, source) in SOURCES {
        for (number, line) in source.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN {
                assert!(!code.contains(word), "src/{file}:{}: `{word}` in {line:?}", number + 1);
            }
        }
    }
}

#[test]
fn every_source_file_is_checked() {
    let listed: Vec<&str> = SOURCES.iter().map(|(file, _)| *file).collect();
    let manifest = env!("CARGO_MANIFEST_DIR");
    let mut on_disk: Vec<String> = std::fs::read_dir(format!("{manifest}/src"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    let mut listed_sorted: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    listed_sorted.sort();
    assert_eq!(on_disk, listed_sorted, "add new source files to SOURCES");
}
