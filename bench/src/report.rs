//! One table per scenario: printed, and written as Markdown and JSON under
//! the output directory (`target/bench/`), beside the scenario's SVG plots.
//!
//! A cell that has a target shows it next to the figure and says whether
//! the figure met it; nothing is asserted: a missed target is reported.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::{Value, json};

/// Which way a target points.
#[derive(Clone, Copy, Debug)]
pub enum Bound {
    /// The figure must be at most the limit.
    AtMost,
    /// The figure must be at least the limit.
    AtLeast,
}

/// A target for one figure (from the issue; shown, never asserted).
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// Which way.
    pub bound: Bound,
    /// The limit, in the figure's unit.
    pub limit: f64,
}

impl Target {
    /// `<= limit`.
    pub const fn at_most(limit: f64) -> Target {
        Target { bound: Bound::AtMost, limit }
    }

    /// `>= limit`.
    pub const fn at_least(limit: f64) -> Target {
        Target { bound: Bound::AtLeast, limit }
    }

    fn met(&self, value: f64) -> bool {
        match self.bound {
            Bound::AtMost => value <= self.limit,
            Bound::AtLeast => value >= self.limit,
        }
    }

    fn shown(&self) -> String {
        let sign = match self.bound {
            Bound::AtMost => "≤",
            Bound::AtLeast => "≥",
        };
        format!("{sign}{}", trim_number(self.limit))
    }
}

/// One cell: its text, the measured value behind it (if any), and the
/// target it is held against (if any).
#[derive(Clone, Debug)]
pub struct Cell {
    text: String,
    value: Option<f64>,
    target: Option<Target>,
}

impl Cell {
    /// Plain text (a label, or why a figure is missing).
    pub fn text(text: impl Into<String>) -> Cell {
        Cell { text: text.into(), value: None, target: None }
    }

    /// A measured figure printed with `decimals` decimals.
    pub fn number(value: f64, decimals: usize) -> Cell {
        Cell { text: format!("{value:.decimals$}"), value: Some(value), target: None }
    }

    /// A measured count.
    pub fn count(value: u64) -> Cell {
        Cell { text: value.to_string(), value: Some(value as f64), target: None }
    }

    /// Holds the figure against `target`: the text gains the target and
    /// `ok` or `MISSED`.
    pub fn against(mut self, target: Target) -> Cell {
        self.target = Some(target);
        self
    }

    /// Whether the figure met its target (`None`: no target or no figure).
    pub fn met(&self) -> Option<bool> {
        Some(self.target?.met(self.value?))
    }

    fn shown(&self) -> String {
        match (self.target, self.met()) {
            (Some(target), Some(true)) => format!("{} ({} ok)", self.text, target.shown()),
            (Some(target), Some(false)) => format!("{} ({} MISSED)", self.text, target.shown()),
            (Some(target), None) => format!("{} ({})", self.text, target.shown()),
            (None, _) => self.text.clone(),
        }
    }

    fn json(&self) -> Value {
        json!({
            "text": self.text,
            "value": self.value,
            "target": self.target.map(|target| target.shown()),
            "met": self.met(),
        })
    }
}

/// A scenario's results.
pub struct Table {
    /// The scenario's name (the files' stem).
    pub scenario: String,
    /// One line saying what was measured.
    pub title: String,
    /// Column headings.
    pub columns: Vec<String>,
    /// Rows of cells, one per column.
    pub rows: Vec<Vec<Cell>>,
    /// Lines printed under the table (method, caveats, plots).
    pub notes: Vec<String>,
    /// Raw measurements kept in the JSON (samples, per-trial figures).
    pub raw: Value,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(scenario: &str, title: impl Into<String>, columns: &[&str]) -> Table {
        Table {
            scenario: scenario.to_owned(),
            title: title.into(),
            columns: columns.iter().map(|column| (*column).to_owned()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
            raw: json!({}),
        }
    }

    /// Adds a row (as many cells as columns).
    pub fn row(&mut self, cells: Vec<Cell>) {
        debug_assert_eq!(cells.len(), self.columns.len(), "{}: row width", self.scenario);
        self.rows.push(cells);
    }

    /// Adds a note.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// How many figures missed their targets.
    pub fn missed(&self) -> usize {
        self.rows.iter().flatten().filter(|cell| cell.met() == Some(false)).count()
    }

    fn shown_rows(&self) -> Vec<Vec<String>> {
        self.rows.iter().map(|row| row.iter().map(Cell::shown).collect()).collect()
    }

    /// The table as aligned text.
    pub fn text(&self) -> String {
        let rows = self.shown_rows();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|column| {
                rows.iter()
                    .map(|row| row[column].chars().count())
                    .chain([self.columns[column].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell}{}", " ".repeat(width - cell.chars().count())))
                .collect();
            padded.join("  ").trim_end().to_owned()
        };
        let mut out = format!("== {}: {}\n", self.scenario, self.title);
        out.push_str(&line(&self.columns));
        out.push('\n');
        for row in &rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        for note in &self.notes {
            out.push_str(&format!("- {note}\n"));
        }
        out
    }

    /// The table as Markdown, with how it was produced.
    pub fn markdown(&self, machine: &Machine) -> String {
        let mut out = format!("### `{}`: {}\n\n", self.scenario, self.title);
        out.push_str(&format!("`{}` on {} ({})\n\n", machine.command, machine.describe(), machine.date));
        out.push_str(&format!("| {} |\n", self.columns.join(" | ")));
        out.push_str(&format!("|{}\n", " --- |".repeat(self.columns.len())));
        for row in self.shown_rows() {
            out.push_str(&format!("| {} |\n", row.join(" | ").replace('\n', " ")));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                out.push_str(&format!("- {note}\n"));
            }
        }
        out
    }

    /// The table as JSON, with the raw measurements.
    pub fn json(&self, machine: &Machine) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                Value::Object(
                    self.columns
                        .iter()
                        .cloned()
                        .zip(row.iter().map(Cell::json))
                        .collect::<serde_json::Map<_, _>>(),
                )
            })
            .collect();
        json!({
            "scenario": self.scenario,
            "title": self.title,
            "machine": machine.json(),
            "columns": self.columns,
            "rows": rows,
            "notes": self.notes,
            "targets_missed": self.missed(),
            "raw": self.raw,
        })
    }

    /// Prints the table and writes `<scenario>.md` and `.json` in `out`.
    pub fn publish(&self, out: &Path, machine: &Machine) -> anyhow::Result<()> {
        println!("{}", self.text());
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let markdown = out.join(format!("{}.md", self.scenario));
        std::fs::write(&markdown, self.markdown(machine))
            .with_context(|| format!("writing {}", markdown.display()))?;
        let json_path = out.join(format!("{}.json", self.scenario));
        std::fs::write(&json_path, serde_json::to_string_pretty(&self.json(machine))?)
            .with_context(|| format!("writing {}", json_path.display()))?;
        println!("written: {} {}\n", markdown.display(), json_path.display());
        Ok(())
    }
}

/// Where and how the figures were produced.
pub struct Machine {
    /// The command line.
    pub command: String,
    /// `uname -r`.
    pub kernel: String,
    /// The CPU's model name.
    pub cpu: String,
    /// Online CPUs.
    pub cpus: usize,
    /// Memory, GiB.
    pub memory_gib: f64,
    /// FRR's version (`bfdd --version`).
    pub frr: String,
    /// When (UTC, from `date`).
    pub date: String,
    /// Whether this is the `--quick` run.
    pub quick: bool,
    /// The output directory.
    pub out: PathBuf,
}

impl Machine {
    /// Reads the machine's facts.
    pub fn read(command: String, quick: bool, out: PathBuf) -> Machine {
        let memory_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|line| line.starts_with("MemTotal:"))
                    .and_then(|line| line.split_whitespace().nth(1))
                    .and_then(|kib| kib.parse::<f64>().ok())
            })
            .unwrap_or(0.0);
        let frr = std::process::Command::new("/usr/lib/frr/bfdd")
            .arg("--version")
            .output()
            .ok()
            .and_then(|output| {
                String::from_utf8_lossy(&output.stdout).lines().next().map(|line| line.trim().to_owned())
            })
            .unwrap_or_else(|| "FRR version unknown".into());
        // And the sid root file system's, chrooted (the `FRR bfdd 10.7` rows).
        let sid = bfd_lab::peers::Rootfs::open("sid-frr-bird2")
            .and_then(|rootfs| rootfs.version("/usr/lib/frr/bfdd"))
            .ok()
            .and_then(|text| text.lines().next().map(|line| line.trim().to_owned()));
        let frr = match sid {
            Some(sid) => format!("{frr} (host), {sid} (sid, chrooted)"),
            None => frr,
        };
        let date = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .unwrap_or_default();
        Machine {
            command,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "?".into(), |text| text.trim().to_owned()),
            cpu: cpu_model(),
            cpus: std::thread::available_parallelism().map_or(1, |count| count.get()),
            memory_gib: memory_kib / 1024.0 / 1024.0,
            frr,
            date,
            quick,
            out,
        }
    }

    /// One line: kernel, CPUs, memory, FRR.
    pub fn describe(&self) -> String {
        format!(
            "Linux {}, {} × {}, {:.0} GiB, {}",
            self.kernel, self.cpus, self.cpu, self.memory_gib, self.frr
        )
    }

    fn json(&self) -> Value {
        json!({
            "command": self.command,
            "kernel": self.kernel,
            "cpu": self.cpu,
            "cpus": self.cpus,
            "memory_gib": self.memory_gib,
            "frr": self.frr,
            "date": self.date,
            "quick": self.quick,
        })
    }
}

/// The CPU's model name from /proc/cpuinfo.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_owned())
        })
        .unwrap_or_else(|| "CPU unknown".into())
}

/// `0.5`, `1`, `99.9`: a limit without trailing zeros.
fn trim_number(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Order statistics of a sample.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub min: f64,
    pub median: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    /// Min, median, 99th percentile (nearest rank) and max; `None` when
    /// empty.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        Some(Summary { min: sorted[0], median: rank(0.5), p99: rank(0.99), max: sorted[sorted.len() - 1] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_uses_nearest_ranks() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let summary = Summary::of(&samples).unwrap();
        assert_eq!((summary.min, summary.median, summary.p99, summary.max), (1.0, 50.0, 99.0, 100.0));
        let five = Summary::of(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!((five.median, five.p99), (3.0, 5.0));
    }

    #[test]
    fn cells_show_their_target_and_whether_it_was_met() {
        assert_eq!(Cell::number(0.25, 3).against(Target::at_most(0.5)).shown(), "0.250 (≤0.5 ok)");
        assert_eq!(Cell::number(1.5, 1).against(Target::at_most(1.0)).shown(), "1.5 (≤1 MISSED)");
        assert_eq!(Cell::text("n/a").against(Target::at_most(1.0)).shown(), "n/a (≤1)");
    }
}
