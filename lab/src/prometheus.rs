//! A real Prometheus (Debian's `prometheus` package) for the metrics
//! tests: started in a namespace on a loopback port, scraping targets in
//! that namespace every second, and asked through its HTTP API from inside
//! the namespace.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::e2e::TempDir;
use crate::harness::log_on_failure;
use crate::lab::{NetNs, wait_for};

/// A running Prometheus; stopped (and its data removed) when dropped.
pub struct Prometheus {
    child: Child,
    netns_path: PathBuf,
    port: u16,
    dir: TempDir,
}

impl Prometheus {
    /// Starts Prometheus in `netns` on `127.0.0.1:port`, scraping each of
    /// `targets` (`IP:PORT`) every second, and waits until it answers.
    pub fn start(netns: &NetNs, port: u16, targets: &[&str]) -> anyhow::Result<Prometheus> {
        let dir = TempDir::new("prom")?;
        let targets: Vec<String> = targets.iter().map(|target| format!("'{target}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: bfd\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        );
        std::fs::write(dir.join("prometheus.yml"), config)?;
        let log = std::fs::File::create(dir.join("prometheus.log"))?;
        let child = netns
            .command("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting prometheus (Debian package prometheus; cargo xtask setup installs it)")?;
        let prometheus = Prometheus { child, netns_path: netns.path(), port, dir };
        wait_for("Prometheus ready", Duration::from_secs(20), || {
            Ok(prometheus.get("/-/ready").ok().filter(|body| body.contains("Ready")).map(|_| ()))
        })?;
        Ok(prometheus)
    }

    /// `GET path` on Prometheus' HTTP API, from inside its namespace;
    /// returns the body of a 200 answer.
    pub fn get(&self, path: &str) -> anyhow::Result<String> {
        let file = std::fs::File::open(&self.netns_path)?;
        let (port, path) = (self.port, path.to_owned());
        std::thread::spawn(move || -> anyhow::Result<String> {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)?;
            http_get(("127.0.0.1", port), &path)
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the HTTP client thread panicked"))?
    }

    /// Evaluates the PromQL `expression` now: each series' labels and
    /// value.
    pub fn query(&self, expression: &str) -> anyhow::Result<Vec<(Value, f64)>> {
        let body = self.get(&format!("/api/v1/query?query={}", percent_encode(expression)))?;
        let answer: Value =
            serde_json::from_str(&body).with_context(|| format!("Prometheus answered {body}"))?;
        if answer["status"] != "success" {
            bail!("{expression}: {answer}");
        }
        let mut series = Vec::new();
        for item in answer["data"]["result"].as_array().into_iter().flatten() {
            let value = item["value"][1].as_str().context("a sample value")?;
            series.push((item["metric"].clone(), value.parse::<f64>()?));
        }
        Ok(series)
    }

    /// The one value of `expression`, if it has exactly one series.
    pub fn value(&self, expression: &str) -> anyhow::Result<Option<f64>> {
        let series = self.query(expression)?;
        Ok((series.len() == 1).then(|| series[0].1))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        log_on_failure("prometheus", &self.dir.join("prometheus.log"));
    }
}

/// A plain HTTP/1.1 GET (`Connection: close`): the body of a 200 answer.
pub fn http_get(address: (&str, u16), path: &str) -> anyhow::Result<String> {
    let (status, body) = http_request(address, path)?;
    if !status.starts_with("HTTP/1.1 200") {
        bail!("GET {path}: {status}");
    }
    Ok(body)
}

/// A plain HTTP/1.1 GET (`Connection: close`): the status line and the
/// body, whatever the status.
pub fn http_request(address: (&str, u16), path: &str) -> anyhow::Result<(String, String)> {
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", address.0)?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").context("no end of headers")?;
    let status = head.lines().next().unwrap_or_default().to_owned();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return Ok((status, dechunk(body)));
    }
    Ok((status, body.to_owned()))
}

/// The body of a chunked response.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// `text` percent-encoded for a URL query value (RFC 3986 unreserved
/// characters kept).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
