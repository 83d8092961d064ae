//! The control socket between a running `bfd-agent` and its CLI (`bfd-agent
//! show peers`, ...).
//!
//! A UNIX stream socket, by default [`DEFAULT_CONTROL_SOCKET`], mode 0600
//! in a directory the agent creates with mode 0700: only the agent's user
//! (root) may talk to it. Each connection carries one exchange: the client
//! writes one [`Request`] as a JSON line, the agent answers one
//! [`Response`] as a JSON line and closes. Several agents on one machine
//! each need their own socket (`--control-socket PATH`).
//!
//! The agent side is [`bind`] and [`serve`]; the CLI side is [`query`].

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use crate::show::PeerReport;

/// Where the agent listens unless told otherwise (`--control-socket`).
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/bfd-agent/control.sock";

/// How long [`query`] waits for the agent's answer.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the agent waits for a client's request line before giving up
/// on the connection.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest request line the agent reads; a request is a few bytes.
const MAX_REQUEST_BYTES: u64 = 64 * 1024;

/// The longest answer the CLI reads (about 16384 sessions' reports).
const MAX_RESPONSE_BYTES: u64 = 256 * 1024 * 1024;

/// What the CLI asks the agent.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Request {
    /// Every session's [`PeerReport`] (`show peers`, `brief`, `counters`).
    ShowPeers,
    /// The agent's own state.
    Status,
    /// Re-read the configuration files now (as on SIGHUP).
    Reload,
}

/// The agent's own state.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentStatus {
    /// The agent's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// Seconds since the agent started.
    pub uptime_secs: u64,
    /// Where the fast path runs, e.g. "xdp native on eth0" or "off:
    /// userspace".
    pub fast_path: String,
    /// Sessions configured.
    pub sessions: usize,
    /// Sessions Up, counted by the engine when asked. `None` from an agent
    /// older than this field.
    #[serde(default)]
    pub sessions_up: Option<usize>,
    /// Control packets the kernel dropped at the agent's receive sockets
    /// because their buffers were full (`SO_RXQ_OVFL`), since it started.
    /// `None` from an agent older than this field.
    #[serde(default)]
    pub receive_dropped: Option<u64>,
    /// The configuration files read.
    pub config_files: Vec<String>,
    /// How the control packets left (`--transmit`): frames on the packet
    /// path, datagrams through IP output, fallbacks and refusals. (Absent
    /// from an older agent's answer: zero.)
    #[serde(default)]
    pub transmit: crate::transmit::TransmitCounters,
}

/// The agent's answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Response {
    /// Answers [`Request::ShowPeers`].
    Peers(Vec<PeerReport>),
    /// Answers [`Request::Status`].
    Status(AgentStatus),
    /// Answers [`Request::Reload`]: what the reload changed.
    Reloaded {
        /// For the operator, e.g. "2 sessions added, 1 changed".
        summary: String,
    },
    /// The request could not be served: why.
    Error(String),
}

/// What the agent does with a request. It runs on Tokio's blocking pool,
/// so it may block, for example to wait for the agent's event loop to
/// answer over a channel (`blocking_recv`).
pub type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync>;

/// Errors of [`query`], each saying what the operator can do about it.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Nothing listens on the socket.
    #[error("no agent is listening on {}: is bfd-agent running? (--control-socket PATH)", path.display())]
    NotRunning {
        /// The socket.
        path: PathBuf,
    },
    /// The socket is not ours to use.
    #[error(
        "permission denied on {}: the control socket is mode 0600, run this as the agent's user (root)",
        path.display()
    )]
    PermissionDenied {
        /// The socket.
        path: PathBuf,
    },
    /// The agent did not answer in time.
    #[error("bfd-agent on {} did not answer within {} s", path.display(), timeout.as_secs_f64())]
    Timeout {
        /// The socket.
        path: PathBuf,
        /// How long we waited.
        timeout: Duration,
    },
    /// The agent closed the connection without answering.
    #[error("bfd-agent on {} closed the connection without answering (see its log)", path.display())]
    NoAnswer {
        /// The socket.
        path: PathBuf,
    },
    /// The answer is not one this CLI understands.
    #[error(
        "bfd-agent on {} answered something this bfd-agent cannot read (are both the same version?): {source}",
        path.display()
    )]
    Malformed {
        /// The socket.
        path: PathBuf,
        /// What serde said.
        source: serde_json::Error,
    },
    /// Any other I/O error talking to the socket.
    #[error("control socket {}: {source}", path.display())]
    Io {
        /// The socket.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// Creates the agent's control socket at `path`, ready for [`serve`].
///
/// Creates the parent directory (mode 0700) if it is missing, removes a
/// stale socket left by an agent that is gone, refuses to take over a
/// socket on which an agent still listens or a path that is not a socket,
/// binds, and restricts the socket to its owner (mode 0600). Must be called
/// within a Tokio runtime.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(io::Error::other("control::bind must be called within a Tokio runtime"));
    }
    let missing_parent = path.parent().filter(|parent| !parent.as_os_str().is_empty() && !parent.exists());
    if let Some(parent) = missing_parent {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|error| annotate(error, format!("cannot create the directory {}", parent.display())))?;
    }
    remove_stale_socket(path)?;
    let listener = std::os::unix::net::UnixListener::bind(path)
        .map_err(|error| annotate(error, format!("cannot bind the control socket {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|error| annotate(error, format!("cannot set mode 0600 on {}", path.display())))?;
    listener.set_nonblocking(true)?;
    UnixListener::from_std(listener)
}

/// Removes the socket at `path` if nothing listens on it any more.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(annotate(error, format!("cannot inspect {}", path.display()))),
    };
    if !metadata.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket; not removing it (--control-socket PATH)", path.display()),
        ));
    }
    match StdUnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "another bfd-agent is listening on {}; give this one its own socket with --control-socket PATH",
                path.display()
            ),
        )),
        // Nobody listens: a socket left by an agent that is gone.
        Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path)
            .map_err(|error| annotate(error, format!("cannot remove the stale socket {}", path.display()))),
        Err(error) => Err(annotate(error, format!("cannot check whether {} is in use", path.display()))),
    }
}

/// `error` with `context` before its message, of the same kind.
fn annotate(error: io::Error, context: String) -> io::Error {
    io::Error::new(error.kind(), format!("{context}: {error}"))
}

/// Serves requests on `listener` forever, each connection in its own task;
/// each request is answered by `handler`. A malformed request gets a
/// [`Response::Error`]; a failed connection or a panicking handler affects
/// only its own connection.
pub async fn serve(listener: UnixListener, handler: Handler) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(stream, Arc::clone(&handler)));
            }
            Err(error) => {
                // Out of descriptors or memory: wait instead of spinning.
                tracing::warn!(%error, "control socket: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One exchange: read a request line, answer it, close.
async fn serve_connection(stream: UnixStream, handler: Handler) {
    let (reader, mut writer) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(reader.take(MAX_REQUEST_BYTES));
    let read = tokio::time::timeout(REQUEST_READ_TIMEOUT, reader.read_line(&mut line)).await;
    let response = match read {
        Err(_) => {
            tracing::debug!("control socket: no request within {REQUEST_READ_TIMEOUT:?}");
            return;
        }
        Ok(Err(error)) => Response::Error(format!("cannot read the request: {error}")),
        Ok(Ok(_)) => match serde_json::from_str::<Request>(line.trim()) {
            Ok(request) => {
                let handler = Arc::clone(&handler);
                match tokio::task::spawn_blocking(move || handler(request)).await {
                    Ok(response) => response,
                    Err(error) => {
                        tracing::error!(%error, "control socket: the request handler failed");
                        Response::Error("the agent failed to answer this request (see its log)".to_owned())
                    }
                }
            }
            Err(error) => Response::Error(format!("malformed request: {error}")),
        },
    };
    let mut bytes = match serde_json::to_vec(&response) {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::error!(%error, "control socket: cannot encode the response");
            serde_json::to_vec(&Response::Error(format!("cannot encode the response: {error}")))
                .unwrap_or_default()
        }
    };
    bytes.push(b'\n');
    if let Err(error) = writer.write_all(&bytes).await {
        tracing::debug!(%error, "control socket: the client left before the answer");
        return;
    }
    let _ = writer.shutdown().await;
}

/// Asks the agent listening on `path` (blocking), waiting at most
/// [`DEFAULT_QUERY_TIMEOUT`] for its answer.
pub fn query(path: &Path, request: &Request) -> Result<Response, ControlError> {
    query_with_timeout(path, request, DEFAULT_QUERY_TIMEOUT)
}

/// [`query`] with its own timeout for each read and write.
pub fn query_with_timeout(
    path: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<Response, ControlError> {
    let io_error = |source: io::Error| match source.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            ControlError::Timeout { path: path.to_owned(), timeout }
        }
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => {
            ControlError::NoAnswer { path: path.to_owned() }
        }
        _ => ControlError::Io { path: path.to_owned(), source },
    };
    let mut stream = StdUnixStream::connect(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            ControlError::NotRunning { path: path.to_owned() }
        }
        io::ErrorKind::PermissionDenied => ControlError::PermissionDenied { path: path.to_owned() },
        _ => ControlError::Io { path: path.to_owned(), source },
    })?;
    stream.set_read_timeout(Some(timeout)).map_err(io_error)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_error)?;

    let mut line = serde_json::to_vec(request)
        .map_err(|source| ControlError::Malformed { path: path.to_owned(), source })?;
    line.push(b'\n');
    stream.write_all(&line).map_err(io_error)?;

    let mut answer = String::new();
    BufReader::new((&stream).take(MAX_RESPONSE_BYTES)).read_line(&mut answer).map_err(io_error)?;
    if answer.trim().is_empty() {
        return Err(ControlError::NoAnswer { path: path.to_owned() });
    }
    serde_json::from_str(answer.trim())
        .map_err(|source| ControlError::Malformed { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::show::{PeerCounters, PeerState};

    fn report() -> PeerReport {
        PeerReport {
            peer: "10.0.0.1".parse::<IpAddr>().unwrap(),
            local: Some("10.0.0.2".parse().unwrap()),
            interface: Some("eth0".into()),
            vrf: "default".into(),
            multihop: false,
            profile: Some("balanced".into()),
            passive: false,
            minimum_ttl: None,
            local_discr: 7,
            remote_discr: 9,
            state: PeerState::Up,
            since_secs: 42,
            diagnostic: "ok".into(),
            remote_diagnostic: "ok".into(),
            detect_mult: 3,
            receive_interval_us: 3_300,
            transmit_interval_us: 200_000,
            echo_receive_interval_us: Some(50_000),
            echo_transmit_interval_us: None,
            remote_detect_mult: 3,
            remote_receive_interval_us: 200_000,
            remote_transmit_interval_us: 200_000,
            remote_echo_receive_interval_us: None,
            rtt: None,
            counters: PeerCounters { control_packet_input: 10, ..Default::default() },
            fast_path: true,
            control_absorbed_in_kernel: 8,
            control_seen_in_userspace: 2,
            takeovers: 0,
            largest_rx_gap_since_up_us: Some(201_000),
            echo_rtt_us: None,
            last_down: None,
        }
    }

    fn status() -> AgentStatus {
        AgentStatus {
            version: "0.1.0".into(),
            uptime_secs: 3,
            fast_path: "xdp native on eth0".into(),
            sessions: 1,
            sessions_up: Some(1),
            receive_dropped: Some(0),
            config_files: vec!["/etc/bfd-agent/bfd.yaml".into()],
            transmit: crate::transmit::TransmitCounters {
                packet_path: true,
                frames: 40,
                ip_output: 2,
                fallback_unresolved: 1,
                fallback_stale: 1,
                ..Default::default()
            },
        }
    }

    /// The agent side of the tests: a handler that answers every request
    /// kind, or panics on Reload when `panic_on_reload`.
    fn fake_handler(panic_on_reload: bool) -> Handler {
        Arc::new(move |request| match request {
            Request::ShowPeers => Response::Peers(vec![report()]),
            Request::Status => Response::Status(status()),
            Request::Reload if panic_on_reload => panic!("the handler fails"),
            Request::Reload => Response::Reloaded { summary: "1 session changed".into() },
        })
    }

    /// Binds `path` and serves it with `handler` on a thread of its own
    /// (the client is blocking); returns once the socket is bound.
    fn spawn_agent(path: &Path, handler: Handler) {
        let path = path.to_owned();
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(async move {
                let listener = bind(&path);
                let listener = match listener {
                    Ok(listener) => {
                        bound_tx.send(Ok(())).expect("the test waits");
                        listener
                    }
                    Err(error) => {
                        bound_tx.send(Err(error)).expect("the test waits");
                        return;
                    }
                };
                serve(listener, handler).await;
            });
        });
        bound_rx.recv().expect("the agent thread answers").expect("bind succeeds");
    }

    /// Binds `path` in a runtime of its own and returns the result.
    fn try_bind(path: &Path) -> io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async { bind(path).map(drop) })
    }

    fn raw_exchange(path: &Path, bytes: &[u8]) -> String {
        let mut stream = StdUnixStream::connect(path).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream.write_all(bytes).expect("write");
        stream.shutdown(std::net::Shutdown::Write).expect("shutdown");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        answer
    }

    #[test]
    fn control_round_trip_of_each_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        spawn_agent(&path, fake_handler(false));

        assert_eq!(query(&path, &Request::ShowPeers).unwrap(), Response::Peers(vec![report()]));
        assert_eq!(query(&path, &Request::Status).unwrap(), Response::Status(status()));
        assert_eq!(
            query(&path, &Request::Reload).unwrap(),
            Response::Reloaded { summary: "1 session changed".into() }
        );
    }

    #[test]
    fn control_wire_format_is_one_json_line_each_way() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        spawn_agent(&path, fake_handler(false));
        assert_eq!(serde_json::to_string(&Request::ShowPeers).unwrap(), "\"ShowPeers\"");
        let answer = raw_exchange(&path, b"\"Reload\"\n");
        assert_eq!(answer, "{\"Reloaded\":{\"summary\":\"1 session changed\"}}\n");
    }

    #[test]
    fn control_malformed_requests_get_an_error_and_the_server_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        spawn_agent(&path, fake_handler(false));

        for garbage in [&b"not json\n"[..], b"\"Frobnicate\"\n", b"{\"ShowPeers\":1}\n", b"\n", b"\xff\xfe\n"]
        {
            let answer = raw_exchange(&path, garbage);
            let response: Response = serde_json::from_str(answer.trim()).expect("a Response");
            assert!(
                matches!(&response, Response::Error(message) if message.contains("request")),
                "{garbage:?} -> {response:?}"
            );
        }
        // A client that leaves without a word does not bother the server.
        drop(StdUnixStream::connect(&path).unwrap());
        assert_eq!(query(&path, &Request::Status).unwrap(), Response::Status(status()));
    }

    #[test]
    fn control_handler_panic_is_an_error_response() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        spawn_agent(&path, fake_handler(true));
        let response = query(&path, &Request::Reload).unwrap();
        assert!(matches!(response, Response::Error(_)), "{response:?}");
        assert_eq!(query(&path, &Request::Status).unwrap(), Response::Status(status()));
    }

    #[test]
    fn control_many_clients_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        spawn_agent(
            &path,
            Arc::new(move |_| {
                counted.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                Response::Status(status())
            }),
        );
        let clients: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || query(&path, &Request::Status))
            })
            .collect();
        for client in clients {
            assert_eq!(client.join().unwrap().unwrap(), Response::Status(status()));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 8);
    }

    #[test]
    fn control_socket_mode_0600_in_a_new_directory_0700() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/bfd-agent/control.sock");
        spawn_agent(&path, fake_handler(false));
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(&dir.path().join("run")), 0o700);
    }

    #[test]
    fn control_existing_directory_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("control.sock");
        spawn_agent(&path, fake_handler(false));
        assert_eq!(std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777, 0o755);
    }

    #[test]
    fn control_stale_socket_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        // An agent that died: its socket file stays, nobody listens.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        assert!(matches!(query(&path, &Request::Status), Err(ControlError::NotRunning { .. })));
        spawn_agent(&path, fake_handler(false));
        assert_eq!(query(&path, &Request::Status).unwrap(), Response::Status(status()));
    }

    #[test]
    fn control_socket_in_use_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        spawn_agent(&path, fake_handler(false));
        let error = try_bind(&path).expect_err("a second agent on the same socket");
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
        let message = error.to_string();
        assert!(message.contains("another bfd-agent") && message.contains("--control-socket"), "{message}");
        // The first agent still answers.
        assert_eq!(query(&path, &Request::Status).unwrap(), Response::Status(status()));
    }

    #[test]
    fn control_path_that_is_not_a_socket_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        std::fs::write(&path, "precious").unwrap();
        let error = try_bind(&path).expect_err("not a socket");
        assert!(error.to_string().contains("not a socket"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    }

    #[test]
    fn control_bind_outside_a_runtime_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = bind(&dir.path().join("control.sock")).expect_err("no runtime");
        assert!(error.to_string().contains("Tokio runtime"), "{error}");
    }

    #[test]
    fn control_client_errors_tell_the_operator_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let error = query(&path, &Request::ShowPeers).expect_err("no agent");
        assert!(matches!(error, ControlError::NotRunning { .. }));
        assert_eq!(
            error.to_string(),
            format!(
                "no agent is listening on {}: is bfd-agent running? (--control-socket PATH)",
                path.display()
            )
        );
    }

    #[test]
    fn control_client_times_out_on_a_silent_agent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        // Accepts (the kernel queues the connection) but never answers.
        let _silent = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let error =
            query_with_timeout(&path, &Request::Status, Duration::from_millis(100)).expect_err("no answer");
        assert!(matches!(error, ControlError::Timeout { .. }), "{error:?}");
        assert!(error.to_string().contains("did not answer within 0.1 s"), "{error}");
    }

    #[test]
    fn control_client_reports_a_closed_connection_and_a_garbled_answer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let agent = std::thread::spawn(move || {
            // First: read the request and close without answering.
            // Second: answer garbage.
            for answer in [&b""[..], b"{\"Nonsense\":true}\n"] {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = String::new();
                BufReader::new(&stream).read_line(&mut request).unwrap();
                stream.write_all(answer).unwrap();
            }
        });
        let first = query(&path, &Request::Status).expect_err("closed");
        assert!(matches!(first, ControlError::NoAnswer { .. }), "{first:?}");
        let second = query(&path, &Request::Status).expect_err("garbled");
        assert!(matches!(second, ControlError::Malformed { .. }), "{second:?}");
        agent.join().unwrap();
    }
}
