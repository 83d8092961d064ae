//! Intervals: MetalLB's integer milliseconds, and our strings with a unit
//! for microsecond precision (`"3300us"`, `"3.3ms"`).

use std::time::Duration;

/// MetalLB's range for integer intervals, in milliseconds.
pub const METALLB_INTERVAL_MS: std::ops::RangeInclusive<i64> = 10..=60_000;

/// The range for intervals written as strings, in microseconds: down to
/// 1 ms, below MetalLB's 10 ms floor, for benchmarks and fast links; up to
/// MetalLB's 60 s.
pub const STRING_INTERVAL_US: std::ops::RangeInclusive<u64> = 1_000..=60_000_000;

/// Parses an interval written as a string: a decimal number and a unit,
/// `us` (or `µs`), `ms` or `s`, optionally separated by one space:
/// `"3300us"`, `"3.3ms"`, `"0.05s"`. The result must be a whole number of
/// microseconds (BFD carries intervals in microseconds).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.strip_prefix(' ').unwrap_or(unit);
    let micros_per_unit: u64 = match unit {
        "us" | "µs" | "μs" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "" => {
            return Err(format!(
                "{text:?} has no unit: write us, ms or s (a plain integer, unquoted, means milliseconds)"
            ));
        }
        other => return Err(format!("{text:?}: unknown unit {other:?} (use us, ms or s)")),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(format!("{text:?} is not a number with a unit"));
    }
    let too_large = || format!("{text:?} is too large");
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| too_large())? };
    let mut micros = whole.checked_mul(micros_per_unit).ok_or_else(too_large)?;
    // The fraction, digit by digit, in units of `micros_per_unit / 10^n`.
    let mut scale = micros_per_unit;
    for digit in fraction.bytes() {
        let digit = u64::from(digit - b'0');
        if !scale.is_multiple_of(10) {
            if digit != 0 {
                return Err(format!("{text:?} is finer than a microsecond"));
            }
            continue;
        }
        scale /= 10;
        micros = micros.checked_add(digit * scale).ok_or_else(too_large)?;
    }
    Ok(Duration::from_micros(micros))
}

/// An interval as people read it: `50ms`, `3.3ms`, `750us`, `1.5s`.
pub fn format_interval(interval: Duration) -> String {
    let micros = interval.as_micros();
    if micros >= 1_000_000 && micros.is_multiple_of(1_000) {
        return format!("{}s", trim_fraction(micros, 1_000_000));
    }
    if micros >= 1_000 {
        return format!("{}ms", trim_fraction(micros, 1_000));
    }
    format!("{micros}us")
}

/// `value / unit` with as many decimals as needed, none if whole.
fn trim_fraction(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let fraction = value % unit;
    if fraction == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(micros: u64) -> Duration {
        Duration::from_micros(micros)
    }

    #[test]
    fn parses_units_and_fractions() {
        assert_eq!(parse_interval("3300us"), Ok(us(3_300)));
        assert_eq!(parse_interval("3300µs"), Ok(us(3_300)));
        assert_eq!(parse_interval("3.3ms"), Ok(us(3_300)));
        assert_eq!(parse_interval("3.3 ms"), Ok(us(3_300)));
        assert_eq!(parse_interval("50ms"), Ok(us(50_000)));
        assert_eq!(parse_interval("0.05s"), Ok(us(50_000)));
        assert_eq!(parse_interval(".5ms"), Ok(us(500)));
        assert_eq!(parse_interval("1.000001s"), Ok(us(1_000_001)));
        assert_eq!(parse_interval("2.500ms"), Ok(us(2_500)));
        assert_eq!(parse_interval("2.5000us"), Err("\"2.5000us\" is finer than a microsecond".into()));
        assert!(parse_interval("3.3").unwrap_err().contains("no unit"));
        assert!(parse_interval("300").unwrap_err().contains("no unit"));
        assert!(parse_interval("3ns").unwrap_err().contains("unknown unit"));
        assert!(parse_interval("ms").unwrap_err().contains("not a number"));
        assert!(parse_interval("1.2.3ms").is_err());
        assert!(parse_interval("-3ms").is_err());
        assert!(parse_interval("99999999999999999999s").unwrap_err().contains("too large"));
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format_interval(us(50_000)), "50ms");
        assert_eq!(format_interval(us(3_300)), "3.3ms");
        assert_eq!(format_interval(us(1_000_001)), "1000.001ms");
        assert_eq!(format_interval(us(1_500_000)), "1.5s");
        assert_eq!(format_interval(us(750)), "750us");
        assert_eq!(format_interval(us(2_000_000)), "2s");
    }
}
