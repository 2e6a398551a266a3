//! Parsing `--since` values: Unix seconds, a relative age (`90s`, `15m`, `2h`, `7d`) or a UTC
//! date (`2026-11-26`, `2026-11-26T08:30:00Z`).

/// Parses `s` relative to `now` (Unix seconds).
pub fn parse_since(s: &str, now: u64) -> Result<u64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty time".into());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u64>().map_err(|_| format!("{s} is too large"));
    }
    if let Some(unit) = s.chars().last().filter(|c| "smhdw".contains(*c)) {
        let n: u64 = s[..s.len() - 1]
            .parse()
            .map_err(|_| format!("'{s}' is not a number followed by s, m, h, d or w"))?;
        let mult = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => 604_800,
        };
        return Ok(now.saturating_sub(n.saturating_mul(mult)));
    }
    parse_date(s).ok_or_else(|| {
        format!("'{s}' is not a time: use Unix seconds, an age like 2h or 7d, or a UTC date like 2026-11-26 or 2026-11-26T08:30:00Z")
    })
}

fn parse_date(s: &str) -> Option<u64> {
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z').unwrap_or(t))),
        None => (s, None),
    };
    let mut d = date.split('-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) || y < 1970 {
        return None;
    }
    let mut secs = 0u64;
    if let Some(t) = time {
        let mut p = t.split(':');
        let h: u64 = p.next()?.parse().ok()?;
        let mi: u64 = p.next()?.parse().ok()?;
        let se: u64 = match p.next() {
            Some(x) => x.parse().ok()?,
            None => 0,
        };
        if p.next().is_some() || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        secs = h * 3600 + mi * 60 + se;
    }
    let days = days_from_civil(y, m, day);
    u64::try_from(days).ok().map(|d| d * 86_400 + secs)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats Unix seconds as `YYYY-MM-DD HH:MM:SS` UTC (the calendar arithmetic is
/// `pars_registry::format_unix_time`'s, without its " UTC" suffix).
pub fn format_utc(t: u64) -> String {
    let mut s = pars_registry::format_unix_time(t);
    s.truncate(s.len().saturating_sub(" UTC".len()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let now = 1_800_000_000;
        assert_eq!(parse_since("1700000000", now).unwrap(), 1_700_000_000);
        assert_eq!(parse_since("2h", now).unwrap(), now - 7200);
        assert_eq!(parse_since("7d", now).unwrap(), now - 7 * 86_400);
        assert_eq!(parse_since("1970-01-02", now).unwrap(), 86_400);
        assert_eq!(
            parse_since("2026-11-26T08:30:00Z", now).unwrap(),
            1_795_681_800
        );
        assert!(parse_since("yesterday", now).is_err());
        assert!(parse_since("2026-13-01", now).is_err());
        assert!(parse_since("", now).is_err());
        assert_eq!(format_utc(1_795_681_800), "2026-11-26 08:30:00");
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
    }
}
