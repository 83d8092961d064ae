//! `BFDAuthentication` (bfd-xdp.io/v1alpha1): RFC 5880 authentication for
//! the sessions of MetalLB `BFDProfile`s or `BGPPeer`s, attached by name,
//! so that the MetalLB documents stay exactly what MetalLB accepts.
//!
//! ```yaml
//! apiVersion: bfd-xdp.io/v1alpha1
//! kind: BFDAuthentication
//! metadata: {name: tor-keys, namespace: metallb-system}
//! spec:
//!   bfdProfiles: [aggressive]          # every peer using these profiles
//!   bgpPeers: [tor-b]                  # and/or these peers (a peer's own entry wins)
//!   type: meticulous-keyed-sha1
//!   keys:
//!     - id: 1
//!       secretFile: /etc/bfd-agent/keys/tor-1     # a mounted Kubernetes Secret
//!       sendUntil: "2027-03-01T00:00:00Z"
//!       acceptUntil: "2027-03-02T00:00:00Z"
//!     - id: 2
//!       secretFile: /etc/bfd-agent/keys/tor-2
//!       sendFrom: "2027-03-01T00:00:00Z"
//! ```
//!
//! Secrets are read from files only (never written in the YAML), and no
//! error, `check` line or log names more of them than their file and
//! length.

use std::path::PathBuf;

use bfd_common::wire::AuthType;
use bfd_session::{AuthConfig, Key, Lifetime, Secret, Sha1Construction, WallTime};

use super::error::{DocumentRef, Reason};
use super::metallb::{DEFAULT_NAMESPACE, OBJECT_FIELDS, check_api_version, read_metadata};
use super::read::{Fields, Reader, join};
use super::yaml::Node;

/// The apiVersion of BFDAuthentication.
pub const AUTHENTICATION_API_VERSION: &str = "bfd-xdp.io/v1alpha1";

const SPEC_FIELDS: &[&str] = &["bfdProfiles", "bgpPeers", "type", "frrCompatibility", "keys"];
const KEY_FIELDS: &[&str] = &["id", "secretFile", "sendFrom", "sendUntil", "acceptFrom", "acceptUntil"];

/// A session's authentication, as a BFDAuthentication gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAuth {
    /// The BFDAuthentication, `namespace/name`.
    pub name: String,
    /// What the session core gets ([`bfd_session::Session::with_auth`]).
    pub config: AuthConfig,
    /// Where each key's secret was read from, by key id (for `check`).
    pub secret_files: Vec<(u8, PathBuf)>,
}

/// One BFDAuthentication document, read.
#[derive(Clone, Debug)]
pub(crate) struct AuthDocument {
    pub source: DocumentRef,
    pub namespace: String,
    /// `spec.bfdProfiles`: (name, line).
    pub profiles: Vec<(String, usize)>,
    /// `spec.bgpPeers`: (name, line).
    pub peers: Vec<(String, usize)>,
    /// `None` if the document has an error.
    pub auth: Option<PeerAuth>,
}

/// Reads a BFDAuthentication document, every field even after an error.
pub(crate) fn read_authentication(reader: &mut Reader<'_>, object: &Fields<'_>) -> AuthDocument {
    let errors_before = reader.error_count();
    read_metadata(reader, object, true, Some(DEFAULT_NAMESPACE));
    reader.only_known(object, "", OBJECT_FIELDS);
    check_api_version(reader, object, "BFDAuthentication", &[AUTHENTICATION_API_VERSION]);
    let namespace = reader.document.namespace.clone().unwrap_or_else(|| DEFAULT_NAMESPACE.into());
    let mut document = AuthDocument {
        source: reader.document.clone(),
        namespace: namespace.clone(),
        profiles: Vec::new(),
        peers: Vec::new(),
        auth: None,
    };
    let Some(spec) = object.get("spec").and_then(|node| reader.mapping(node, "spec")) else {
        if object.get("spec").is_none() {
            reader.error(object.line, "spec", Reason::Missing);
        }
        return document;
    };
    reader.only_known(&spec, "spec", SPEC_FIELDS);
    document.profiles = read_names(reader, &spec, "bfdProfiles");
    document.peers = read_names(reader, &spec, "bgpPeers");
    if document.profiles.is_empty() && document.peers.is_empty() {
        let reason = "name the BFDProfiles (bfdProfiles) or BGPPeers (bgpPeers) it applies to".to_owned();
        reader.error(spec.line, "spec.bfdProfiles", Reason::Invalid(reason));
    }

    let auth_type = match spec.get("type") {
        None => {
            reader.error(spec.line, "spec.type", Reason::Missing);
            None
        }
        Some(node) => reader.string(node, "spec.type").and_then(|text| match parse_auth_type(&text) {
            Some(auth_type) => Some(auth_type),
            None => {
                let reason = format!(
                    "{text:?} is not an authentication type: use simple-password, keyed-md5, \
                     meticulous-keyed-md5, keyed-sha1 or meticulous-keyed-sha1"
                );
                reader.error(node.line, "spec.type", Reason::Invalid(reason));
                None
            }
        }),
    };
    let mut sha1 = Sha1Construction::Rfc5880;
    if let Some(node) = spec.get("frrCompatibility") {
        match reader.string(node, "spec.frrCompatibility").as_deref() {
            Some("hmac-sha1") if auth_type.is_none_or(is_sha1) => sha1 = Sha1Construction::FrrHmacSha1,
            Some("hmac-sha1") => {
                let reason = format!(
                    "hmac-sha1 is FRR 10.x's construction of keyed SHA1; type {} has none",
                    auth_type.map_or("?", AuthType::as_str)
                );
                reader.error(node.line, "spec.frrCompatibility", Reason::Invalid(reason));
            }
            Some(other) => {
                let reason = format!("{other:?} is not a compatibility mode: the only one is hmac-sha1");
                reader.error(node.line, "spec.frrCompatibility", Reason::Invalid(reason));
            }
            None => {}
        }
    }

    let mut keys = Vec::new();
    let mut secret_files = Vec::new();
    let mut ids = Vec::new();
    match spec.get("keys") {
        None => reader.error(spec.line, "spec.keys", Reason::Missing),
        Some(node) => {
            let items = reader.sequence(node, "spec.keys").unwrap_or_default();
            if items.is_empty() {
                reader.error(node.line, "spec.keys", Reason::Invalid("at least one key is needed".into()));
            }
            for (index, item) in items.iter().enumerate() {
                let path = format!("spec.keys[{index}]");
                if let Some((key, file)) = read_key(reader, item, &path, auth_type, &mut ids) {
                    secret_files.push((key.id, file));
                    keys.push(key);
                }
            }
        }
    }

    if let Some(auth_type) = auth_type
        && reader.error_count() == errors_before
    {
        let config = AuthConfig { auth_type, keys, sha1 };
        // The readers above keep every rule of the core; this is its own
        // word on it.
        match config.validate() {
            Ok(()) => {
                let name = format!("{namespace}/{}", reader.document.name.clone().unwrap_or_default());
                document.auth = Some(PeerAuth { name, config, secret_files });
            }
            Err(error) => reader.error(spec.line, "spec.keys", Reason::Invalid(error.to_string())),
        }
    }
    document.source = reader.document.clone();
    document
}

fn is_sha1(auth_type: AuthType) -> bool {
    matches!(auth_type, AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1)
}

/// `simple-password`, `keyed-md5`, ... ([`AuthType::as_str`]).
pub fn parse_auth_type(text: &str) -> Option<AuthType> {
    [
        AuthType::SimplePassword,
        AuthType::KeyedMd5,
        AuthType::MeticulousKeyedMd5,
        AuthType::KeyedSha1,
        AuthType::MeticulousKeyedSha1,
    ]
    .into_iter()
    .find(|auth_type| auth_type.as_str() == text)
}

/// A list of object names, each with its line.
fn read_names(reader: &mut Reader<'_>, spec: &Fields<'_>, field: &str) -> Vec<(String, usize)> {
    let path = join("spec", field);
    let Some(node) = spec.get(field) else { return Vec::new() };
    let mut names: Vec<(String, usize)> = Vec::new();
    for (index, item) in reader.sequence(node, &path).unwrap_or_default().iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        let Some(name) = reader.string(item, &item_path) else { continue };
        if names.iter().any(|(seen, _)| *seen == name) {
            reader.error(item.line, &item_path, Reason::Invalid(format!("{name} is listed twice")));
            continue;
        }
        names.push((name, item.line));
    }
    names
}

/// The longest secret of a type, and the RFC section that says so.
fn secret_limit(auth_type: AuthType) -> (usize, &'static str) {
    match auth_type {
        AuthType::SimplePassword => (16, "6.7.2"),
        AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => (16, "6.7.3"),
        AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => (20, "6.7.4"),
    }
}

/// One entry of `spec.keys`.
fn read_key(
    reader: &mut Reader<'_>,
    node: &Node,
    path: &str,
    auth_type: Option<AuthType>,
    ids: &mut Vec<u8>,
) -> Option<(Key, PathBuf)> {
    let fields = reader.mapping(node, path)?;
    reader.only_known(&fields, path, KEY_FIELDS);
    let id_path = join(path, "id");
    let id = match fields.get("id") {
        None => {
            reader.error(fields.line, &id_path, Reason::Missing);
            None
        }
        Some(node) => match reader.integer(node, &id_path, 0, 255).map(|id| id as u8) {
            Some(id) if ids.contains(&id) => {
                let reason = format!("key id {id} is given twice: a packet's Key ID must name one key");
                reader.error(node.line, &id_path, Reason::Invalid(reason));
                None
            }
            Some(id) => {
                ids.push(id);
                Some(id)
            }
            None => None,
        },
    };
    let file_path = join(path, "secretFile");
    let secret = match fields.get("secretFile") {
        None => {
            reader.error(fields.line, &file_path, Reason::Missing);
            None
        }
        Some(node) => reader.string(node, &file_path).and_then(|file| {
            let (secret, why) = read_secret_file(&file, auth_type);
            if let Some(why) = why {
                reader.error(node.line, &file_path, Reason::Invalid(why));
            }
            secret.map(|secret| (secret, PathBuf::from(file)))
        }),
    };
    let mut lifetime = |from: &str, until: &str| -> Lifetime {
        let mut time = |field: &str| {
            let node = fields.get(field)?;
            let field_path = join(path, field);
            let text = reader.string(node, &field_path)?;
            match parse_rfc3339(&text) {
                Ok(time) => Some(time),
                Err(why) => {
                    reader.error(node.line, &field_path, Reason::Invalid(why));
                    None
                }
            }
        };
        let lifetime = Lifetime { from: time(from), until: time(until) };
        if let (Some(start), Some(end)) = (lifetime.from, lifetime.until)
            && end <= start
        {
            let line = fields.get(until).map_or(fields.line, |node| node.line);
            let reason = format!("{until} must be later than {from}");
            reader.error(line, &join(path, until), Reason::Invalid(reason));
        }
        lifetime
    };
    let send = lifetime("sendFrom", "sendUntil");
    let accept = lifetime("acceptFrom", "acceptUntil");
    let (secret, file) = secret?;
    Some((Key { id: id?, secret, send, accept }, file))
}

/// Reads a key from `file`: its bytes, less one trailing newline (what
/// `echo` or an editor adds; a Kubernetes Secret's file holds the value
/// exactly). The error names the file and the length, never the bytes.
fn read_secret_file(file: &str, auth_type: Option<AuthType>) -> (Option<Secret>, Option<String>) {
    if !file.starts_with('/') {
        return (None, Some(format!("{file:?} is not an absolute path")));
    }
    let mut bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(error) => return (None, Some(format!("{file}: cannot be read: {}", error.kind()))),
    };
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    let secret = Secret::new(bytes);
    if let Some(auth_type) = auth_type {
        let (max, section) = secret_limit(auth_type);
        if secret.len() == 0 || secret.len() > max {
            let why = format!(
                "{file} holds a {}-byte secret; {auth_type} takes 1 to {max} bytes (RFC 5880 §{section})",
                secret.len()
            );
            return (None, Some(why));
        }
    }
    (Some(secret), None)
}

/// An RFC 3339 time in UTC, `2027-03-01T00:00:00Z` (seconds; a fraction is
/// refused: lifetimes are whole seconds, as BIRD's).
pub fn parse_rfc3339(text: &str) -> Result<WallTime, String> {
    let bad = || format!("{text:?} is not a UTC time like \"2027-03-01T00:00:00Z\" (RFC 3339)");
    let bytes = text.as_bytes();
    if bytes.len() != 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't')
        || bytes[13] != b':'
        || bytes[16] != b':'
        || !matches!(bytes[19], b'Z' | b'z')
    {
        return Err(bad());
    }
    let number = |range: core::ops::Range<usize>| -> Result<u64, String> {
        let part = text.get(range).ok_or_else(bad)?;
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let leap = leap_year(year);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if year < 1970 || day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    // Days since 1970-01-01 (the proleptic Gregorian calendar).
    let mut days = 0u64;
    for y in 1970..year {
        days += if leap_year(y) { 366 } else { 365 };
    }
    for m in 1..month {
        days += match m {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            _ if leap => 29,
            _ => 28,
        };
    }
    days += day - 1;
    Ok(WallTime::from_unix_secs(days * 86_400 + hour * 3_600 + minute * 60 + second))
}

/// The Gregorian calendar's leap years.
fn leap_year(year: u64) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// `2027-03-01T00:00:00Z`: the inverse of [`parse_rfc3339`].
pub fn format_rfc3339(time: WallTime) -> String {
    let seconds = time.as_unix_secs();
    let (mut days, rest) = (seconds / 86_400, seconds % 86_400);
    let leap = leap_year;
    let mut year = 1970;
    while days >= if leap(year) { 366 } else { 365 } {
        days -= if leap(year) { 366 } else { 365 };
        year += 1;
    }
    let mut month = 1;
    loop {
        let length = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            _ if leap(year) => 29,
            _ => 28,
        };
        if days < length {
            break;
        }
        days -= length;
        month += 1;
    }
    format!(
        "{year:04}-{month:02}-{:02}T{:02}:{:02}:{:02}Z",
        days + 1,
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

impl PeerAuth {
    /// One line for `bfd-agent check`: the type, and each key's id, file,
    /// length and lifetimes; never a secret.
    pub fn describe(&self) -> String {
        let mut text = self.config.auth_type.as_str().to_owned();
        if self.config.sha1 == Sha1Construction::FrrHmacSha1 {
            text.push_str(" (FRR hmac-sha1 compatibility)");
        }
        text.push_str(&format!(" from BFDAuthentication {}:", self.name));
        for key in &self.config.keys {
            let file = self
                .secret_files
                .iter()
                .find(|(id, _)| *id == key.id)
                .map_or("?".to_owned(), |(_, file)| file.display().to_string());
            text.push_str(&format!(" key {} ({file}, {} bytes", key.id, key.secret.len()));
            for (word, lifetime) in [("send", key.send), ("accept", key.accept)] {
                if let Some(from) = lifetime.from {
                    text.push_str(&format!(", {word} from {}", format_rfc3339(from)));
                }
                if let Some(until) = lifetime.until {
                    text.push_str(&format!(", {word} until {}", format_rfc3339(until)));
                }
            }
            text.push(')');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        for text in
            ["1970-01-01T00:00:00Z", "2027-03-01T12:34:56Z", "2028-02-29T23:59:59Z", "2100-12-31T00:00:00Z"]
        {
            assert_eq!(format_rfc3339(parse_rfc3339(text).unwrap()), text);
        }
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(WallTime::from_unix_secs(0)));
        // `date -u -d 2027-03-01T12:34:56Z +%s`
        assert_eq!(parse_rfc3339("2027-03-01T12:34:56Z"), Ok(WallTime::from_unix_secs(1_803_904_496)));
        assert_eq!(parse_rfc3339("2028-02-29T00:00:00Z"), Ok(WallTime::from_unix_secs(1_835_395_200)));
        for bad in [
            "2027-02-29T00:00:00Z",
            "2027-03-01 00:00:00",
            "2027-03-01T00:00:00+01:00",
            "2027-13-01T00:00:00Z",
            "soon",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn auth_type_names() {
        assert_eq!(parse_auth_type("meticulous-keyed-sha1"), Some(AuthType::MeticulousKeyedSha1));
        assert_eq!(parse_auth_type("sha1"), None);
    }
}
