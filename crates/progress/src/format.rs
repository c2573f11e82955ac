//! Pure text formatting for every view (the dashboard, the command line, reports):
//! durations, counts, rates, percentages, bars and truncation. Every function here is total (non-finite inputs give `—`), so views never
//! panic on odd data.

/// What the dashboard shows for a value it does not have.
pub const MISSING: &str = "—";

/// `0:42`, `12:05`, `1:02:03`; [`MISSING`] for a negative or non-finite number of seconds.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return MISSING.into();
    }
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The last `n` lines of `text` (trailing blank lines left out).
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `50186` -> `50,186`; `-1234` -> `-1,234`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in words for estimates: `42s`, `12m 5s`, `1h 24m`.
pub fn human(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, s / 60 % 60),
    }
}

/// Training speed: `2,812 img/s`.
pub fn rate(images_per_s: f64) -> String {
    if !images_per_s.is_finite() || images_per_s < 0.0 {
        return format!("{MISSING} img/s");
    }
    format!("{} img/s", thousands(images_per_s.round() as i64))
}

/// A number with `digits` decimals, or [`MISSING`].
pub fn fixed(x: Option<f64>, digits: usize) -> String {
    match x {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => MISSING.into(),
    }
}

/// A fraction in `[0, 1]` as a whole percentage: `0.625` -> `62%`.
pub fn percent(fraction: f64) -> String {
    if !fraction.is_finite() {
        return MISSING.into();
    }
    format!("{:.0}%", (fraction.clamp(0.0, 1.0) * 100.0).floor())
}

/// A text progress bar of exactly `width` cells: full blocks for `fraction` of it, the
/// rest light shade.
pub fn bar(fraction: f64, width: usize) -> String {
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let filled = ((fraction * width as f64).floor() as usize).min(width);
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

/// `text` cut to at most `width` characters, ending in `…` when cut.
pub fn truncate(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// The first 12 hex digits of a trial id.
pub fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(0.0), "0:00");
        assert_eq!(duration(42.4), "0:42");
        assert_eq!(duration(59.6), "1:00");
        assert_eq!(duration(725.0), "12:05");
        assert_eq!(duration(3723.0), "1:02:03");
        assert_eq!(duration(-1.0), MISSING);
        assert_eq!(duration(f64::NAN), MISSING);
        assert_eq!(duration(f64::INFINITY), MISSING);
    }

    #[test]
    fn numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(60_000), "60,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-1234), "-1,234");
        assert_eq!(human(std::time::Duration::from_secs(5040)), "1h 24m");
        assert_eq!(rate(2811.6), "2,812 img/s");
        assert_eq!(rate(f64::NAN), "— img/s");
        assert_eq!(fixed(Some(84.326), 2), "84.33");
        assert_eq!(fixed(None, 2), MISSING);
        assert_eq!(fixed(Some(f64::NAN), 2), MISSING);
        assert_eq!(percent(0.625), "62%");
        assert_eq!(percent(1.5), "100%");
        assert_eq!(percent(f64::NAN), MISSING);
    }

    #[test]
    fn bars_have_the_exact_width() {
        assert_eq!(bar(0.0, 4), "░░░░");
        assert_eq!(bar(0.5, 4), "██░░");
        assert_eq!(bar(0.99, 4), "███░");
        assert_eq!(bar(1.0, 4), "████");
        assert_eq!(bar(7.0, 4), "████");
        assert_eq!(bar(f64::NAN, 3), "░░░");
        assert_eq!(bar(0.5, 0), "");
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abcdef", 1), "…");
        assert_eq!(truncate("abcdef", 0), "");
        assert_eq!(truncate("épée", 3), "ép…");
    }
}
