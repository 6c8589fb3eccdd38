//! The `run --watch` babysitter's clock. Real time by default; tests run it fast with the hidden
//! `HARNEX_WATCH_TIME_SCALE` (real seconds per watch second, e.g. `0.1`: ten times fast), so a
//! documented `--stall-after 5s` example behaves and reads as written in half a second. The
//! watcher sleeps in real time ([`WatchClock::real`]) and judges and reports in watch time
//! ([`WatchClock::watch`]).

use std::time::Duration;

use crate::error::{Error, Result};

const SCALE_VAR: &str = "HARNEX_WATCH_TIME_SCALE";

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatchClock {
    scale: f64,
}

impl WatchClock {
    /// Real time.
    pub const REAL: WatchClock = WatchClock { scale: 1.0 };

    /// The clock `HARNEX_WATCH_TIME_SCALE` asks for (real time when unset).
    pub fn from_env() -> Result<WatchClock> {
        match std::env::var(SCALE_VAR) {
            Ok(text) => WatchClock::parse(&text),
            Err(_) => Ok(WatchClock::REAL),
        }
    }

    fn parse(text: &str) -> Result<WatchClock> {
        match text.trim().parse::<f64>() {
            Ok(scale) if scale > 0.0 && scale <= 1.0 => Ok(WatchClock { scale }),
            _ => Err(Error::usage(format!(
                "{SCALE_VAR}={text:?} must be a number in (0, 1], e.g. 0.1; unset it for real time"
            ))),
        }
    }

    /// How long `watch_time` lasts in real time (what to sleep).
    pub fn real(&self, watch_time: Duration) -> Duration {
        watch_time.mul_f64(self.scale)
    }

    /// A real duration (as the session measured it) in watch time.
    pub fn watch(&self, real: Duration) -> Duration {
        real.div_f64(self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_both_ways() {
        let fast = WatchClock::parse("0.1").unwrap();
        assert_eq!(
            fast.real(Duration::from_secs(5)),
            Duration::from_millis(500)
        );
        assert_eq!(
            fast.watch(Duration::from_millis(500)),
            Duration::from_secs(5)
        );
        assert_eq!(
            WatchClock::REAL.real(Duration::from_secs(5)),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn a_bad_scale_is_a_usage_error() {
        for bad in ["0", "-1", "2", "fast", "", "NaN"] {
            let error = WatchClock::parse(bad).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{bad}");
            assert!(error.to_string().contains("(0, 1]"), "{bad}");
        }
    }
}
