//! Arbitrary bytes into the echo payload parser, checked by the oracle the
//! property tests use (bfd-common/tests/oracle/mod.rs).
#![no_main]

#[path = "../../bfd-common/tests/oracle/mod.rs"]
mod oracle;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracle::echo(data));
