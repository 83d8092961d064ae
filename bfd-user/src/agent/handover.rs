//! One agent per pin path, and the handover from a running agent to its
//! successor (a DaemonSet surge: the new pod starts beside the old one).
//!
//! The agent that runs a pin path holds an abstract Unix socket named
//! after it (`@bfd-agent/handover<pin path>`, in the network namespace the
//! agent runs in: the node's). Binding it is the lock: only one process
//! can, and the kernel releases it when that process exits, however it
//! exits (SIGKILL included). bpffs holds only BPF objects, so the lock
//! cannot sit beside the pins as a file.
//!
//! A starting agent that finds the name taken is a successor. The
//! handshake, so that no two agents ever transmit for one session:
//!
//! 1. the successor connects and sends `HANDOVER <instance>`;
//! 2. the running agent stops its engine at a wake boundary (its adoption
//!    records are current: they are written whenever a session changes),
//!    leaves program, maps and sessions pinned, answers `HANDED-OVER
//!    <its instance>` and exits, which frees the name;
//! 3. the successor waits for the name to be free, binds it, and only then
//!    opens the control socket, adopts and starts transmitting.
//!
//! Kubernetes restarts a container that exits (a DaemonSet's pods restart
//! always), so the old pod's agent, handed over, starts again before the
//! old pod is deleted. It must not take the sessions back: an agent that
//! took over from instance X (`--instance`, the pod's UID in the
//! DaemonSet) answers a request from X with `WAIT` and keeps it as a
//! waiting successor. A waiting successor exits quietly on SIGTERM; it
//! takes over if the running agent hands over to it (`--on-stop auto` or
//! `handover` on SIGTERM) or exits without a word (then it adopts what is
//! left, as after a kill, or starts afresh).

use std::collections::HashMap;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bfd_session::Time;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tracing::{info, warn};

/// How long a successor waits for the agent that handed over to exit.
const EXIT_WAIT: Duration = Duration::from_secs(10);

/// The abstract socket name of `pin_path`'s owner. Abstract names are at
/// most 107 bytes: a longer path is named by its hash.
pub fn socket_name(pin_path: &Path) -> String {
    let path = pin_path.to_string_lossy();
    let name = format!("bfd-agent/handover{path}");
    if name.len() <= 100 {
        return name;
    }
    // FNV-1a: stable across builds, unlike std's hasher.
    let hash = path.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("bfd-agent/handover#{hash:016x}")
}

fn address(pin_path: &Path) -> anyhow::Result<SocketAddr> {
    SocketAddr::from_abstract_name(socket_name(pin_path).as_bytes()).context("the handover socket's name")
}

/// This process owns the pin path.
pub struct Owner {
    listener: UnixListener,
    /// The instance that handed its sessions to this one, if it named itself.
    took_over_from: Option<String>,
    /// When the agent that handed over sent each session's last packet
    /// (discriminator to `CLOCK_MONOTONIC`, shared by both processes).
    pub last_tx: HashMap<u32, Time>,
}

/// What a successor asking for the sessions is.
pub struct Successor {
    stream: tokio::net::UnixStream,
    /// Its `--instance`, if it has one.
    pub instance: String,
    /// Its process id.
    pub pid: Option<i32>,
}

impl Successor {
    /// Tells it the sessions are its: `handed_over` (the pins stay, for it
    /// to adopt) or not (taken AdminDown: it starts afresh).
    /// `last_tx`: when each session last transmitted here.
    pub async fn answer(mut self, handed_over: bool, own_instance: &str, last_tx: &[(u32, Time)]) {
        let line = if handed_over {
            let times: Vec<String> =
                last_tx.iter().map(|(discr, at)| format!("{discr}:{}", at.as_nanos())).collect();
            let instance = if own_instance.is_empty() { "-" } else { own_instance };
            format!("HANDED-OVER {instance} {}\n", times.join(","))
        } else {
            "ADMIN-DOWN\n".to_owned()
        };
        let _ = self.stream.write_all(line.as_bytes()).await;
        let _ = self.stream.flush().await;
    }

    /// Whether it is still there (its end not closed).
    fn alive(&self) -> bool {
        use nix::sys::socket::MsgFlags;
        use std::os::fd::AsRawFd as _;
        let mut byte = [0u8; 1];
        // A peek: end of file if it has gone, EAGAIN while it waits.
        matches!(
            nix::sys::socket::recv(
                self.stream.as_raw_fd(),
                &mut byte,
                MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT
            ),
            Err(nix::errno::Errno::EAGAIN)
        )
    }
}

/// Successors told to wait (the restarted agent of the instance this one
/// took over from): the first still there gets the sessions if this agent
/// hands over on SIGTERM.
#[derive(Clone, Default)]
pub struct Waiting(Arc<Mutex<Vec<Successor>>>);

impl Waiting {
    /// The first waiting successor still connected, if any.
    pub fn take_alive(&self) -> Option<Successor> {
        let mut waiting = self.0.lock().ok()?;
        while !waiting.is_empty() {
            let successor = waiting.remove(0);
            if successor.alive() {
                return Some(successor);
            }
        }
        None
    }
}

/// SIGTERM and SIGINT, caught from the start (a signal before a stream
/// exists would be lost), for the whole run.
pub struct Signals {
    /// SIGTERM.
    pub terminate: tokio::signal::unix::Signal,
    /// SIGINT.
    pub interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    /// Catches both; within a Tokio runtime.
    pub fn catch() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }
}

/// Claims `pin_path` for this process: at once if no agent runs it; else
/// asks the running one to hand over and waits until it has exited.
/// `None`: SIGTERM or SIGINT came while this agent waited (it exits
/// without touching anything).
pub async fn claim(pin_path: &Path, instance: &str, signals: &mut Signals) -> anyhow::Result<Option<Owner>> {
    let address = address(pin_path)?;
    let Signals { terminate, interrupt } = signals;
    loop {
        match UnixListener::bind_addr(&address) {
            Ok(listener) => {
                return Ok(Some(Owner { listener, took_over_from: None, last_tx: HashMap::new() }));
            }
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {}
            Err(error) => return Err(error).context("binding the handover socket"),
        }
        let stream = match UnixStream::connect_addr(&address) {
            Ok(stream) => stream,
            // It exited between our bind and connect: try again.
            Err(_) => continue,
        };
        stream.set_nonblocking(true)?;
        let mut stream = BufReader::new(tokio::net::UnixStream::from_std(stream)?);
        info!(pin_path = %pin_path.display(), "another agent runs this pin path: asking it to hand its sessions over");
        stream.get_mut().write_all(format!("HANDOVER {instance}\n").as_bytes()).await?;
        let mut took_over_from = None;
        let mut last_tx = HashMap::new();
        loop {
            let mut line = String::new();
            let read = tokio::select! {
                read = stream.read_line(&mut line) => read,
                _ = terminate.recv() => { info!("SIGTERM while waiting for the running agent: exiting, nothing touched"); return Ok(None); }
                _ = interrupt.recv() => { info!("SIGINT while waiting for the running agent: exiting, nothing touched"); return Ok(None); }
            };
            let mut words = line.split_whitespace();
            match (read, (words.next().unwrap_or(""), words.next().unwrap_or(""))) {
                (Ok(0) | Err(_), _) => {
                    info!("the running agent exited without handing over: taking what it left");
                    break;
                }
                (Ok(_), ("WAIT", _)) => info!(
                    "the running agent took its sessions over from this instance: waiting, until it stops or hands over"
                ),
                (Ok(_), ("HANDED-OVER", from)) => {
                    took_over_from = (!from.is_empty() && from != "-").then(|| from.to_owned());
                    last_tx = words
                        .next()
                        .unwrap_or("")
                        .split(',')
                        .filter_map(|pair| {
                            let (discr, nanos) = pair.split_once(':')?;
                            Some((discr.parse().ok()?, Time::from_nanos(nanos.parse().ok()?)))
                        })
                        .collect();
                    info!(
                        from_instance = from,
                        sessions = last_tx.len(),
                        "the running agent handed its sessions over"
                    );
                    break;
                }
                (Ok(_), ("ADMIN-DOWN", _)) => {
                    info!("the running agent took its sessions AdminDown: starting afresh");
                    break;
                }
                (Ok(_), _) => warn!(line = line.trim_end(), "the running agent said something unknown"),
            }
        }
        // The name is freed when the previous agent's process exits.
        let started = Instant::now();
        while started.elapsed() < EXIT_WAIT {
            match UnixListener::bind_addr(&address) {
                Ok(listener) => {
                    info!(
                        waited_ms = started.elapsed().as_millis() as u64,
                        "the previous agent has exited: this agent runs the pin path"
                    );
                    return Ok(Some(Owner { listener, took_over_from, last_tx }));
                }
                Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(error) => return Err(error).context("binding the handover socket"),
            }
        }
        warn!("the agent that handed over has not exited after 10 s: asking again");
    }
}

impl Owner {
    /// Answers successors from now on: a successor to hand over to at once
    /// comes out of the returned channel; one to keep waiting goes into
    /// `Waiting`.
    pub fn serve(self) -> anyhow::Result<(tokio::sync::mpsc::UnboundedReceiver<Successor>, Waiting)> {
        let Owner { listener, took_over_from, .. } = self;
        // The name must stay taken until this process has exited (its
        // sockets, its metrics port and its control socket's removal all
        // done): a copy of the descriptor is leaked, for the kernel to
        // close at exit, whatever the order the rest is dropped in.
        std::mem::forget(listener.try_clone().context("holding the handover socket")?);
        listener.set_nonblocking(true)?;
        let listener = tokio::net::UnixListener::from_std(listener)?;
        let (successors, requests) = tokio::sync::mpsc::unbounded_channel();
        let waiting = Waiting::default();
        let waiting_list = waiting.clone();
        tokio::spawn(async move {
            // The listener lives as long as the process: the name is freed
            // only when the process exits, after the engine has stopped.
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let pid = stream.peer_cred().ok().and_then(|cred| cred.pid());
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                let read = tokio::time::timeout(Duration::from_secs(1), reader.read_line(&mut line)).await;
                let Some(instance) = matches!(read, Ok(Ok(n)) if n > 0)
                    .then(|| line.trim_end().strip_prefix("HANDOVER"))
                    .flatten()
                else {
                    warn!(?pid, "a connection to the handover socket that did not ask for a handover");
                    continue;
                };
                let mut stream = reader.into_inner();
                let instance = instance.trim().to_owned();
                if took_over_from.as_deref().is_some_and(|from| !from.is_empty() && from == instance) {
                    info!(?pid, instance, "the instance this agent took over from started again: it waits");
                    let _ = stream.write_all(b"WAIT\n").await;
                    if let Ok(mut list) = waiting_list.0.lock() {
                        list.push(Successor { stream, instance, pid });
                    }
                    continue;
                }
                if successors.send(Successor { stream, instance, pid }).is_err() {
                    return;
                }
            }
        });
        Ok((requests, waiting))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pin_path_has_an_abstract_name_that_fits() {
        let short = socket_name(Path::new("/sys/fs/bpf/bfd"));
        assert_eq!(short, "bfd-agent/handover/sys/fs/bpf/bfd");
        let long = |tail: &str| socket_name(&Path::new("/sys/fs/bpf").join("x".repeat(120)).join(tail));
        assert!(long("a").len() <= 107, "{}", long("a"));
        assert_ne!(long("a"), long("b"), "distinct paths, distinct names");
        assert!(address(Path::new("/sys/fs/bpf/bfd")).is_ok());
    }
}
