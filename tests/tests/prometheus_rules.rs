//! `deploy/prometheus` and `deploy/grafana` checked by Prometheus' own
//! tool (no root): the alert rules are valid and `promtool test rules`
//! passes on series reproducing each alert (and healthy ones that must not
//! fire); the PrometheusRule is the rules file, indented; every query of
//! the Grafana dashboard is valid PromQL. (That the names they use are the
//! agent's is checked against a real scrape in `agent_metrics`.)
//!
//! Tools: promtool (Debian package prometheus).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, ensure};
use bfd_lab::e2e::TempDir;
use serde_json::Value;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the repository").to_owned()
}

/// Runs promtool with `args` in `directory`; its output if it succeeded.
fn promtool(directory: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(directory)
        .output()
        .context("running promtool (Debian package prometheus; cargo xtask setup installs it)")?;
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    ensure!(output.status.success(), "promtool {args:?} failed:\n{text}");
    Ok(text)
}

#[bfd_lab::test]
fn the_alert_rules_fire_on_the_series_that_reproduce_each_alert() -> anyhow::Result<()> {
    let directory = repository().join("deploy/prometheus");
    let checked = promtool(&directory, &["check", "rules", "bfd-rules.yaml"])?;
    ensure!(checked.contains("SUCCESS: 7 rules found"), "{checked}");
    let tested = promtool(&directory, &["test", "rules", "bfd-rules.test.yaml"])?;
    ensure!(tested.contains("SUCCESS"), "{tested}");
    // Every alert has a test.
    let tests = std::fs::read_to_string(directory.join("bfd-rules.test.yaml"))?;
    for alert in [
        "BFDSessionDown",
        "BFDSessionFlapping",
        "BFDDetectionOvershootHigh",
        "BFDKernelDropsRising",
        "BFDReceiveDropsRising",
        "BFDEngineLate",
        "BFDAuthenticationFailing",
    ] {
        ensure!(tests.contains(&format!("alertname: {alert}\n")), "no test for {alert}");
    }
    Ok(())
}

#[bfd_lab::test]
fn the_prometheus_rule_is_the_rules_file() -> anyhow::Result<()> {
    let directory = repository().join("deploy/prometheus");
    let rules = std::fs::read_to_string(directory.join("bfd-rules.yaml"))?;
    let resource = std::fs::read_to_string(directory.join("prometheusrule.yaml"))?;
    ensure!(
        resource.contains("\nkind: PrometheusRule\n")
            && resource.contains("apiVersion: monitoring.coreos.com/v1\n")
    );
    let (_, spec) = resource.split_once("\nspec:\n").context("no spec")?;
    let unindented: String = spec
        .lines()
        .map(|line| line.strip_prefix("  ").unwrap_or(line))
        .map(|line| format!("{line}\n"))
        .collect();
    ensure!(unindented == rules, "prometheusrule.yaml's spec differs from bfd-rules.yaml");
    Ok(())
}

#[bfd_lab::test]
fn every_dashboard_query_is_valid_promql() -> anyhow::Result<()> {
    let path = repository().join("deploy/grafana/bfd-xdp.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    let mut expressions = Vec::new();
    for panel in dashboard["panels"].as_array().context("no panels")? {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expression = target["expr"].as_str().context("a target without expr")?;
            expressions.push((panel["title"].as_str().unwrap_or_default().to_owned(), expression.to_owned()));
        }
    }
    ensure!(expressions.len() >= 10, "{expressions:?}");
    // Grafana's variables as Prometheus would see them, each query a
    // recording rule for promtool to parse.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (index, (title, expression)) in expressions.iter().enumerate() {
        ensure!(expression.contains("bfd_"), "{title}: {expression}");
        let expression =
            expression.replace("$__rate_interval", "5m").replace("$instance", ".*").replace("$peer", ".*");
        rules.push_str(&format!(
            "      - record: dashboard:query_{index}\n        expr: {}\n",
            serde_json::to_string(&expression)?
        ));
    }
    let directory = TempDir::new("dash")?;
    std::fs::write(directory.join("dashboard-rules.yaml"), rules)?;
    promtool(&directory.join(""), &["check", "rules", "dashboard-rules.yaml"])?;
    Ok(())
}
