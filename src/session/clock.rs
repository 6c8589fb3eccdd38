//! The session's clock: delivery, the inbox's TTLs, the stop ladder and the turn tracker read the
//! time and wait through it, so tests can drive them with a [`FakeClock`] — fast, no sleeping.
//!
//! Waits themselves still block on the session's condition variable or a channel; the clock says
//! how long a thread may block before it looks at the time again ([`Clock::block_for`]). The real
//! clock blocks until the deadline; the fake one re-checks often, so moving it forward takes
//! effect at once.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub trait Clock: Send + Sync {
    /// Now, on the monotonic clock deadlines are measured with.
    fn now(&self) -> Instant;

    /// Let `duration` pass.
    fn sleep(&self, duration: Duration);

    /// How long a thread waiting for `deadline` may block before it reads the clock again.
    fn block_for(&self, deadline: Instant) -> Duration;
}

/// The system's monotonic clock.
pub struct RealClock;

impl Clock for RealClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn block_for(&self, deadline: Instant) -> Duration {
        deadline.saturating_duration_since(Instant::now())
    }
}

/// A clock that moves only when told ([`FakeClock::advance`]), or by the time a sleeper asked
/// for. Waiters re-check it every [`FAKE_RECHECK`] of real time.
pub struct FakeClock {
    now: Mutex<Instant>,
}

/// How often a thread waiting on the fake clock looks at it again (real time).
pub const FAKE_RECHECK: Duration = Duration::from_millis(2);

impl FakeClock {
    pub fn new() -> FakeClock {
        FakeClock {
            now: Mutex::new(Instant::now()),
        }
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock::new()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sleep(&self, duration: Duration) {
        self.advance(duration);
    }

    fn block_for(&self, deadline: Instant) -> Duration {
        if deadline <= self.now() {
            Duration::ZERO
        } else {
            FAKE_RECHECK
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fake_clock_moves_only_when_told() {
        let clock = FakeClock::new();
        let start = clock.now();
        assert_eq!(clock.now(), start);
        let deadline = start + Duration::from_secs(60);
        assert_eq!(clock.block_for(deadline), FAKE_RECHECK);
        clock.sleep(Duration::from_secs(30));
        clock.advance(Duration::from_secs(30));
        assert_eq!(clock.now(), deadline);
        assert_eq!(clock.block_for(deadline), Duration::ZERO);
    }
}
