//! Arbitrary bytes into the authentication verifier (RFC 5880 §6.7): the
//! first byte picks the session's type and construction, the rest is the
//! received packet. Whatever the input, nothing panics, and a packet that
//! passes is one the session's key really signed: re-signing its parsed
//! form with that key gives its own digest back.
#![no_main]

use bfd_common::wire::{AuthRepr, AuthType};
use bfd_session::auth::{DigestKind, keyed_digest};
use bfd_session::{AuthConfig, Key, Lifetime, ReceivedControl, Secret, Session, SessionConfig, Sha1Construction, Time, WallTime};

const KEY: &[u8] = b"fuzz-key";

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, packet)) = data.split_first() else { return };
    let (auth_type, sha1) = match selector % 7 {
        0 => (AuthType::SimplePassword, Sha1Construction::Rfc5880),
        1 => (AuthType::KeyedMd5, Sha1Construction::Rfc5880),
        2 => (AuthType::MeticulousKeyedMd5, Sha1Construction::Rfc5880),
        3 => (AuthType::KeyedSha1, Sha1Construction::Rfc5880),
        4 => (AuthType::MeticulousKeyedSha1, Sha1Construction::Rfc5880),
        5 => (AuthType::KeyedSha1, Sha1Construction::FrrHmacSha1),
        _ => (AuthType::MeticulousKeyedSha1, Sha1Construction::FrrHmacSha1),
    };
    let key = Key { id: selector, secret: Secret::new(KEY.to_vec()), send: Lifetime::ALWAYS, accept: Lifetime::ALWAYS };
    let config = AuthConfig { auth_type, keys: vec![key], sha1 };
    let Ok(received) = ReceivedControl::parse(packet) else { return };
    let discr = match received.repr().your_discriminator {
        0 => 1,
        your => your,
    };
    let wall = Some((config.clone(), WallTime::from_unix_secs(0)));
    let Ok(mut session) = Session::with_auth(discr, SessionConfig::default(), wall, 1, Time::ZERO) else { return };
    let accepted = session.on_packet(Time::from_nanos(1), &received).is_ok();
    if accepted {
        match received.repr().auth {
            Some(AuthRepr::SimplePassword { password, .. }) => assert_eq!(password.as_bytes(), KEY),
            Some(AuthRepr::KeyedMd5 { digest, .. }) => {
                let kind = DigestKind::of(&config).unwrap();
                assert_eq!(keyed_digest(kind, received.bytes(), KEY).unwrap().as_bytes(), &digest[..]);
            }
            Some(AuthRepr::KeyedSha1 { hash, .. }) => {
                let kind = DigestKind::of(&config).unwrap();
                assert_eq!(keyed_digest(kind, received.bytes(), KEY).unwrap().as_bytes(), &hash[..]);
            }
            None => panic!("an unauthenticated packet was accepted by an authenticated session"),
        }
    }
});
