//! Arbitrary bytes into the control packet and authentication section
//! parsers (RFC 5880 §4.1–§4.4, §6.8.6), checked by the oracle the property
//! tests use (bfd-common/tests/oracle/mod.rs).
#![no_main]

#[path = "../../bfd-common/tests/oracle/mod.rs"]
mod oracle;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracle::control(data));
