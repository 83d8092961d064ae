//! Hand-written SVG plots, small on purpose: a strip plot with boxes for
//! distributions, and curves over a logarithmic x axis.

use std::fmt::Write as _;

const WIDTH: f64 = 820.0;
const LEFT: f64 = 300.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 40.0;
const ROW: f64 = 26.0;
const BOTTOM: f64 = 50.0;
const COLOURS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A logarithmic axis from `low` to `high` (powers of ten around the data).
struct LogAxis {
    low: f64,
    high: f64,
    from: f64,
    to: f64,
}

impl LogAxis {
    fn around(values: impl Iterator<Item = f64>, floor: f64, from: f64, to: f64) -> LogAxis {
        let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
        for value in values {
            let value = value.max(floor);
            low = low.min(value);
            high = high.max(value);
        }
        if !low.is_finite() {
            (low, high) = (floor, floor * 10.0);
        }
        let low = 10f64.powf(low.log10().floor());
        let high = 10f64.powf(high.log10().ceil()).max(low * 10.0);
        LogAxis { low, high, from, to }
    }

    fn place(&self, value: f64, floor: f64) -> f64 {
        let value = value.max(floor);
        let span = self.high.log10() - self.low.log10();
        self.from + (value.log10() - self.low.log10()) / span * (self.to - self.from)
    }

    fn ticks(&self) -> Vec<f64> {
        let mut ticks = Vec::new();
        let mut tick = self.low;
        while tick <= self.high * 1.000_001 {
            ticks.push(tick);
            tick *= 10.0;
        }
        ticks
    }
}

fn tick_label(value: f64) -> String {
    if value >= 1.0 { format!("{value:.0}") } else { format!("{value}") }
}

/// Horizontal strip plot: one row per group, every sample a dot, a box
/// from the 25th to the 75th percentile with the median, and a line at
/// `mark` (the target), on a log scale (values below `floor` drawn at it).
pub fn strip_plot(
    title: &str,
    unit: &str,
    groups: &[(String, Vec<f64>)],
    floor: f64,
    mark: Option<f64>,
) -> String {
    let height = TOP + ROW * groups.len().max(1) as f64 + BOTTOM;
    let axis = LogAxis::around(
        groups.iter().flat_map(|(_, samples)| samples.iter().copied()).chain(mark),
        floor,
        LEFT,
        WIDTH - RIGHT,
    );
    let mut svg = header(title, height);
    let plot_bottom = TOP + ROW * groups.len() as f64;
    for tick in axis.ticks() {
        let x = axis.place(tick, floor);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{plot_bottom}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            plot_bottom + 16.0,
            tick_label(tick)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{} (log scale; below {} drawn at {})</text>"#,
        (LEFT + WIDTH - RIGHT) / 2.0,
        plot_bottom + 36.0,
        escape(unit),
        floor,
        floor
    );
    if let Some(mark) = mark {
        let x = axis.place(mark, floor);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{plot_bottom}" stroke="#d62728" stroke-dasharray="4 3"/>"##
        );
    }
    for (index, (label, samples)) in groups.iter().enumerate() {
        let y = TOP + ROW * index as f64 + ROW / 2.0;
        let colour = COLOURS[index % COLOURS.len()];
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            y + 4.0,
            escape(label)
        );
        if samples.is_empty() {
            let _ = write!(svg, r#"<text x="{:.1}" y="{:.1}">no samples</text>"#, LEFT + 4.0, y + 4.0);
            continue;
        }
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let quantile = |p: f64| sorted[((p * (sorted.len() - 1) as f64).round()) as usize];
        let (q1, median, q3) = (
            axis.place(quantile(0.25), floor),
            axis.place(quantile(0.5), floor),
            axis.place(quantile(0.75), floor),
        );
        let _ = write!(
            svg,
            r#"<rect x="{q1:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="{colour}"/><line x1="{median:.1}" y1="{:.1}" x2="{median:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2"/>"#,
            y - ROW * 0.35,
            (q3 - q1).max(1.0),
            ROW * 0.7,
            y - ROW * 0.35,
            y + ROW * 0.35
        );
        for (n, sample) in samples.iter().enumerate() {
            // A small deterministic vertical spread so equal values stay visible.
            let jitter = ((n * 7) % 11) as f64 / 10.0 - 0.5;
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2" fill="{colour}" fill-opacity="0.5"/>"#,
                axis.place(*sample, floor),
                y + jitter * ROW * 0.5
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// Curves `(label, points)` over a log x axis and a linear y axis from 0.
pub fn curves(title: &str, x_label: &str, y_label: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    let height = 420.0;
    let (left, bottom) = (80.0, height - 60.0);
    let axis = LogAxis::around(
        series.iter().flat_map(|(_, points)| points.iter().map(|(x, _)| *x)),
        1.0,
        left,
        WIDTH - 180.0,
    );
    let y_max = series.iter().flat_map(|(_, points)| points.iter().map(|(_, y)| *y)).fold(0.0f64, f64::max);
    let y_max = nice_ceiling(y_max);
    let place_y = |y: f64| bottom - y / y_max * (bottom - TOP);
    let mut svg = header(title, height);
    for tick in axis.ticks() {
        let x = axis.place(tick, 1.0);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            bottom + 16.0,
            tick_label(tick)
        );
    }
    for step in 0..=4 {
        let y_value = y_max * f64::from(step) / 4.0;
        let y = place_y(y_value);
        let _ = write!(
            svg,
            r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - 180.0,
            left - 6.0,
            y + 4.0,
            trim(y_value)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">{}</text>"#,
        (left + WIDTH - 180.0) / 2.0,
        bottom + 40.0,
        escape(x_label),
        (TOP + bottom) / 2.0,
        (TOP + bottom) / 2.0,
        escape(y_label)
    );
    for (index, (label, points)) in series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let path: Vec<String> =
            points.iter().map(|(x, y)| format!("{:.1},{:.1}", axis.place(*x, 1.0), place_y(*y))).collect();
        let _ = write!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            path.join(" ")
        );
        for (x, y) in points {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                axis.place(*x, 1.0),
                place_y(*y)
            );
        }
        let legend_y = TOP + 18.0 * index as f64;
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="12" height="12" fill="{colour}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            WIDTH - 170.0,
            legend_y,
            WIDTH - 152.0,
            legend_y + 11.0,
            escape(label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn header(title: &str, height: f64) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="{:.1}" y="20" text-anchor="middle" font-size="14">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    )
}

/// 1, 2 or 5 times a power of ten, at least `value`.
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|step| step * power)
        .find(|candidate| *candidate >= value)
        .unwrap_or(10.0 * power)
}

fn trim(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_are_well_formed_svg() {
        let strip = strip_plot(
            "t",
            "ms",
            &[("a".into(), vec![0.001, 0.2, 3.0]), ("b".into(), vec![])],
            0.001,
            Some(0.5),
        );
        assert!(strip.starts_with("<svg") && strip.ends_with("</svg>\n"));
        let lines = curves("t", "N", "s", &[("a".into(), vec![(100.0, 1.0), (1000.0, 4.0)])]);
        assert!(lines.contains("<polyline"));
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(0.07), 0.1);
    }
}
