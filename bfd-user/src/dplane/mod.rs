//! FRR's distributed BFD data plane: the agent runs the sessions FRR's bfdd
//! configures (`bfdd --dplaneaddr`), so bgpd, staticd and the rest of FRR
//! keep their BFD configuration and get their notifications from bfdd as
//! always, while the packets, timers and detection are ours (and the
//! kernel's).
//!
//! - [`wire`]: the channel's messages.
//! - [`registry`]: bfdd's sessions as the engine runs them, reconciled
//!   across reconnects and bfdd restarts.
//! - [`Address`]: bfdd's own address syntax, so the same string is given to
//!   both sides.

pub mod registry;
pub mod wire;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

/// Where the channel is, in bfdd's `--dplaneaddr` syntax. bfdd's `unix:`,
/// `ipv4:` and `ipv6:` mean bfdd listens, so the agent connects; `unixc:`,
/// `ipv4c:` and `ipv6c:` mean bfdd connects, so the agent listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// The agent connects (bfdd listens).
    pub connect: bool,
    /// The socket address.
    pub endpoint: Endpoint,
}

/// A stream socket's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A UNIX socket path.
    Unix(PathBuf),
    /// A TCP address.
    Tcp(SocketAddr),
}

impl FromStr for Address {
    type Err = String;

    fn from_str(text: &str) -> Result<Address, String> {
        let (kind, rest) = text.split_once(':').ok_or_else(|| {
            format!("{text:?}: expected bfdd's --dplaneaddr syntax: unix:PATH, ipv4:ADDR[:PORT], ipv6:[ADDR][:PORT], or unixc:/ipv4c:/ipv6c: when bfdd connects")
        })?;
        let (family, connect) = match kind.strip_suffix('c') {
            Some(family @ ("unix" | "ipv4" | "ipv6")) => (family, false),
            _ => (kind, true),
        };
        let endpoint = match family {
            "unix" => {
                if rest.is_empty() {
                    return Err(format!("{text:?}: no socket path"));
                }
                Endpoint::Unix(PathBuf::from(rest))
            }
            "ipv4" => {
                let (address, port) = match rest.split_once(':') {
                    Some((address, port)) => (address, parse_port(text, port)?),
                    None => (rest, wire::DEFAULT_PORT),
                };
                let address: std::net::Ipv4Addr =
                    address.parse().map_err(|_| format!("{text:?}: {address:?} is not an IPv4 address"))?;
                Endpoint::Tcp(SocketAddr::new(IpAddr::V4(address), port))
            }
            "ipv6" => {
                let inner =
                    rest.strip_prefix('[').and_then(|inner| inner.split_once(']')).ok_or_else(|| {
                        format!("{text:?}: write the IPv6 address in brackets: ipv6:[ADDR]:PORT")
                    })?;
                let port = match inner.1 {
                    "" => wire::DEFAULT_PORT,
                    port => parse_port(text, port.strip_prefix(':').unwrap_or(port))?,
                };
                let address: std::net::Ipv6Addr =
                    inner.0.parse().map_err(|_| format!("{text:?}: {:?} is not an IPv6 address", inner.0))?;
                Endpoint::Tcp(SocketAddr::new(IpAddr::V6(address), port))
            }
            other => {
                return Err(format!(
                    "{text:?}: unknown kind {other:?} (unix, ipv4, ipv6, or unixc, ipv4c, ipv6c)"
                ));
            }
        };
        Ok(Address { connect, endpoint })
    }
}

fn parse_port(text: &str, port: &str) -> Result<u16, String> {
    port.parse::<u16>()
        .ok()
        .filter(|&port| port != 0)
        .ok_or_else(|| format!("{text:?}: {port:?} is not a port"))
}

/// bfdd's syntax again.
impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = if self.connect { "" } else { "c" };
        match &self.endpoint {
            Endpoint::Unix(path) => write!(f, "unix{suffix}:{}", path.display()),
            Endpoint::Tcp(SocketAddr::V4(v4)) => write!(f, "ipv4{suffix}:{}:{}", v4.ip(), v4.port()),
            Endpoint::Tcp(SocketAddr::V6(v6)) => write!(f, "ipv6{suffix}:[{}]:{}", v6.ip(), v6.port()),
        }
    }
}
