//! Authentication of control packets (RFC 5880 §6.7), sans IO.
//!
//! What a session is given ([`AuthConfig`]: the type and a key chain) and
//! what it does with it: the digests of §6.7.3 (keyed MD5) and §6.7.4
//! (keyed SHA1), each computed with the key in the digest field over the
//! packet as sent; the password comparison of §6.7.2; the sequence numbers
//! (bfd.XmitAuthSeq, bfd.RcvAuthSeq, bfd.AuthSeqKnown, §6.8.1); and the
//! receive checks in §6.7's order, each failure with its own reason
//! ([`AuthFailure`]), so that they can be counted as FRR counts them.
//!
//! Keys have send and accept lifetimes on the wall clock, as BIRD's
//! `password "..." { generate from ...; generate to ...; accept from ...;
//! accept to ...; }`. The core reads no clock: the caller tells it the wall
//! time with [`Session::set_authentication`](crate::Session::set_authentication)
//! and [`Session::set_wall_clock`](crate::Session::set_wall_clock), and the
//! core follows it on its monotonic input times in between.
//!
//! Secrets ([`Secret`]) never show in `Debug` output and are compared in
//! constant time ([`subtle`]), as are digests.

use core::fmt;
use core::time::Duration;

use bfd_common::wire::auth::{DIGEST_LEN, HASH_LEN, PASSWORD_MAX_LEN};
use bfd_common::wire::control::HEADER_LEN;
use bfd_common::wire::{AuthRepr, AuthSection, AuthType, ControlPacket, ControlRepr, Password};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::time::Time;

/// The longest control packet we build or verify: 24 bytes and a keyed
/// SHA1 section of 28 (the largest section of §4.2–§4.4).
pub const MAX_PACKET_LEN: usize = HEADER_LEN + bfd_common::wire::auth::KEYED_SHA1_LEN;

/// A shared secret: a simple password (§6.7.2) or an authentication key
/// (§6.7.3, §6.7.4).
///
/// `Debug` prints its length only, and equality is constant-time, so a
/// secret neither leaks into logs nor through timing.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The secret made of `bytes` (any length; [`AuthConfig::validate`]
    /// checks the limits of the type it is used with).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    /// Its length in bytes.
    #[allow(clippy::len_without_is_empty)] // a validated secret is never empty
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The secret's bytes. Named so that every use is easy to find.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes>)", self.0.len())
    }
}

impl PartialEq for Secret {
    /// Constant-time in the contents (the lengths are not secret).
    fn eq(&self, other: &Secret) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Secret {}

impl Drop for Secret {
    /// Overwrites the bytes before the memory is freed (best effort: no
    /// guarantee against copies the allocator or the compiler made).
    fn drop(&mut self) {
        self.0.fill(0);
    }
}

/// A point on the wall clock (UTC), in whole seconds since the Unix epoch:
/// the unit of key lifetimes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WallTime(u64);

impl WallTime {
    /// `seconds` after 1970-01-01T00:00:00Z.
    pub const fn from_unix_secs(seconds: u64) -> WallTime {
        WallTime(seconds)
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub const fn as_unix_secs(self) -> u64 {
        self.0
    }
}

/// When a key may be used: from `from` (inclusive) until `until`
/// (exclusive); `None` is unbounded on that side (BIRD's `generate from`
/// / `generate to` and `accept from` / `accept to`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lifetime {
    /// The first second the key is valid, or always since.
    pub from: Option<WallTime>,
    /// The first second the key is no longer valid, or never.
    pub until: Option<WallTime>,
}

impl Lifetime {
    /// Valid at all times.
    pub const ALWAYS: Lifetime = Lifetime { from: None, until: None };

    /// Whether the key is valid at `at`.
    pub fn contains(&self, at: WallTime) -> bool {
        self.from.is_none_or(|from| from <= at) && self.until.is_none_or(|until| at < until)
    }
}

/// One key of a key chain (§6.7.1: "one or more Passwords (with
/// corresponding Key IDs) are configured in each system").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// The Auth Key ID that names it on the wire.
    pub id: u8,
    /// The password (simple password) or the key (keyed MD5 and SHA1).
    pub secret: Secret,
    /// When we may send with it.
    pub send: Lifetime,
    /// When we accept packets made with it.
    pub accept: Lifetime,
}

/// The digest construction of the keyed SHA1 types.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Sha1Construction {
    /// RFC 5880 §6.7.4: SHA1 over the packet with the key, padded with
    /// zeros to 20 bytes, in the Auth Key/Hash field. What BIRD, VPP and
    /// GoBFD compute.
    #[default]
    Rfc5880,
    /// FRR 10.x compatibility (not RFC 5880): HMAC-SHA1 keyed with the key,
    /// over the packet with the Auth Key/Hash field zeroed, as FRR 10.7's
    /// bfdd computes it (`bfdd/bfd_packet.c`, `ptm_bfd_snd` and
    /// `bfd_check_auth`; FRR issue 23274). Off unless configured.
    FrrHmacSha1,
}

/// A session's authentication (§6.8.1's bfd.AuthType and the key chain it
/// uses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    /// bfd.AuthType.
    pub auth_type: AuthType,
    /// The key chain: several keys, each with its id and lifetimes, so that
    /// a key can be added, made the send key and retired without a flap.
    pub keys: Vec<Key>,
    /// For the keyed SHA1 types: the digest construction.
    pub sha1: Sha1Construction,
}

/// Why an [`AuthConfig`] cannot be used. Never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    /// §6.7.1: keys are configured; a chain needs at least one.
    #[error("keys: at least one key is needed")]
    NoKeys,
    /// Two keys with one id: a packet's Key ID would not say which.
    #[error("keys: key id {0} appears more than once")]
    DuplicateKeyId(u8),
    /// The secret is empty or too long for the type.
    #[error("keys[id {id}].secret: {len} bytes; {auth_type} needs 1 to {max} (RFC 5880 §{section})")]
    SecretLength {
        /// The key's id.
        id: u8,
        /// The secret's length.
        len: usize,
        /// The type.
        auth_type: AuthType,
        /// The longest allowed.
        max: usize,
        /// The RFC section that sets the limit.
        section: &'static str,
    },
    /// A lifetime that ends before it starts.
    #[error("keys[id {id}].{which}: ends ({until}) before it starts ({from})")]
    EmptyLifetime {
        /// The key's id.
        id: u8,
        /// `send` or `accept`.
        which: &'static str,
        /// Its start, Unix seconds.
        from: u64,
        /// Its end, Unix seconds.
        until: u64,
    },
    /// The FRR construction exists for keyed SHA1 only.
    #[error(
        "the FRR HMAC-SHA1 compatibility construction applies to keyed-sha1 and meticulous-keyed-sha1 only, not {0}"
    )]
    FrrHmacNotSha1(AuthType),
}

impl AuthConfig {
    /// Checks the key chain against the type: ids unique, secret lengths
    /// (§6.7.2: a password "MUST be from 1 to 16 bytes"; §6.7.3: the MD5
    /// key fills a 16-byte field; §6.7.4: the SHA1 key a 20-byte one),
    /// lifetimes not empty.
    pub fn validate(&self) -> Result<(), AuthConfigError> {
        if self.keys.is_empty() {
            return Err(AuthConfigError::NoKeys);
        }
        let (max, section) = match self.auth_type {
            AuthType::SimplePassword => (PASSWORD_MAX_LEN, "6.7.2"),
            AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => (DIGEST_LEN, "6.7.3"),
            AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => (HASH_LEN, "6.7.4"),
        };
        if self.sha1 == Sha1Construction::FrrHmacSha1 && !is_sha1(self.auth_type) {
            return Err(AuthConfigError::FrrHmacNotSha1(self.auth_type));
        }
        for (index, key) in self.keys.iter().enumerate() {
            if self.keys[..index].iter().any(|other| other.id == key.id) {
                return Err(AuthConfigError::DuplicateKeyId(key.id));
            }
            let len = key.secret.len();
            if len == 0 || len > max {
                return Err(AuthConfigError::SecretLength {
                    id: key.id,
                    len,
                    auth_type: self.auth_type,
                    max,
                    section,
                });
            }
            for (which, lifetime) in [("send", key.send), ("accept", key.accept)] {
                if let (Some(from), Some(until)) = (lifetime.from, lifetime.until)
                    && until <= from
                {
                    return Err(AuthConfigError::EmptyLifetime {
                        id: key.id,
                        which,
                        from: from.as_unix_secs(),
                        until: until.as_unix_secs(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The key to send with at `at`: of the keys whose send lifetime holds
    /// `at`, the one whose send lifetime started last (the later in the
    /// list on a tie), as BIRD chooses. So a new key given a later `send`
    /// start takes over at that moment, while the old one is still
    /// accepted by both sides.
    pub fn send_key(&self, at: WallTime) -> Option<&Key> {
        self.keys.iter().filter(|key| key.send.contains(at)).max_by_key(|key| key.send.from)
    }

    /// The key with this id, if it may be accepted at `at` (§6.7.2: "If
    /// the Auth Key ID field does not match the ID of a configured
    /// password, the received packet MUST be discarded"; a key outside its
    /// accept lifetime is not configured for that moment).
    pub fn accept_key(&self, id: u8, at: WallTime) -> Option<&Key> {
        self.keys.iter().find(|key| key.id == id && key.accept.contains(at))
    }

    /// Whether the type is one of the meticulous ones (§6.7.3, §6.7.4:
    /// the sequence number "is incremented for each successive packet").
    pub fn meticulous(&self) -> bool {
        matches!(self.auth_type, AuthType::MeticulousKeyedMd5 | AuthType::MeticulousKeyedSha1)
    }
}

fn is_sha1(auth_type: AuthType) -> bool {
    matches!(auth_type, AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1)
}

/// How a keyed digest is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestKind {
    /// §6.7.3: MD5 over the packet with the key, zero-padded to 16 bytes,
    /// in the Auth Key/Digest field.
    KeyedMd5,
    /// §6.7.4: SHA1 over the packet with the key, zero-padded to 20 bytes,
    /// in the Auth Key/Hash field.
    KeyedSha1,
    /// FRR 10.x: HMAC-SHA1 with the key over the packet with the Auth
    /// Key/Hash field zeroed. Not RFC 5880.
    FrrHmacSha1,
}

impl DigestKind {
    /// The construction for `config`'s type; `None` for simple password.
    pub fn of(config: &AuthConfig) -> Option<DigestKind> {
        match config.auth_type {
            AuthType::SimplePassword => None,
            AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => Some(DigestKind::KeyedMd5),
            AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => Some(match config.sha1 {
                Sha1Construction::Rfc5880 => DigestKind::KeyedSha1,
                Sha1Construction::FrrHmacSha1 => DigestKind::FrrHmacSha1,
            }),
        }
    }
}

/// The digest of a keyed section: 16 bytes for MD5, 20 for SHA1.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyedDigest {
    /// An MD5 digest (§4.3).
    Md5([u8; DIGEST_LEN]),
    /// A SHA1 hash or FRR's HMAC-SHA1 (§4.4).
    Sha1([u8; HASH_LEN]),
}

impl KeyedDigest {
    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            KeyedDigest::Md5(digest) => digest,
            KeyedDigest::Sha1(hash) => hash,
        }
    }
}

impl fmt::Debug for KeyedDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if matches!(self, KeyedDigest::Md5(_)) { "Md5(" } else { "Sha1(" })?;
        for byte in self.as_bytes() {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

/// Computes the digest of a control packet with a keyed section, exactly
/// as the packet is on the wire (`packet` is the Length bytes), whatever
/// its digest field holds: the field is first set to the key (§6.7.3,
/// §6.7.4) or zeroed (FRR's HMAC). `None` if the packet has no keyed
/// section of `kind`'s size.
///
/// §6.7.3: "The Auth Key/Digest field MUST be set to the value of the
/// authentication key padded with zeros to 16 bytes (if necessary) ... An
/// MD5 digest MUST be calculated over the entire BFD Control packet."
/// §6.7.4 says the same of SHA1 with 20 bytes.
pub fn keyed_digest(kind: DigestKind, packet: &[u8], key: &[u8]) -> Option<KeyedDigest> {
    let mut scratch = [0u8; MAX_PACKET_LEN];
    let scratch = scratch.get_mut(..packet.len())?;
    scratch.copy_from_slice(packet);
    let mut view = ControlPacket::new_unchecked(&mut *scratch);
    let mut section = AuthSection::new_unchecked(view.auth_section_mut()?);
    match kind {
        DigestKind::KeyedMd5 => {
            let field = section.digest_mut()?;
            field.fill(0);
            field.get_mut(..key.len())?.copy_from_slice(key);
            Some(KeyedDigest::Md5(Md5::digest(&*scratch).into()))
        }
        DigestKind::KeyedSha1 => {
            let field = section.hash_mut()?;
            field.fill(0);
            field.get_mut(..key.len())?.copy_from_slice(key);
            Some(KeyedDigest::Sha1(Sha1::digest(&*scratch).into()))
        }
        DigestKind::FrrHmacSha1 => {
            section.hash_mut()?.fill(0);
            // HMAC accepts keys of any length (RFC 2104), so this cannot fail.
            let mut mac = Hmac::<Sha1>::new_from_slice(key).ok()?;
            mac.update(scratch);
            Some(KeyedDigest::Sha1(mac.finalize().into_bytes().into()))
        }
    }
}

/// Fills the digest of `packet`'s keyed section (its Auth Type, Key ID and
/// Sequence Number already set) with `kind`'s construction over the
/// packet as [`ControlRepr::emit`] writes it; `None` if the section is not
/// keyed or does not fit `kind`.
///
/// §6.7.3: "The resulting digest MUST be stored in the Auth Key/Digest
/// field prior to transmission (replacing the secret key, which MUST NOT
/// be carried in the packet)."
pub fn sign(kind: DigestKind, mut packet: ControlRepr, key: &[u8]) -> Option<ControlRepr> {
    let mut bytes = [0u8; MAX_PACKET_LEN];
    let bytes = bytes.get_mut(..packet.buffer_len())?;
    packet.emit(&mut ControlPacket::new_unchecked(&mut *bytes));
    match (keyed_digest(kind, bytes, key)?, packet.auth.as_mut()?) {
        (KeyedDigest::Md5(value), AuthRepr::KeyedMd5 { digest, .. }) => *digest = value,
        (KeyedDigest::Sha1(value), AuthRepr::KeyedSha1 { hash, .. }) => *hash = value,
        _ => return None,
    }
    Some(packet)
}

/// A control packet as received: its parsed form and the bytes it was
/// parsed from (up to its Length), which digest verification needs
/// (§6.7.3: the digest is "calculated over the entire BFD Control
/// packet"). Only [`ReceivedControl::parse`] makes one, so the two always
/// agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedControl<'a> {
    repr: ControlRepr,
    bytes: &'a [u8],
}

impl<'a> ReceivedControl<'a> {
    /// Runs the wire checks of §6.8.6 ([`ControlRepr::parse`]) on a UDP
    /// payload and keeps the packet's bytes (the Length first ones).
    pub fn parse(payload: &'a [u8]) -> Result<ReceivedControl<'a>, bfd_common::wire::Error> {
        let repr = ControlRepr::parse(&ControlPacket::new_unchecked(payload))?;
        let length = usize::from(ControlPacket::new_unchecked(payload).length());
        let bytes = payload.get(..length).ok_or(bfd_common::wire::Error::LengthExceedsPayload)?;
        Ok(ReceivedControl { repr, bytes })
    }

    /// The parsed packet.
    pub fn repr(&self) -> &ControlRepr {
        &self.repr
    }

    /// The packet's bytes, Length of them.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Why §6.7 (or the A-bit rules of §6.8.6) discarded a packet. Each is
/// counted on its own ([`AuthCounters`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AuthFailure {
    /// §6.8.6: "If the A bit is set and no authentication is in use
    /// (bfd.AuthType is zero), the packet MUST be discarded."
    #[error("authenticated packet, and the session uses no authentication")]
    Unexpected,
    /// §6.8.6: "If the A bit is clear and authentication is in use
    /// (bfd.AuthType is nonzero), the packet MUST be discarded."
    #[error("unauthenticated packet, and the session uses authentication")]
    Missing,
    /// §6.7.2–§6.7.4: "or the Auth Type is not ..., then the received
    /// packet MUST be discarded."
    #[error("Auth Type differs from the session's")]
    TypeMismatch,
    /// "If the Auth Key ID field does not match the ID of a configured
    /// password/authentication key, the received packet MUST be
    /// discarded." (Also a key outside its accept lifetime.)
    #[error("no key with this Auth Key ID is accepted now")]
    UnknownKeyId,
    /// §6.7.2: "If the Auth Len field is not equal to the length of the
    /// password selected by the key ID, plus three" or "If the Password
    /// field does not match the password selected by the Auth Key ID
    /// field, the received packet MUST be discarded."
    #[error("simple password mismatch")]
    PasswordMismatch,
    /// §6.7.3/§6.7.4, keyed: the sequence number "lies outside of the range
    /// of bfd.RcvAuthSeq to bfd.RcvAuthSeq+(3*Detect Mult)".
    #[error("sequence number outside the window")]
    Sequence,
    /// §6.7.3/§6.7.4, meticulous: outside "bfd.RcvAuthSeq+1 to
    /// bfd.RcvAuthSeq+(3*Detect Mult)" (a repeated number included).
    #[error("sequence number not above the last one (meticulous)")]
    MeticulousSequence,
    /// "If the calculated digest/hash does not match the value in the
    /// Auth Key/Digest field, the received packet MUST be discarded."
    #[error("digest mismatch")]
    DigestMismatch,
}

impl AuthFailure {
    /// Every reason, in the order they are checked.
    pub const ALL: [AuthFailure; 8] = [
        AuthFailure::Unexpected,
        AuthFailure::Missing,
        AuthFailure::TypeMismatch,
        AuthFailure::UnknownKeyId,
        AuthFailure::PasswordMismatch,
        AuthFailure::Sequence,
        AuthFailure::MeticulousSequence,
        AuthFailure::DigestMismatch,
    ];

    /// A stable snake_case name, for metrics labels and JSON keys.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthFailure::Unexpected => "unexpected",
            AuthFailure::Missing => "missing",
            AuthFailure::TypeMismatch => "type_mismatch",
            AuthFailure::UnknownKeyId => "unknown_key_id",
            AuthFailure::PasswordMismatch => "password_mismatch",
            AuthFailure::Sequence => "sequence",
            AuthFailure::MeticulousSequence => "meticulous_sequence",
            AuthFailure::DigestMismatch => "digest_mismatch",
        }
    }
}

/// Received control packets discarded by authentication, by reason (FRR's
/// "Rx Authentication ..." counters, with the reasons FRR does not break
/// out).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthCounters {
    /// [`AuthFailure::Unexpected`].
    pub unexpected: u64,
    /// [`AuthFailure::Missing`].
    pub missing: u64,
    /// [`AuthFailure::TypeMismatch`].
    pub type_mismatch: u64,
    /// [`AuthFailure::UnknownKeyId`].
    pub unknown_key_id: u64,
    /// [`AuthFailure::PasswordMismatch`].
    pub password_mismatch: u64,
    /// [`AuthFailure::Sequence`].
    pub sequence: u64,
    /// [`AuthFailure::MeticulousSequence`].
    pub meticulous_sequence: u64,
    /// [`AuthFailure::DigestMismatch`].
    pub digest_mismatch: u64,
    /// Packets not sent because no key's send lifetime held (as FRR since
    /// its fix for issue 23276: never fall back to sending
    /// unauthenticated).
    pub tx_no_key: u64,
}

impl AuthCounters {
    /// Every receive failure (FRR's "Rx Authentication failure").
    pub fn total(&self) -> u64 {
        AuthFailure::ALL.iter().map(|reason| self.get(*reason)).sum()
    }

    /// The count of one reason.
    pub fn get(&self, reason: AuthFailure) -> u64 {
        match reason {
            AuthFailure::Unexpected => self.unexpected,
            AuthFailure::Missing => self.missing,
            AuthFailure::TypeMismatch => self.type_mismatch,
            AuthFailure::UnknownKeyId => self.unknown_key_id,
            AuthFailure::PasswordMismatch => self.password_mismatch,
            AuthFailure::Sequence => self.sequence,
            AuthFailure::MeticulousSequence => self.meticulous_sequence,
            AuthFailure::DigestMismatch => self.digest_mismatch,
        }
    }

    pub(crate) fn count(&mut self, reason: AuthFailure) {
        let counter = match reason {
            AuthFailure::Unexpected => &mut self.unexpected,
            AuthFailure::Missing => &mut self.missing,
            AuthFailure::TypeMismatch => &mut self.type_mismatch,
            AuthFailure::UnknownKeyId => &mut self.unknown_key_id,
            AuthFailure::PasswordMismatch => &mut self.password_mismatch,
            AuthFailure::Sequence => &mut self.sequence,
            AuthFailure::MeticulousSequence => &mut self.meticulous_sequence,
            AuthFailure::DigestMismatch => &mut self.digest_mismatch,
        };
        *counter += 1;
    }
}

/// What `show` may know of a session's authentication (never a secret).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthStatus {
    /// bfd.AuthType.
    pub auth_type: AuthType,
    /// The keyed SHA1 construction.
    pub sha1: Sha1Construction,
    /// The key id of the last packet sent, `None` before the first.
    pub send_key_id: Option<u8>,
    /// bfd.XmitAuthSeq (keyed types).
    pub xmit_seq: u32,
    /// bfd.RcvAuthSeq, `None` while bfd.AuthSeqKnown is 0.
    pub rcv_seq: Option<u32>,
}

/// A session's authentication state (§6.8.1).
#[derive(Clone, Debug)]
pub(crate) struct AuthState {
    pub(crate) config: AuthConfig,
    /// The wall clock at a monotonic instant: wall time at `t` is
    /// `wall + (t - mono)`.
    anchor: (Time, WallTime),
    /// bfd.XmitAuthSeq.
    xmit_seq: u32,
    /// The last packet sent (without its section) and its key id: a
    /// non-meticulous session moves bfd.XmitAuthSeq on when they change.
    last_sent: Option<(ControlRepr, u8)>,
    /// bfd.RcvAuthSeq, while bfd.AuthSeqKnown is 1.
    rcv_seq: Option<u32>,
    /// When bfd.AuthSeqKnown falls back to 0: §6.8.1, "bfd.AuthSeqKnown
    /// ... MUST be set to zero after no packets have been received on this
    /// session for at least twice the Detection Time."
    rcv_seq_expires: Option<Time>,
}

impl AuthState {
    /// `xmit_seq` is random: §6.8.1, bfd.XmitAuthSeq "MUST be initialized
    /// to a random 32-bit value".
    pub(crate) fn new(config: AuthConfig, now: Time, wall: WallTime, xmit_seq: u32) -> AuthState {
        AuthState {
            config,
            anchor: (now, wall),
            xmit_seq,
            last_sent: None,
            rcv_seq: None,
            rcv_seq_expires: None,
        }
    }

    /// A new configuration: the sequence state is kept while the type
    /// stays, so that a key rotation never resets it.
    pub(crate) fn reconfigure(&mut self, config: AuthConfig, now: Time, wall: WallTime) {
        if config.auth_type != self.config.auth_type {
            self.rcv_seq = None;
            self.rcv_seq_expires = None;
        }
        self.config = config;
        self.anchor = (now, wall);
    }

    /// The kernel received the peer's packets until a Detection Time
    /// (`detection_time`) before `fired_at`, its detection: bfd.AuthSeqKnown
    /// expires twice that after the last of them (§6.8.1), not counted from
    /// the last packet verified here.
    pub(crate) fn packets_received_until(&mut self, fired_at: Time, detection_time: Duration) {
        if self.rcv_seq.is_some() {
            self.rcv_seq_expires = Some(fired_at + detection_time);
        }
    }

    pub(crate) fn set_wall_clock(&mut self, now: Time, wall: WallTime) {
        self.anchor = (now, wall);
    }

    /// The wall clock at `now`, from the last anchor.
    pub(crate) fn wall_at(&self, now: Time) -> WallTime {
        let (mono, wall) = self.anchor;
        let elapsed = if now >= mono {
            now.saturating_since(mono).as_secs() as i64
        } else {
            -(mono.saturating_since(now).as_secs() as i64)
        };
        WallTime(wall.0.saturating_add_signed(elapsed))
    }

    pub(crate) fn status(&self) -> AuthStatus {
        AuthStatus {
            auth_type: self.config.auth_type,
            sha1: self.config.sha1,
            send_key_id: self.last_sent.map(|(_, key_id)| key_id),
            xmit_seq: self.xmit_seq,
            rcv_seq: self.rcv_seq,
        }
    }

    /// Adds the authentication section to a packet about to be sent, with
    /// its digest computed over the packet as it will be emitted; `None`
    /// if no key may be sent with now.
    ///
    /// Sequence numbers (§6.7.3: "For Keyed MD5, bfd.XmitAuthSeq MAY be
    /// incremented in a circular fashion ... The bfd.XmitAuthSeq field
    /// MUST be incremented in a circular fashion ... for each packet
    /// transmitted for Meticulous Keyed MD5"; §6.7.4 the same for SHA1):
    /// meticulous types add one per packet; the others add one whenever
    /// the packet differs from the previous one sent (state, diagnostic,
    /// flags, Poll, Final, timers, discriminators or key), and repeat it
    /// while the packet is the same. So a replayed older packet is outside
    /// the peer's window as soon as any newer one has been accepted, and
    /// a steady session sends identical packets (which the kernel could
    /// absorb byte for byte).
    pub(crate) fn sign(&mut self, now: Time, mut packet: ControlRepr) -> Option<ControlRepr> {
        let wall = self.wall_at(now);
        let key = self.config.send_key(wall)?;
        let key_id = key.id;
        let secret = key.secret.expose();
        let meticulous = self.config.meticulous();
        let kind = DigestKind::of(&self.config);
        packet.auth = None;
        let bare = packet;
        match kind {
            None => {
                // §6.7.2: "The currently selected Password and Key ID for
                // the session MUST be stored in the Authentication Section
                // of each outgoing BFD Control packet."
                let password = Password::new(secret)?;
                packet.auth = Some(AuthRepr::SimplePassword { key_id, password });
                self.last_sent = Some((bare, key_id));
            }
            Some(kind) => {
                let changed = self.last_sent != Some((bare, key_id));
                if meticulous || changed {
                    self.xmit_seq = self.xmit_seq.wrapping_add(1);
                }
                self.last_sent = Some((bare, key_id));
                let sequence = self.xmit_seq;
                packet.auth = Some(match kind {
                    DigestKind::KeyedMd5 => {
                        AuthRepr::KeyedMd5 { meticulous, key_id, sequence, digest: [0; DIGEST_LEN] }
                    }
                    DigestKind::KeyedSha1 | DigestKind::FrrHmacSha1 => {
                        AuthRepr::KeyedSha1 { meticulous, key_id, sequence, hash: [0; HASH_LEN] }
                    }
                });
                packet = sign(kind, packet, secret)?;
            }
        }
        Some(packet)
    }

    /// §6.8.6's A-bit rules and §6.7's receive checks, in the RFC's order.
    /// The sequence state (bfd.RcvAuthSeq, bfd.AuthSeqKnown) changes only
    /// once the digest has verified, so a forged packet cannot move it.
    ///
    /// `detection_time`: the §6.8.4 Detection Time the packet itself
    /// implies, for bfd.AuthSeqKnown's expiry. `kernel_receiving`: the
    /// session is Up and the kernel times it, so packets are being
    /// received (absorbed there) and bfd.AuthSeqKnown does not expire.
    pub(crate) fn verify(
        &mut self,
        now: Time,
        packet: &ReceivedControl<'_>,
        detection_time: Duration,
        kernel_receiving: bool,
    ) -> Result<(), AuthFailure> {
        let repr = packet.repr();
        // "If the A bit is clear and authentication is in use (bfd.AuthType
        // is nonzero), the packet MUST be discarded."
        let Some(auth) = repr.auth else {
            return Err(AuthFailure::Missing);
        };
        // "If the received BFD Control packet does not contain an
        // Authentication Section, or the Auth Type is not correct ..., then
        // the received packet MUST be discarded."
        if auth.auth_type() != self.config.auth_type {
            return Err(AuthFailure::TypeMismatch);
        }
        // "If the Auth Key ID field does not match the ID of a configured
        // authentication key, the received packet MUST be discarded."
        let wall = self.wall_at(now);
        let key = self.config.accept_key(auth.key_id(), wall).ok_or(AuthFailure::UnknownKeyId)?;
        if !kernel_receiving && self.rcv_seq_expires.is_some_and(|expires| expires <= now) {
            self.rcv_seq = None;
        }
        match auth {
            AuthRepr::SimplePassword { password, .. } => {
                // "If the Auth Len field is not equal to the length of the
                // password selected by the key ID, plus three, the packet
                // MUST be discarded. If the Password field does not match
                // the password selected by the Auth Key ID field, the
                // received packet MUST be discarded." Lengths are not
                // secret; the bytes are compared in constant time.
                let ours = key.secret.expose();
                if password.len() != ours.len() || !bool::from(password.as_bytes().ct_eq(ours)) {
                    return Err(AuthFailure::PasswordMismatch);
                }
                // "Otherwise, the packet MUST be accepted."
                Ok(())
            }
            AuthRepr::KeyedMd5 { sequence, .. } | AuthRepr::KeyedSha1 { sequence, .. } => {
                // (Auth Len 24 or 28: the wire parser already discarded any
                // other, AuthLengthInvalid.)
                // "If bfd.AuthSeqKnown is 1, examine the Sequence Number
                // field. For Keyed MD5, if the sequence number lies outside
                // of the range of bfd.RcvAuthSeq to
                // bfd.RcvAuthSeq+(3*Detect Mult) inclusive (when treated as
                // an unsigned 32 bit circular number space), the received
                // packet MUST be discarded. For Meticulous Keyed MD5, if
                // the sequence number lies outside of the range of
                // bfd.RcvAuthSeq+1 to bfd.RcvAuthSeq+(3*Detect Mult)
                // inclusive ..., the received packet MUST be discarded."
                // Detect Mult is the packet's: the sender's multiplier,
                // which bounds how many of its packets can go missing
                // before a detection.
                if let Some(rcv_seq) = self.rcv_seq {
                    let ahead = sequence.wrapping_sub(rcv_seq);
                    let window = 3 * u32::from(repr.detect_mult);
                    if self.config.meticulous() {
                        if ahead == 0 || ahead > window {
                            return Err(AuthFailure::MeticulousSequence);
                        }
                    } else if ahead > window {
                        return Err(AuthFailure::Sequence);
                    }
                }
                // "Replace the contents of the Auth Key/Digest field with
                // the authentication key selected by the received Auth Key
                // ID field. ... Calculate an MD5 digest over the entire
                // packet. If the calculated digest does not match the value
                // in the Auth Key/Digest field, the received packet MUST be
                // discarded."
                let kind = DigestKind::of(&self.config).ok_or(AuthFailure::TypeMismatch)?;
                let computed = keyed_digest(kind, packet.bytes(), key.secret.expose())
                    .ok_or(AuthFailure::DigestMismatch)?;
                let view = ControlPacket::new_unchecked(packet.bytes());
                let received = AuthSection::new_unchecked(view.auth_section().unwrap_or(&[]));
                let received = match computed {
                    KeyedDigest::Md5(_) => received.digest().map(|d| &d[..]),
                    KeyedDigest::Sha1(_) => received.hash().map(|h| &h[..]),
                };
                if !received.is_some_and(|received| bool::from(received.ct_eq(computed.as_bytes()))) {
                    return Err(AuthFailure::DigestMismatch);
                }
                // "Otherwise (bfd.AuthSeqKnown is 0), bfd.AuthSeqKnown MUST
                // be set to 1, and bfd.RcvAuthSeq MUST be set to the value
                // of the received Sequence Number field." and, once
                // accepted, "bfd.RcvAuthSeq MUST be set to the value of the
                // received Sequence Number field": both only now, after the
                // digest verified (the RFC lists the first before the
                // digest check; doing it there would let a forged packet
                // move the window).
                self.rcv_seq = Some(sequence);
                self.rcv_seq_expires = Some(now + detection_time * 2);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_hides_the_bytes() {
        let secret = Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{secret:?}"), "Secret(<7 bytes>)");
        let key = Key { id: 1, secret, send: Lifetime::ALWAYS, accept: Lifetime::ALWAYS };
        let config = AuthConfig { auth_type: AuthType::KeyedSha1, keys: vec![key], sha1: Default::default() };
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn lifetimes_are_half_open() {
        let lifetime = Lifetime { from: Some(WallTime(10)), until: Some(WallTime(20)) };
        assert!(!lifetime.contains(WallTime(9)));
        assert!(lifetime.contains(WallTime(10)));
        assert!(lifetime.contains(WallTime(19)));
        assert!(!lifetime.contains(WallTime(20)));
        assert!(Lifetime::ALWAYS.contains(WallTime(0)));
    }

    #[test]
    fn send_key_is_the_latest_started() {
        let key = |id, from: Option<u64>| Key {
            id,
            secret: Secret::new(vec![id]),
            send: Lifetime { from: from.map(WallTime), until: None },
            accept: Lifetime::ALWAYS,
        };
        let config = AuthConfig {
            auth_type: AuthType::KeyedMd5,
            keys: vec![key(1, None), key(2, Some(100))],
            sha1: Default::default(),
        };
        assert_eq!(config.send_key(WallTime(99)).map(|k| k.id), Some(1));
        assert_eq!(config.send_key(WallTime(100)).map(|k| k.id), Some(2));
        assert_eq!(config.accept_key(2, WallTime(0)).map(|k| k.id), Some(2));
        assert!(config.accept_key(3, WallTime(0)).is_none());
    }

    #[test]
    fn validation_names_the_key() {
        let key = |id, secret: &[u8]| Key {
            id,
            secret: Secret::new(secret.to_vec()),
            send: Lifetime::ALWAYS,
            accept: Lifetime::ALWAYS,
        };
        let config = |auth_type, keys| AuthConfig { auth_type, keys, sha1: Default::default() };
        assert_eq!(config(AuthType::KeyedMd5, vec![]).validate(), Err(AuthConfigError::NoKeys));
        assert_eq!(
            config(AuthType::KeyedMd5, vec![key(1, b"a"), key(1, b"b")]).validate(),
            Err(AuthConfigError::DuplicateKeyId(1))
        );
        let error = config(AuthType::KeyedMd5, vec![key(4, &[7; 17])]).validate().unwrap_err();
        assert_eq!(
            error.to_string(),
            "keys[id 4].secret: 17 bytes; keyed-md5 needs 1 to 16 (RFC 5880 §6.7.3)"
        );
        assert!(config(AuthType::KeyedSha1, vec![key(4, &[7; 20])]).validate().is_ok());
        assert!(config(AuthType::SimplePassword, vec![key(4, b"")]).validate().is_err());
        let frr = AuthConfig {
            sha1: Sha1Construction::FrrHmacSha1,
            ..config(AuthType::KeyedMd5, vec![key(1, b"k")])
        };
        assert_eq!(frr.validate(), Err(AuthConfigError::FrrHmacNotSha1(AuthType::KeyedMd5)));
        let mut backwards = key(2, b"k");
        backwards.accept = Lifetime { from: Some(WallTime(5)), until: Some(WallTime(5)) };
        assert!(matches!(
            config(AuthType::KeyedSha1, vec![backwards]).validate(),
            Err(AuthConfigError::EmptyLifetime { id: 2, which: "accept", .. })
        ));
    }
}
