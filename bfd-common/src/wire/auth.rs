//! The optional authentication section of a BFD control packet
//! (RFC 5880 §4.1–§4.4).
//!
//! The section follows the 24-byte mandatory section when the A bit is set,
//! and runs to the end of the packet as given by its Length field. Every
//! variant starts with the same two bytes (§4.1):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Auth Len    |    Authentication Data...     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! | Auth Type | name                  | layout after the two bytes                            | Auth Len |
//! |-----------|-----------------------|-------------------------------------------------------|----------|
//! | 1         | Simple Password §4.2  | Key ID (1), Password (1–16)                           | 4–19     |
//! | 2, 3      | (Meticulous) Keyed MD5 §4.3  | Key ID (1), Reserved (1), Sequence (4), Digest (16) | 24 |
//! | 4, 5      | (Meticulous) Keyed SHA1 §4.4 | Key ID (1), Reserved (1), Sequence (4), Hash (20)   | 28 |
//!
//! This module only handles the layout. Checking the password, the digest
//! or the sequence number against the session (§6.7) is the session's job;
//! [`AuthSection::digest_mut`] and [`AuthSection::hash_mut`] let it put the
//! key in place before hashing, as §6.7.3 and §6.7.4 require.

use core::fmt;

use super::{Error, Result};

/// Byte ranges of the authentication section's fields, relative to the
/// start of the section.
mod field {
    /// A range of bytes holding one field.
    pub type Field = core::ops::Range<usize>;

    /// §4.1 "Auth Type: The authentication type in use".
    pub const AUTH_TYPE: usize = 0;
    /// §4.1 "Auth Len: The length, in bytes, of the authentication section,
    /// including the Auth Type and Auth Len fields."
    pub const AUTH_LEN: usize = 1;
    /// §4.2–§4.4 "Auth Key ID: The authentication key ID in use for this
    /// packet."
    pub const KEY_ID: usize = 2;
    /// §4.2 "Password: The simple password in use on this session." It runs
    /// from here to the end of the section.
    pub const PASSWORD_START: usize = 3;
    /// §4.3, §4.4 "Reserved: This byte MUST be set to zero on transmit, and
    /// ignored on receipt."
    pub const RESERVED: usize = 3;
    /// §4.3, §4.4 "Sequence Number: The sequence number for this packet."
    pub const SEQUENCE: Field = 4..8;
    /// §4.3 "Auth Key/Digest: This field carries the 16-byte MD5 digest for
    /// the packet."
    pub const DIGEST: Field = 8..24;
    /// §4.4 "Auth Key/Hash: This field carries the 20-byte SHA1 hash for the
    /// packet."
    pub const HASH: Field = 8..28;
}

/// Length of the header common to every authentication section: Auth Type
/// and Auth Len (§4.1).
pub const HEADER_LEN: usize = 2;
/// Shortest simple password (§4.2: "MUST be from 1 to 16 bytes in length").
pub const PASSWORD_MIN_LEN: usize = 1;
/// Longest simple password (§4.2: "MUST be from 1 to 16 bytes in length").
pub const PASSWORD_MAX_LEN: usize = 16;
/// Auth Len of a (meticulous) keyed MD5 section (§4.3: "For Keyed MD5 and
/// Meticulous Keyed MD5 authentication, the length is 24").
pub const KEYED_MD5_LEN: usize = 24;
/// Auth Len of a (meticulous) keyed SHA1 section (§4.4: "For Keyed SHA1 and
/// Meticulous Keyed SHA1 authentication, the length is 28").
pub const KEYED_SHA1_LEN: usize = 28;
/// Length of an MD5 digest (§4.3: "the 16-byte MD5 digest").
pub const DIGEST_LEN: usize = 16;
/// Length of a SHA1 hash (§4.4: "the 20-byte SHA1 hash").
pub const HASH_LEN: usize = 20;

/// The Auth Type field (RFC 5880 §4.1): "The authentication type in use, if
/// the Authentication Present (A) bit is set."
///
/// "0 - Reserved" and "6-255 - Reserved for future use" have no variant:
/// converting them fails with [`Error::AuthTypeUnknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AuthType {
    /// "1 - Simple Password" (§4.2).
    SimplePassword = 1,
    /// "2 - Keyed MD5" (§4.3).
    KeyedMd5 = 2,
    /// "3 - Meticulous Keyed MD5" (§4.3).
    MeticulousKeyedMd5 = 3,
    /// "4 - Keyed SHA1" (§4.4).
    KeyedSha1 = 4,
    /// "5 - Meticulous Keyed SHA1" (§4.4).
    MeticulousKeyedSha1 = 5,
}

impl AuthType {
    /// Whether `auth_len` is a valid Auth Len for this type: 4–19 for simple
    /// password (§4.2: "the length is equal to the password length plus
    /// three", the password being 1 to 16 bytes), 24 for keyed MD5 (§4.3),
    /// 28 for keyed SHA1 (§4.4).
    pub const fn is_valid_auth_len(self, auth_len: u8) -> bool {
        let auth_len = auth_len as usize;
        match self {
            AuthType::SimplePassword => {
                auth_len >= field::PASSWORD_START + PASSWORD_MIN_LEN
                    && auth_len <= field::PASSWORD_START + PASSWORD_MAX_LEN
            }
            AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => auth_len == KEYED_MD5_LEN,
            AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => auth_len == KEYED_SHA1_LEN,
        }
    }

    /// A short name: "simple-password", "keyed-md5", "meticulous-keyed-md5",
    /// "keyed-sha1" or "meticulous-keyed-sha1".
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthType::SimplePassword => "simple-password",
            AuthType::KeyedMd5 => "keyed-md5",
            AuthType::MeticulousKeyedMd5 => "meticulous-keyed-md5",
            AuthType::KeyedSha1 => "keyed-sha1",
            AuthType::MeticulousKeyedSha1 => "meticulous-keyed-sha1",
        }
    }
}

impl TryFrom<u8> for AuthType {
    type Error = Error;

    /// Fails with [`Error::AuthTypeUnknown`] for the reserved values 0 and
    /// 6–255 (§4.1).
    fn try_from(value: u8) -> Result<AuthType> {
        match value {
            1 => Ok(AuthType::SimplePassword),
            2 => Ok(AuthType::KeyedMd5),
            3 => Ok(AuthType::MeticulousKeyedMd5),
            4 => Ok(AuthType::KeyedSha1),
            5 => Ok(AuthType::MeticulousKeyedSha1),
            _ => Err(Error::AuthTypeUnknown),
        }
    }
}

impl From<AuthType> for u8 {
    fn from(auth_type: AuthType) -> u8 {
        auth_type as u8
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A simple password (RFC 5880 §4.2): "The password is a binary string, and
/// MUST be from 1 to 16 bytes in length."
///
/// Stored inline; the bytes past `len` are always zero, so the derived
/// equality compares passwords. `Debug` shows the length only, never the
/// bytes, so that logging a [`ControlRepr`](super::ControlRepr) does not
/// leak the secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Password {
    len: u8,
    bytes: [u8; PASSWORD_MAX_LEN],
}

impl Password {
    /// The password made of `bytes`, or `None` if it is empty or longer
    /// than 16 bytes.
    pub fn new(bytes: &[u8]) -> Option<Password> {
        if bytes.len() < PASSWORD_MIN_LEN || bytes.len() > PASSWORD_MAX_LEN {
            return None;
        }
        let mut stored = [0; PASSWORD_MAX_LEN];
        stored.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Password { len: bytes.len() as u8, bytes: stored })
    }

    /// The password's bytes (1 to 16 of them).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The password's length in bytes, 1 to 16.
    #[allow(clippy::len_without_is_empty)] // never empty
    pub const fn len(&self) -> usize {
        self.len as usize
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password(<{} bytes>)", self.len)
    }
}

/// A read/write view of an authentication section: the bytes from offset 24
/// of a control packet to its Length, exactly (see
/// [`ControlPacket::auth_section`](super::ControlPacket::auth_section)).
///
/// The fields that only some Auth Types have are returned as `Option`s,
/// `None` when the section's type lacks the field or the buffer is too
/// short for it, so no getter panics, even on an unchecked view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSection<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> AuthSection<T> {
    /// Imposes the authentication section layout on `buffer`, unchecked.
    ///
    /// [`auth_type_raw`](Self::auth_type_raw) and
    /// [`auth_len`](Self::auth_len) panic on a buffer shorter than 2 bytes;
    /// use [`new_checked`](Self::new_checked) on untrusted input.
    pub const fn new_unchecked(buffer: T) -> AuthSection<T> {
        AuthSection { buffer }
    }

    /// [`new_unchecked`](Self::new_unchecked) followed by
    /// [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<AuthSection<T>> {
        let section = Self::new_unchecked(buffer);
        section.check_len()?;
        Ok(section)
    }

    /// Checks that the buffer holds the two header bytes and that Auth Len
    /// covers the buffer exactly; afterwards no accessor panics.
    ///
    /// The buffer is the section as delimited by the control packet's
    /// Length, and §4.1 defines Auth Len as "the length, in bytes, of the
    /// authentication section", so the two must agree.
    ///
    /// # Errors
    /// - [`Error::Truncated`] if the buffer is shorter than 2 bytes.
    /// - [`Error::AuthLengthMismatch`] if Auth Len differs from the buffer's
    ///   length.
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if usize::from(data[field::AUTH_LEN]) != data.len() {
            return Err(Error::AuthLengthMismatch);
        }
        Ok(())
    }

    /// Every layout check, in this order: [`check_len`](Self::check_len)
    /// ([`Error::Truncated`], [`Error::AuthLengthMismatch`]), then
    /// [`Error::AuthTypeUnknown`] for a reserved Auth Type (§4.1: "0 -
    /// Reserved", "6-255 - Reserved for future use"), then
    /// [`Error::AuthLengthInvalid`] for an Auth Len that does not fit the
    /// type (see [`AuthType::is_valid_auth_len`]).
    ///
    /// The Reserved byte of the keyed MD5 and SHA1 layouts is not checked:
    /// §4.3 says it is "ignored on receipt".
    pub fn check(&self) -> Result<()> {
        self.check_len()?;
        let auth_type = AuthType::try_from(self.auth_type_raw())?;
        if !auth_type.is_valid_auth_len(self.auth_len()) {
            return Err(Error::AuthLengthInvalid);
        }
        Ok(())
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The Auth Type field as on the wire, reserved values included.
    ///
    /// # Panics
    /// On a buffer shorter than 1 byte (impossible after `new_checked`).
    pub fn auth_type_raw(&self) -> u8 {
        self.buffer.as_ref()[field::AUTH_TYPE]
    }

    /// The Auth Type, or [`Error::AuthTypeUnknown`] for a reserved value.
    ///
    /// # Panics
    /// On a buffer shorter than 1 byte (impossible after `new_checked`).
    pub fn auth_type(&self) -> Result<AuthType> {
        AuthType::try_from(self.auth_type_raw())
    }

    /// The Auth Len field: "The length, in bytes, of the authentication
    /// section, including the Auth Type and Auth Len fields" (§4.1).
    ///
    /// # Panics
    /// On a buffer shorter than 2 bytes (impossible after `new_checked`).
    pub fn auth_len(&self) -> u8 {
        self.buffer.as_ref()[field::AUTH_LEN]
    }

    /// The Auth Key ID (§4.2–§4.4: "The authentication key ID in use for
    /// this packet. This allows multiple keys to be active
    /// simultaneously."), or `None` for a reserved Auth Type or a buffer
    /// too short.
    pub fn key_id(&self) -> Option<u8> {
        self.known_auth_type()?;
        self.buffer.as_ref().get(field::KEY_ID).copied()
    }

    /// The Reserved byte of the keyed MD5 and SHA1 layouts (§4.3: "MUST be
    /// set to zero on transmit, and ignored on receipt"), or `None` for
    /// other types.
    pub fn reserved(&self) -> Option<u8> {
        if !self.has_sequence() {
            return None;
        }
        self.buffer.as_ref().get(field::RESERVED).copied()
    }

    /// The simple password, bytes 3 to the end of the section (§4.2), or
    /// `None` if the Auth Type is not Simple Password. Empty if the buffer
    /// has no byte past the Key ID.
    pub fn password(&self) -> Option<&[u8]> {
        if self.known_auth_type() != Some(AuthType::SimplePassword) {
            return None;
        }
        Some(self.buffer.as_ref().get(field::PASSWORD_START..).unwrap_or(&[]))
    }

    /// The Sequence Number of the keyed MD5 and SHA1 layouts (§4.3: "For
    /// Keyed MD5 Authentication, this value is incremented occasionally.
    /// For Meticulous Keyed MD5 Authentication, this value is incremented
    /// for each successive packet transmitted for a session."), or `None`
    /// for other types or a buffer too short.
    pub fn sequence(&self) -> Option<u32> {
        if !self.has_sequence() {
            return None;
        }
        let bytes = self.buffer.as_ref().get(field::SEQUENCE)?;
        let bytes: [u8; 4] = bytes.try_into().ok()?;
        Some(u32::from_be_bytes(bytes))
    }

    /// The 16-byte Auth Key/Digest of a (meticulous) keyed MD5 section
    /// (§4.3), or `None` for other types or a buffer too short.
    pub fn digest(&self) -> Option<&[u8; DIGEST_LEN]> {
        if !self.is_md5() {
            return None;
        }
        self.buffer.as_ref().get(field::DIGEST)?.try_into().ok()
    }

    /// The 20-byte Auth Key/Hash of a (meticulous) keyed SHA1 section
    /// (§4.4), or `None` for other types or a buffer too short.
    pub fn hash(&self) -> Option<&[u8; HASH_LEN]> {
        if !self.is_sha1() {
            return None;
        }
        self.buffer.as_ref().get(field::HASH)?.try_into().ok()
    }

    /// The Auth Type, or `None` if it is reserved or the buffer is empty;
    /// never panics.
    fn known_auth_type(&self) -> Option<AuthType> {
        let raw = self.buffer.as_ref().get(field::AUTH_TYPE)?;
        AuthType::try_from(*raw).ok()
    }

    fn has_sequence(&self) -> bool {
        self.is_md5() || self.is_sha1()
    }

    fn is_md5(&self) -> bool {
        matches!(self.known_auth_type(), Some(AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5))
    }

    fn is_sha1(&self) -> bool {
        matches!(self.known_auth_type(), Some(AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> AuthSection<T> {
    /// Sets the Auth Type field.
    ///
    /// # Panics
    /// On a buffer shorter than 1 byte.
    pub fn set_auth_type(&mut self, auth_type: AuthType) {
        self.buffer.as_mut()[field::AUTH_TYPE] = auth_type as u8;
    }

    /// Sets the Auth Type field to any value, reserved ones included.
    ///
    /// # Panics
    /// On a buffer shorter than 1 byte.
    pub fn set_auth_type_raw(&mut self, auth_type: u8) {
        self.buffer.as_mut()[field::AUTH_TYPE] = auth_type;
    }

    /// Sets the Auth Len field.
    ///
    /// # Panics
    /// On a buffer shorter than 2 bytes.
    pub fn set_auth_len(&mut self, auth_len: u8) {
        self.buffer.as_mut()[field::AUTH_LEN] = auth_len;
    }

    /// Sets the Auth Key ID field.
    ///
    /// # Panics
    /// On a buffer shorter than 3 bytes.
    pub fn set_key_id(&mut self, key_id: u8) {
        self.buffer.as_mut()[field::KEY_ID] = key_id;
    }

    /// Sets the Reserved byte of the keyed MD5 and SHA1 layouts (§4.3: "MUST
    /// be set to zero on transmit").
    ///
    /// # Panics
    /// On a buffer shorter than 4 bytes.
    pub fn set_reserved(&mut self, reserved: u8) {
        self.buffer.as_mut()[field::RESERVED] = reserved;
    }

    /// Sets the Sequence Number field of the keyed MD5 and SHA1 layouts.
    ///
    /// # Panics
    /// On a buffer shorter than 8 bytes.
    pub fn set_sequence(&mut self, sequence: u32) {
        self.buffer.as_mut()[field::SEQUENCE].copy_from_slice(&sequence.to_be_bytes());
    }

    /// The simple password bytes (3 to the end of the section), to write
    /// into, or `None` if the Auth Type is not Simple Password.
    pub fn password_mut(&mut self) -> Option<&mut [u8]> {
        if self.known_auth_type() != Some(AuthType::SimplePassword) {
            return None;
        }
        self.buffer.as_mut().get_mut(field::PASSWORD_START..)
    }

    /// The Auth Key/Digest field of a keyed MD5 section, to write into (the
    /// key goes there while the digest is computed, §6.7.3), or `None` for
    /// other types or a buffer too short.
    pub fn digest_mut(&mut self) -> Option<&mut [u8; DIGEST_LEN]> {
        if !self.is_md5() {
            return None;
        }
        self.buffer.as_mut().get_mut(field::DIGEST)?.try_into().ok()
    }

    /// The Auth Key/Hash field of a keyed SHA1 section, to write into (the
    /// key goes there while the hash is computed, §6.7.4), or `None` for
    /// other types or a buffer too short.
    pub fn hash_mut(&mut self) -> Option<&mut [u8; HASH_LEN]> {
        if !self.is_sha1() {
            return None;
        }
        self.buffer.as_mut().get_mut(field::HASH)?.try_into().ok()
    }
}

/// A parsed authentication section (RFC 5880 §4.2–§4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthRepr {
    /// Simple password authentication (§4.2, Auth Type 1).
    SimplePassword {
        /// Auth Key ID: "The authentication key ID in use for this packet."
        key_id: u8,
        /// "The simple password in use on this session."
        password: Password,
    },
    /// Keyed MD5 (§4.3, Auth Type 2) or, if `meticulous`, Meticulous Keyed
    /// MD5 (Auth Type 3).
    KeyedMd5 {
        /// Auth Type 3 rather than 2: the sequence number "is incremented
        /// for each successive packet transmitted for a session".
        meticulous: bool,
        /// Auth Key ID: "The authentication key ID in use for this packet."
        key_id: u8,
        /// "The sequence number for this packet."
        sequence: u32,
        /// "the 16-byte MD5 digest for the packet" (or the key, while the
        /// digest is being computed).
        digest: [u8; DIGEST_LEN],
    },
    /// Keyed SHA1 (§4.4, Auth Type 4) or, if `meticulous`, Meticulous Keyed
    /// SHA1 (Auth Type 5).
    KeyedSha1 {
        /// Auth Type 5 rather than 4.
        meticulous: bool,
        /// Auth Key ID: "The authentication key ID in use for this packet."
        key_id: u8,
        /// "The sequence number for this packet."
        sequence: u32,
        /// "the 20-byte SHA1 hash for the packet" (or the key, while the
        /// hash is being computed).
        hash: [u8; HASH_LEN],
    },
}

impl AuthRepr {
    /// The Auth Type this section is emitted with.
    pub const fn auth_type(&self) -> AuthType {
        match *self {
            AuthRepr::SimplePassword { .. } => AuthType::SimplePassword,
            AuthRepr::KeyedMd5 { meticulous: false, .. } => AuthType::KeyedMd5,
            AuthRepr::KeyedMd5 { meticulous: true, .. } => AuthType::MeticulousKeyedMd5,
            AuthRepr::KeyedSha1 { meticulous: false, .. } => AuthType::KeyedSha1,
            AuthRepr::KeyedSha1 { meticulous: true, .. } => AuthType::MeticulousKeyedSha1,
        }
    }

    /// The Auth Key ID.
    pub const fn key_id(&self) -> u8 {
        match *self {
            AuthRepr::SimplePassword { key_id, .. }
            | AuthRepr::KeyedMd5 { key_id, .. }
            | AuthRepr::KeyedSha1 { key_id, .. } => key_id,
        }
    }

    /// Parses a section after running [`AuthSection::check`] on it.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(section: &AuthSection<&T>) -> Result<AuthRepr> {
        section.check()?;
        let auth_type = section.auth_type()?;
        let key_id = section.key_id().ok_or(Error::AuthLengthInvalid)?;
        let repr = match auth_type {
            AuthType::SimplePassword => AuthRepr::SimplePassword {
                key_id,
                password: section.password().and_then(Password::new).ok_or(Error::AuthLengthInvalid)?,
            },
            AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => AuthRepr::KeyedMd5 {
                meticulous: auth_type == AuthType::MeticulousKeyedMd5,
                key_id,
                sequence: section.sequence().ok_or(Error::AuthLengthInvalid)?,
                digest: *section.digest().ok_or(Error::AuthLengthInvalid)?,
            },
            AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => AuthRepr::KeyedSha1 {
                meticulous: auth_type == AuthType::MeticulousKeyedSha1,
                key_id,
                sequence: section.sequence().ok_or(Error::AuthLengthInvalid)?,
                hash: *section.hash().ok_or(Error::AuthLengthInvalid)?,
            },
        };
        Ok(repr)
    }

    /// The length of the emitted section, which is also its Auth Len:
    /// 3 + the password length for simple password (§4.2), 24 for keyed
    /// MD5 (§4.3), 28 for keyed SHA1 (§4.4).
    pub const fn buffer_len(&self) -> usize {
        match self {
            AuthRepr::SimplePassword { password, .. } => field::PASSWORD_START + password.len(),
            AuthRepr::KeyedMd5 { .. } => KEYED_MD5_LEN,
            AuthRepr::KeyedSha1 { .. } => KEYED_SHA1_LEN,
        }
    }

    /// Writes the section into `section`, Reserved byte zero (§4.3: "MUST be
    /// set to zero on transmit").
    ///
    /// # Panics
    /// If the buffer is shorter than [`buffer_len`](Self::buffer_len).
    /// Bytes past `buffer_len` are left alone.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, section: &mut AuthSection<&mut T>) {
        section.set_auth_type(self.auth_type());
        // At most 28, so the cast is lossless.
        section.set_auth_len(self.buffer_len() as u8);
        section.set_key_id(self.key_id());
        let data = section.buffer.as_mut();
        match self {
            AuthRepr::SimplePassword { password, .. } => {
                let end = field::PASSWORD_START + password.len();
                data[field::PASSWORD_START..end].copy_from_slice(password.as_bytes());
            }
            AuthRepr::KeyedMd5 { sequence, digest, .. } => {
                data[field::RESERVED] = 0;
                data[field::SEQUENCE].copy_from_slice(&sequence.to_be_bytes());
                data[field::DIGEST].copy_from_slice(digest);
            }
            AuthRepr::KeyedSha1 { sequence, hash, .. } => {
                data[field::RESERVED] = 0;
                data[field::SEQUENCE].copy_from_slice(&sequence.to_be_bytes());
                data[field::HASH].copy_from_slice(hash);
            }
        }
    }
}

impl fmt::Display for AuthRepr {
    /// `auth=<type> key=<id>`, then `seq=<n>` for the keyed types. Neither
    /// the password nor the digest is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "auth={} key={}", self.auth_type(), self.key_id())?;
        match self {
            AuthRepr::SimplePassword { .. } => Ok(()),
            AuthRepr::KeyedMd5 { sequence, .. } | AuthRepr::KeyedSha1 { sequence, .. } => {
                write!(f, " seq={sequence}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::format;

    use super::*;

    /// Simple password "secret" (6 bytes), key ID 7: Auth Len 9.
    const PASSWORD_SECTION: [u8; 9] = [1, 9, 7, b's', b'e', b'c', b'r', b'e', b't'];

    /// Keyed MD5, key ID 2, reserved 0, sequence 0x01020304, digest 0xa0..=0xaf.
    const MD5_SECTION: [u8; 24] = [
        2, 24, 2, 0, 0x01, 0x02, 0x03, 0x04, //
        0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, //
        0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
    ];

    /// Meticulous keyed SHA1, key ID 9, sequence 0xdeadbeef, hash 0xb0..=0xc3.
    const SHA1_SECTION: [u8; 28] = [
        5, 28, 9, 0, 0xde, 0xad, 0xbe, 0xef, //
        0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, //
        0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3,
    ];

    fn md5_digest() -> [u8; 16] {
        core::array::from_fn(|i| 0xa0 + i as u8)
    }

    fn sha1_hash() -> [u8; 20] {
        core::array::from_fn(|i| 0xb0 + i as u8)
    }

    #[test]
    fn auth_type_conversions() {
        for (value, auth_type) in [
            (1, AuthType::SimplePassword),
            (2, AuthType::KeyedMd5),
            (3, AuthType::MeticulousKeyedMd5),
            (4, AuthType::KeyedSha1),
            (5, AuthType::MeticulousKeyedSha1),
        ] {
            assert_eq!(AuthType::try_from(value), Ok(auth_type));
            assert_eq!(u8::from(auth_type), value);
        }
        for value in [0, 6, 7, 128, 255] {
            assert_eq!(AuthType::try_from(value), Err(Error::AuthTypeUnknown));
        }
    }

    #[test]
    fn valid_auth_lengths() {
        let simple = AuthType::SimplePassword;
        assert!(!simple.is_valid_auth_len(3));
        assert!(simple.is_valid_auth_len(4));
        assert!(simple.is_valid_auth_len(19));
        assert!(!simple.is_valid_auth_len(20));
        for md5 in [AuthType::KeyedMd5, AuthType::MeticulousKeyedMd5] {
            assert!(md5.is_valid_auth_len(24));
            assert!(!md5.is_valid_auth_len(23));
            assert!(!md5.is_valid_auth_len(28));
        }
        for sha1 in [AuthType::KeyedSha1, AuthType::MeticulousKeyedSha1] {
            assert!(sha1.is_valid_auth_len(28));
            assert!(!sha1.is_valid_auth_len(24));
            assert!(!sha1.is_valid_auth_len(29));
        }
    }

    #[test]
    fn password_bounds_and_padding() {
        assert_eq!(Password::new(b""), None);
        assert_eq!(Password::new(&[0x55; 17]), None);
        let one = Password::new(b"a").unwrap();
        assert_eq!(one.as_bytes(), b"a");
        assert_eq!(one.len(), 1);
        let sixteen = Password::new(&[0x55; 16]).unwrap();
        assert_eq!(sixteen.as_bytes(), &[0x55; 16]);
        // Equal bytes are equal passwords; a prefix is not.
        assert_eq!(Password::new(b"ab"), Password::new(b"ab"));
        assert_ne!(Password::new(b"ab"), Password::new(b"abc"));
        // A password that ends in zero bytes differs from its prefix.
        assert_ne!(Password::new(b"a\0"), Password::new(b"a"));
    }

    #[test]
    fn password_debug_hides_the_secret() {
        let text = format!("{:?}", Password::new(b"hunter2").unwrap());
        assert_eq!(text, "Password(<7 bytes>)");
    }

    #[test]
    fn simple_password_getters() {
        let section = AuthSection::new_checked(&PASSWORD_SECTION[..]).unwrap();
        assert_eq!(section.check(), Ok(()));
        assert_eq!(section.auth_type_raw(), 1);
        assert_eq!(section.auth_type(), Ok(AuthType::SimplePassword));
        assert_eq!(section.auth_len(), 9);
        assert_eq!(section.key_id(), Some(7));
        assert_eq!(section.password(), Some(&b"secret"[..]));
        assert_eq!(section.reserved(), None);
        assert_eq!(section.sequence(), None);
        assert_eq!(section.digest(), None);
        assert_eq!(section.hash(), None);
    }

    #[test]
    fn md5_getters() {
        let section = AuthSection::new_checked(&MD5_SECTION[..]).unwrap();
        assert_eq!(section.check(), Ok(()));
        assert_eq!(section.auth_type(), Ok(AuthType::KeyedMd5));
        assert_eq!(section.auth_len(), 24);
        assert_eq!(section.key_id(), Some(2));
        assert_eq!(section.reserved(), Some(0));
        assert_eq!(section.sequence(), Some(0x0102_0304));
        assert_eq!(section.digest(), Some(&md5_digest()));
        assert_eq!(section.hash(), None);
        assert_eq!(section.password(), None);
    }

    #[test]
    fn sha1_getters() {
        let section = AuthSection::new_checked(&SHA1_SECTION[..]).unwrap();
        assert_eq!(section.check(), Ok(()));
        assert_eq!(section.auth_type(), Ok(AuthType::MeticulousKeyedSha1));
        assert_eq!(section.auth_len(), 28);
        assert_eq!(section.key_id(), Some(9));
        assert_eq!(section.reserved(), Some(0));
        assert_eq!(section.sequence(), Some(0xdead_beef));
        assert_eq!(section.hash(), Some(&sha1_hash()));
        assert_eq!(section.digest(), None);
    }

    #[test]
    fn optional_getters_do_not_panic_on_short_buffers() {
        // An MD5 header whose buffer stops after the Key ID.
        let short = [2, 3, 1];
        let section = AuthSection::new_unchecked(&short[..]);
        assert_eq!(section.key_id(), Some(1));
        assert_eq!(section.reserved(), None);
        assert_eq!(section.sequence(), None);
        assert_eq!(section.digest(), None);
        // A password header with no password byte.
        let empty_password = [1, 3, 1];
        let section = AuthSection::new_unchecked(&empty_password[..]);
        assert_eq!(section.password(), Some(&[][..]));
        // An empty buffer has no field at all.
        let section = AuthSection::new_unchecked(&[][..]);
        assert_eq!(section.key_id(), None);
        assert_eq!(section.reserved(), None);
        assert_eq!(section.password(), None);
        assert_eq!(section.sequence(), None);
        assert_eq!(section.digest(), None);
        assert_eq!(section.hash(), None);
        // A reserved type has no type-specific field at all.
        let reserved = [0, 4, 1, 2];
        let section = AuthSection::new_unchecked(&reserved[..]);
        assert_eq!(section.key_id(), None);
        assert_eq!(section.password(), None);
        assert_eq!(section.sequence(), None);
    }

    #[test]
    fn setters() {
        let mut buffer = [0xffu8; 28];
        let mut section = AuthSection::new_unchecked(&mut buffer[..]);
        section.set_auth_type(AuthType::KeyedSha1);
        section.set_auth_len(28);
        section.set_key_id(3);
        section.set_reserved(0);
        section.set_sequence(0x1122_3344);
        section.hash_mut().unwrap().copy_from_slice(&sha1_hash());
        assert_eq!(section.digest_mut(), None);
        assert_eq!(section.password_mut(), None);
        assert_eq!(section.check(), Ok(()));
        assert_eq!(&buffer[..8], &[4, 28, 3, 0, 0x11, 0x22, 0x33, 0x44]);
        assert_eq!(&buffer[8..], &sha1_hash());

        let mut buffer = [0u8; 24];
        let mut section = AuthSection::new_unchecked(&mut buffer[..]);
        section.set_auth_type_raw(3);
        section.set_auth_len(24);
        section.digest_mut().unwrap().copy_from_slice(&md5_digest());
        assert_eq!(section.hash_mut(), None);
        assert_eq!(buffer[0], 3);
        assert_eq!(&buffer[8..], &md5_digest());

        let mut buffer = [0u8; 5];
        let mut section = AuthSection::new_unchecked(&mut buffer[..]);
        section.set_auth_type(AuthType::SimplePassword);
        section.set_auth_len(5);
        section.password_mut().unwrap().copy_from_slice(b"pw");
        assert_eq!(buffer, [1, 5, 0, b'p', b'w']);
    }

    #[test]
    fn truncated() {
        for short in [&[][..], &[1][..]] {
            assert_eq!(AuthSection::new_checked(short).err(), Some(Error::Truncated));
            assert_eq!(AuthSection::new_unchecked(short).check(), Err(Error::Truncated));
        }
    }

    #[test]
    fn auth_len_mismatch() {
        // Auth Len 9 on an 8-byte section, and on a 10-byte one.
        let short = &PASSWORD_SECTION[..8];
        assert_eq!(AuthSection::new_unchecked(short).check(), Err(Error::AuthLengthMismatch));
        let mut long = [0u8; 10];
        long[..9].copy_from_slice(&PASSWORD_SECTION);
        assert_eq!(AuthSection::new_unchecked(&long[..]).check(), Err(Error::AuthLengthMismatch));
    }

    #[test]
    fn auth_type_unknown() {
        for auth_type in [0, 6, 255] {
            let mut section = PASSWORD_SECTION;
            section[0] = auth_type;
            assert_eq!(AuthSection::new_unchecked(&section[..]).check(), Err(Error::AuthTypeUnknown));
        }
    }

    #[test]
    fn auth_length_invalid() {
        // A 3-byte password section: no password.
        let empty = [1, 3, 7];
        assert_eq!(AuthSection::new_unchecked(&empty[..]).check(), Err(Error::AuthLengthInvalid));
        // A 20-byte password section: 17-byte password.
        let mut long = [0u8; 20];
        long[..2].copy_from_slice(&[1, 20]);
        assert_eq!(AuthSection::new_unchecked(&long[..]).check(), Err(Error::AuthLengthInvalid));
        // An MD5 section laid out as SHA1 (28 bytes), and the reverse.
        let mut md5_as_28 = SHA1_SECTION;
        md5_as_28[0] = 2;
        assert_eq!(AuthSection::new_unchecked(&md5_as_28[..]).check(), Err(Error::AuthLengthInvalid));
        let mut sha1_as_24 = MD5_SECTION;
        sha1_as_24[0] = 4;
        assert_eq!(AuthSection::new_unchecked(&sha1_as_24[..]).check(), Err(Error::AuthLengthInvalid));
        assert_eq!(
            AuthRepr::parse(&AuthSection::new_unchecked(&sha1_as_24[..])),
            Err(Error::AuthLengthInvalid)
        );
    }

    #[test]
    fn check_order_mismatch_before_unknown_type() {
        // Reserved type and wrong Auth Len: the length mismatch is reported.
        let section = [0, 9, 1, 2];
        assert_eq!(AuthSection::new_unchecked(&section[..]).check(), Err(Error::AuthLengthMismatch));
    }

    #[test]
    fn reserved_byte_is_ignored_on_parse_and_zeroed_on_emit() {
        let mut section = MD5_SECTION;
        section[3] = 0x5a;
        let repr = AuthRepr::parse(&AuthSection::new_unchecked(&section[..])).unwrap();
        let mut emitted = [0xffu8; 24];
        repr.emit(&mut AuthSection::new_unchecked(&mut emitted[..]));
        assert_eq!(emitted, MD5_SECTION);
    }

    #[test]
    fn parse_and_emit_each_type() {
        let cases: [(&[u8], AuthRepr); 3] = [
            (
                &PASSWORD_SECTION,
                AuthRepr::SimplePassword { key_id: 7, password: Password::new(b"secret").unwrap() },
            ),
            (
                &MD5_SECTION,
                AuthRepr::KeyedMd5 {
                    meticulous: false,
                    key_id: 2,
                    sequence: 0x0102_0304,
                    digest: md5_digest(),
                },
            ),
            (
                &SHA1_SECTION,
                AuthRepr::KeyedSha1 { meticulous: true, key_id: 9, sequence: 0xdead_beef, hash: sha1_hash() },
            ),
        ];
        for (bytes, expected) in cases {
            let repr = AuthRepr::parse(&AuthSection::new_unchecked(bytes)).unwrap();
            assert_eq!(repr, expected);
            assert_eq!(repr.buffer_len(), bytes.len());
            let mut emitted = [0u8; 28];
            let emitted = &mut emitted[..repr.buffer_len()];
            repr.emit(&mut AuthSection::new_unchecked(&mut *emitted));
            assert_eq!(emitted, bytes);
        }
    }

    #[test]
    fn auth_type_of_each_repr() {
        let md5 = |meticulous| AuthRepr::KeyedMd5 { meticulous, key_id: 0, sequence: 0, digest: [0; 16] };
        let sha1 = |meticulous| AuthRepr::KeyedSha1 { meticulous, key_id: 0, sequence: 0, hash: [0; 20] };
        assert_eq!(md5(false).auth_type(), AuthType::KeyedMd5);
        assert_eq!(md5(true).auth_type(), AuthType::MeticulousKeyedMd5);
        assert_eq!(sha1(false).auth_type(), AuthType::KeyedSha1);
        assert_eq!(sha1(true).auth_type(), AuthType::MeticulousKeyedSha1);
    }

    #[test]
    fn display() {
        let repr = AuthRepr::KeyedMd5 { meticulous: true, key_id: 4, sequence: 17, digest: [0; 16] };
        assert_eq!(format!("{repr}"), "auth=meticulous-keyed-md5 key=4 seq=17");
        let repr = AuthRepr::SimplePassword { key_id: 1, password: Password::new(b"x").unwrap() };
        assert_eq!(format!("{repr}"), "auth=simple-password key=1");
    }

    #[test]
    fn into_inner_returns_the_buffer() {
        let section = AuthSection::new_unchecked(&PASSWORD_SECTION[..]);
        assert_eq!(section.into_inner(), &PASSWORD_SECTION[..]);
    }
}
