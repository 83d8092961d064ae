//! The agent's HTTP endpoint: `/metrics`, `/healthz` and `/readyz`, served
//! by hyper on the agent's tokio runtime, never on the engine thread.
//!
//! A scrape asks its [`Source`] for a [`Scrape`] and renders it on Tokio's
//! blocking pool; the source reads what the engine published, so a scrape
//! never waits for the engine nor makes it do anything.
//!
//! Malformed requests get an HTTP error from hyper's parser (400, 431)
//! and cost only their connection; slow clients are cut after
//! [`HEADER_TIMEOUT`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tracing::{debug, warn};

use super::{Format, Options, Renderer, Scrape};

/// The default address: loopback (a DaemonSet on the host network must
/// not expose it to the node's network unasked), port 9784 ("BFD" 3784
/// moved to the 9xxx exporters' range), clear of MetalLB's 7472/7473 and
/// frr-k8s's 7572/7573.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:9784";

/// How long a client may take to send its request headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many connections are served at once; more wait in the
/// listen queue.
pub const MAX_CONNECTIONS: usize = 64;

/// Whether a part of the agent that readiness depends on is ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Not configured, so not waited for.
    NotConfigured,
    /// Configured and ready.
    Ready,
    /// Configured, not ready, and why.
    NotReady(String),
}

/// What the health endpoints look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// How long ago the engine thread last woke up (`None`: never).
    pub engine_last_wake: Option<Duration>,
    /// The longest the engine may go without waking when healthy.
    pub engine_wake_bound: Duration,
    /// Whether the configuration has been applied (at start; a failed
    /// reload keeps the running configuration applied).
    pub config_applied: bool,
    /// The XDP fast path, where interfaces are configured for it.
    pub fast_path: Readiness,
    /// FRR's data-plane channel, where configured.
    pub data_plane: Readiness,
    /// Why the last configuration reload failed, if it did (the running
    /// sessions are unchanged; fixing the files and reloading clears it).
    pub reload_error: Option<String>,
}

impl Health {
    /// `/healthz`: `Ok` with a line to say, or `Err` with why not.
    pub fn live(&self) -> Result<String, String> {
        match self.engine_last_wake {
            Some(age) if age <= self.engine_wake_bound => {
                Ok(format!("ok: the engine thread reported {} ms ago\n", age.as_millis()))
            }
            Some(age) => Err(format!(
                "the engine thread has not reported for {} ms (bound {} ms)\n",
                age.as_millis(),
                self.engine_wake_bound.as_millis()
            )),
            None => Err("the engine thread has not reported yet\n".to_owned()),
        }
    }

    /// `/readyz`: `Ok` or `Err` with every reason it is not ready.
    pub fn ready(&self) -> Result<String, String> {
        let mut reasons = Vec::new();
        if !self.config_applied {
            reasons.push("the configuration is not applied yet".to_owned());
        }
        if let Readiness::NotReady(why) = &self.fast_path {
            reasons.push(format!("fast path: {why}"));
        }
        if let Readiness::NotReady(why) = &self.data_plane {
            reasons.push(format!("FRR data-plane channel: {why}"));
        }
        if let Some(error) = &self.reload_error {
            reasons.push(format!(
                "the last configuration reload failed, the running sessions are unchanged: {}",
                error.replace('\n', "; ")
            ));
        }
        if let Err(why) = self.live() {
            reasons.push(why.trim_end().to_owned());
        }
        if reasons.is_empty() {
            Ok("ready\n".to_owned())
        } else {
            Err(reasons.into_iter().map(|reason| format!("not ready: {reason}\n")).collect())
        }
    }
}

/// Where the endpoint gets its data. Called from Tokio's blocking pool:
/// may read maps or take locks, but must not wait for the engine thread.
pub trait Source: Send + Sync + 'static {
    /// Everything a scrape shows, now.
    fn scrape(&self) -> Scrape;
    /// The health endpoints' view, now.
    fn health(&self) -> Health;
}

/// Binds `address`, with a message that names it when that fails.
pub async fn bind(address: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address).await.map_err(|error| {
        std::io::Error::new(error.kind(), format!("binding the metrics address {address}: {error}"))
    })
}

/// Serves `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, source: Arc<dyn Source>, options: Options) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let renderer = Arc::new(Renderer::new(options));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait, do not spin.
                warn!(%error, "accepting a metrics connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let source = source.clone();
        let renderer = renderer.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let source = source.clone();
                let renderer = renderer.clone();
                async move { Ok::<_, Infallible>(respond(request, source, renderer).await) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                debug!(%peer, %error, "metrics connection");
            }
            drop(permit);
        });
    }
}

async fn respond(
    request: Request<Incoming>,
    source: Arc<dyn Source>,
    renderer: Arc<Renderer>,
) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let head = request.method() == Method::HEAD;
    let mut response = match request.uri().path() {
        "/metrics" => {
            let format =
                Format::negotiate(request.headers().get(ACCEPT).and_then(|value| value.to_str().ok()));
            let rendered = tokio::task::spawn_blocking(move || {
                let started = std::time::Instant::now();
                let body = renderer.render(source.scrape(), format);
                debug!(
                    bytes = body.len(),
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "metrics: scrape read and rendered"
                );
                body
            })
            .await;
            match rendered {
                Ok(body) => {
                    let mut response = Response::new(Full::new(Bytes::from(body)));
                    response
                        .headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
                    response
                }
                Err(error) => {
                    warn!(%error, "rendering the metrics");
                    text(StatusCode::INTERNAL_SERVER_ERROR, "the metrics could not be rendered\n")
                }
            }
        }
        "/healthz" | "/readyz" => {
            let ready = request.uri().path() == "/readyz";
            let checked = tokio::task::spawn_blocking(move || {
                let health = source.health();
                if ready { health.ready() } else { health.live() }
            })
            .await
            .unwrap_or_else(|error| Err(format!("the health check failed: {error}\n")));
            match checked {
                Ok(body) => text(StatusCode::OK, &body),
                Err(body) => text(StatusCode::SERVICE_UNAVAILABLE, &body),
            }
        }
        "/" => text(StatusCode::OK, "bfd-agent: /metrics, /healthz, /readyz\n"),
        _ => text(StatusCode::NOT_FOUND, "not found: try /metrics, /healthz or /readyz\n"),
    };
    if head {
        *response.body_mut() = Full::new(Bytes::new());
    }
    response
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::sync::Mutex;

    use super::*;

    struct Fixed {
        scrape: Scrape,
        health: Mutex<Health>,
    }

    impl Source for Fixed {
        fn scrape(&self) -> Scrape {
            self.scrape.clone()
        }
        fn health(&self) -> Health {
            self.health.lock().unwrap().clone()
        }
    }

    fn healthy() -> Health {
        Health {
            engine_last_wake: Some(Duration::from_millis(5)),
            engine_wake_bound: Duration::from_secs(2),
            config_applied: true,
            fast_path: Readiness::Ready,
            data_plane: Readiness::NotConfigured,
            reload_error: None,
        }
    }

    /// Starts a server on a loopback port in a thread of its own; returns
    /// its address and the source, whose health the test may change.
    fn start(options: Options) -> (SocketAddr, Arc<Fixed>) {
        let mut scrape = Scrape::default();
        scrape.agent.engine_wakeups = 42;
        let source = Arc::new(Fixed { scrape, health: Mutex::new(healthy()) });
        let (tx, rx) = std::sync::mpsc::channel();
        let serving: Arc<dyn Source> = source.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                serve(listener, serving, options).await;
            });
        });
        (rx.recv().unwrap(), source)
    }

    /// Sends `request` as is and returns the whole response.
    fn exchange(address: SocketAddr, request: &[u8]) -> String {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream.write_all(request).unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        String::from_utf8_lossy(&response).into_owned()
    }

    fn get(address: SocketAddr, path: &str, accept: Option<&str>) -> String {
        let accept = accept.map(|value| format!("Accept: {value}\r\n")).unwrap_or_default();
        exchange(
            address,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n{accept}Connection: close\r\n\r\n").as_bytes(),
        )
    }

    #[test]
    fn serves_metrics_in_the_format_asked_for() {
        let (address, _) = start(Options::default());
        let open = get(address, "/metrics", None);
        assert!(open.starts_with("HTTP/1.1 200"), "{open}");
        assert!(open.contains("content-type: application/openmetrics-text; version=1.0.0"), "{open}");
        assert!(open.contains("\nbfd_engine_wakeups_total 42\n") && open.ends_with("# EOF\n"), "{open}");
        let classic = get(address, "/metrics", Some("text/plain;version=0.0.4"));
        assert!(classic.contains("content-type: text/plain; version=0.0.4"), "{classic}");
        assert!(classic.contains("# TYPE bfd_engine_wakeups_total counter\n"), "{classic}");
        assert!(!classic.contains("# EOF"), "{classic}");
    }

    #[test]
    fn health_and_readiness() {
        let (address, source) = start(Options::default());
        assert!(get(address, "/healthz", None).starts_with("HTTP/1.1 200"));
        assert!(get(address, "/readyz", None).starts_with("HTTP/1.1 200"));
        source.health.lock().unwrap().data_plane = Readiness::NotReady("not connected".into());
        let not_ready = get(address, "/readyz", None);
        assert!(not_ready.starts_with("HTTP/1.1 503"), "{not_ready}");
        assert!(not_ready.contains("FRR data-plane channel: not connected"), "{not_ready}");
        assert!(get(address, "/healthz", None).starts_with("HTTP/1.1 200"), "alive while not ready");
        source.health.lock().unwrap().engine_last_wake = Some(Duration::from_secs(3));
        let stuck = get(address, "/healthz", None);
        assert!(
            stuck.starts_with("HTTP/1.1 503") && stuck.contains("has not reported for 3000 ms"),
            "{stuck}"
        );
        *source.health.lock().unwrap() = Health { config_applied: false, ..healthy() };
        assert!(get(address, "/readyz", None).contains("configuration is not applied"));
        let error = "metallb.yaml:4: spec.detectMultiplier: must be 2 to 255".to_owned();
        *source.health.lock().unwrap() = Health { reload_error: Some(error), ..healthy() };
        let refused = get(address, "/readyz", None);
        assert!(
            refused.starts_with("HTTP/1.1 503") && refused.contains("spec.detectMultiplier"),
            "{refused}"
        );
    }

    #[test]
    fn malformed_requests_get_an_http_error_and_the_server_goes_on() {
        let (address, _) = start(Options::default());
        let cases: [(&[u8], &str); 6] = [
            (b"GARBAGE\r\n\r\n", "HTTP/1.1 400"),
            (b"GET /metrics HTTP/9.9\r\n\r\n", "HTTP/1.1 400"),
            (b"GET /metrics HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", "HTTP/1.1 400"),
            (b"\x00\xff\xfe\r\n\r\n", "HTTP/1.1 400"),
            (
                b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                "HTTP/1.1 405",
            ),
            (b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 404"),
        ];
        for (request, status) in cases {
            let response = exchange(address, request);
            assert!(response.starts_with(status), "{:?}: {response:?}", String::from_utf8_lossy(request));
        }
        // Headers far too large.
        let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(1 << 20));
        let response = exchange(address, huge.as_bytes());
        assert!(response.starts_with("HTTP/1.1 431") || response.is_empty(), "{response:?}");
        // A client that connects and goes away.
        drop(std::net::TcpStream::connect(address).unwrap());
        // Still serving.
        assert!(get(address, "/metrics", None).starts_with("HTTP/1.1 200"));
    }
}
