//! Timestamps: UTC RFC 3339 with milliseconds everywhere harnex writes one.

use std::time::{Duration, Instant, SystemTime};

/// `2026-11-21T08:03:00.123Z`
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// Parse an RFC 3339 timestamp (`Z` or an offset, fractional seconds optional).
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        // `_weak` ignores a trailing `Z`-less offset; only accept it when there is none.
        if text.ends_with('Z') || !has_offset(text) {
            return Some(t);
        }
    }
    parse_with_offset(text)
}

fn has_offset(text: &str) -> bool {
    let tail = text.get(19..).unwrap_or("");
    tail.contains('+') || tail.contains('-')
}

/// `2026-11-21T09:03:00+01:00` → UTC.
fn parse_with_offset(text: &str) -> Option<SystemTime> {
    let split = text.len().checked_sub(6)?;
    let (stamp, offset) = text.split_at(split);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1i64,
        b'-' => -1i64,
        _ => return None,
    };
    let hours: i64 = offset.get(1..3)?.parse().ok()?;
    let minutes: i64 = offset.get(4..6)?.parse().ok()?;
    let local = humantime::parse_rfc3339_weak(stamp).ok()?;
    let shift = Duration::from_secs(((hours * 60 + minutes) * 60) as u64);
    if sign > 0 {
        local.checked_sub(shift)
    } else {
        local.checked_add(shift)
    }
}

/// The longest duration a flag or setting takes: every timeout, TTL and interval.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 86400);

/// Parse a duration: `90s`, `8m`, `1.5` (seconds), `250ms`; at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_duration_within(text, MAX_DURATION)
}

/// Parse a duration of at most `max` (never panics, whatever the number).
pub fn parse_duration_within(text: &str, max: Duration) -> Result<Duration, String> {
    let text = text.trim();
    let too_long = || format!("invalid duration {text:?}: at most {}", describe(max));
    if let Ok(secs) = text.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err(format!(
                "invalid duration {text:?}: must be a number of seconds of 0 or more"
            ));
        }
        // Checked before converting: `Duration::from_secs_f64` panics past u64 seconds.
        if secs > max.as_secs_f64() {
            return Err(too_long());
        }
        return Ok(Duration::from_secs_f64(secs));
    }
    let parsed = humantime::parse_duration(text)
        .map_err(|e| format!("invalid duration {text:?} ({e}); use e.g. 30, 90s, 8m, 250ms"))?;
    if parsed > max {
        return Err(too_long());
    }
    Ok(parsed)
}

/// `30 days`, `1 hour`, `90s`: a limit as a person would say it.
fn describe(limit: Duration) -> String {
    let secs = limit.as_secs();
    let (n, unit) = match secs {
        s if s >= 86400 && s % 86400 == 0 => (s / 86400, "day"),
        s if s >= 3600 && s % 3600 == 0 => (s / 3600, "hour"),
        s => return format!("{s}s"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// `now + after`, without the panic `Instant + Duration` has on overflow: a deadline too far
/// to represent is a century away instead.
/// Serialise seconds with millisecond precision (`1.548`, not `1.5478579369999999`).
pub fn serialize_seconds_ms<S: serde::Serializer>(
    seconds: &f64,
    out: S,
) -> Result<S::Ok, S::Error> {
    out.serialize_f64((seconds * 1000.0).round() / 1000.0)
}

pub fn deadline_after(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86400)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn formats_utc_with_millis() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn parses_z_and_offsets() {
        let z = parse_rfc3339("2023-11-14T22:13:20Z").unwrap();
        let plus = parse_rfc3339("2023-11-14T23:13:20+01:00").unwrap();
        let minus = parse_rfc3339("2023-11-14T21:13:20-01:00").unwrap();
        assert_eq!(z, plus);
        assert_eq!(z, minus);
        assert!(parse_rfc3339("yesterday").is_none());
        assert!(parse_rfc3339("2023-13-14T22:13:20Z").is_none());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("8m").unwrap(), Duration::from_secs(480));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn huge_durations_are_refused_not_panicked_on() {
        for text in [
            "99999999999999999999",
            "1e300",
            "inf",
            "NaN",
            "31d",
            "2592001",
            "99999999999999999999s",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains("invalid duration"), "{text}: {err}");
        }
        assert_eq!(parse_duration("30d").unwrap(), MAX_DURATION);
        assert_eq!(parse_duration("2592000").unwrap(), MAX_DURATION);
        let err = parse_duration_within("2h", Duration::from_secs(3600)).unwrap_err();
        assert!(err.ends_with("at most 1 hour"), "{err}");
        assert!(
            parse_duration("31d")
                .unwrap_err()
                .ends_with("at most 30 days")
        );
    }

    #[test]
    fn deadlines_never_overflow() {
        let far = deadline_after(Duration::MAX);
        assert!(far > Instant::now() + Duration::from_secs(86400));
        let near = deadline_after(Duration::from_secs(1));
        assert!(near <= Instant::now() + Duration::from_secs(1));
    }

    #[test]
    fn seconds_are_written_to_the_millisecond() {
        #[derive(serde::Serialize)]
        struct Waited {
            #[serde(serialize_with = "serialize_seconds_ms")]
            waited_seconds: f64,
        }
        let json = serde_json::to_string(&Waited {
            waited_seconds: 1.5478579369999999,
        })
        .unwrap();
        assert_eq!(json, r#"{"waited_seconds":1.548}"#);
    }
}
