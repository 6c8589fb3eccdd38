//! The person at the terminal and harnex's deliveries, taking turns at the agent's input.
//!
//! The PTY writer already writes each request whole and in order; that alone would still let a
//! person's keystrokes land between a delivered message and its Enter (or a delivery land in the
//! middle of the line they are typing). So: a delivery first waits, briefly, until the person has
//! paused typing; while it writes (text, pause, Enter, check) their keystrokes are held, and they
//! are written right after it, in the order typed.
//!
//! The stdin thread calls [`Keyboard::typed`]; deliveries hold a [`Turn`]. Both touch only the
//! small state behind the mutex, so the stdin thread never waits on a delivery.

use std::sync::Mutex;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use super::pty::WriteRequest;

/// How long the person must have stopped typing before a delivery writes.
pub const TYPING_PAUSE: Duration = Duration::from_secs(1);
/// A delivery waits for that pause at most this long, then writes anyway.
pub const TYPING_WAIT_MAX: Duration = Duration::from_secs(5);

pub struct Keyboard {
    writer: Sender<WriteRequest>,
    state: Mutex<KeyState>,
}

#[derive(Default)]
struct KeyState {
    last_key: Option<Instant>,
    /// `Some` while a delivery has the input: keystrokes typed meanwhile.
    held: Option<Vec<u8>>,
}

impl Keyboard {
    pub fn new(writer: Sender<WriteRequest>) -> Keyboard {
        Keyboard {
            writer,
            state: Mutex::new(KeyState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeyState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keystrokes from the person: to the agent now, or after the delivery in progress. False
    /// once the agent's terminal is closed.
    pub fn typed(&self, bytes: &[u8]) -> bool {
        let mut state = self.lock();
        state.last_key = Some(Instant::now());
        match state.held.as_mut() {
            Some(held) => {
                held.extend_from_slice(bytes);
                true
            }
            // Sent under the lock, so a delivery starting now comes after these bytes.
            None => self
                .writer
                .send(WriteRequest {
                    bytes: bytes.to_vec(),
                    done: None,
                })
                .is_ok(),
        }
    }

    /// When the person last typed.
    pub fn last_key(&self) -> Option<Instant> {
        self.lock().last_key
    }

    /// Wait until the person paused typing (at most [`TYPING_WAIT_MAX`]), then hold their
    /// keystrokes until the returned turn is dropped.
    pub fn take_turn(&self) -> Turn<'_> {
        self.take_turn_within(TYPING_PAUSE, TYPING_WAIT_MAX)
    }

    fn take_turn_within(&self, pause: Duration, max: Duration) -> Turn<'_> {
        let give_up = Instant::now() + max;
        loop {
            let mut state = self.lock();
            let now = Instant::now();
            let typing_until = state.last_key.map(|t| t + pause).filter(|t| *t > now);
            match typing_until {
                Some(until) if now < give_up => {
                    drop(state);
                    std::thread::sleep(until.min(give_up) - now);
                }
                _ => {
                    state.held = Some(Vec::new());
                    return Turn { keyboard: self };
                }
            }
        }
    }
}

/// A delivery's hold on the agent's input; dropping it writes what the person typed meanwhile.
pub struct Turn<'a> {
    keyboard: &'a Keyboard,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut state = self.keyboard.lock();
        if let Some(held) = state.held.take()
            && !held.is_empty()
        {
            let _ = self.keyboard.writer.send(WriteRequest {
                bytes: held,
                done: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn written(rx: &mpsc::Receiver<WriteRequest>) -> Vec<u8> {
        rx.try_iter().flat_map(|r| r.bytes).collect()
    }

    #[test]
    fn keys_pass_straight_through_without_a_delivery() {
        let (tx, rx) = mpsc::channel();
        let keyboard = Keyboard::new(tx);
        assert!(keyboard.typed(b"ls"));
        assert_eq!(written(&rx), b"ls");
    }

    #[test]
    fn keys_typed_during_a_delivery_come_after_it() {
        let (tx, rx) = mpsc::channel();
        let keyboard = Keyboard::new(tx.clone());
        let turn = keyboard.take_turn_within(Duration::ZERO, Duration::ZERO);
        keyboard.typed(b"human");
        tx.send(WriteRequest {
            bytes: b"message\r".to_vec(),
            done: None,
        })
        .unwrap();
        assert_eq!(written(&rx), b"message\r");
        drop(turn);
        assert_eq!(written(&rx), b"human");
    }

    #[test]
    fn a_delivery_waits_for_a_pause_in_typing() {
        let (tx, _rx) = mpsc::channel();
        let keyboard = Keyboard::new(tx);
        keyboard.typed(b"x");
        let start = Instant::now();
        drop(keyboard.take_turn_within(Duration::from_millis(150), Duration::from_secs(5)));
        assert!(start.elapsed() >= Duration::from_millis(100));
        // …but not forever.
        keyboard.typed(b"y");
        let start = Instant::now();
        drop(keyboard.take_turn_within(Duration::from_secs(60), Duration::from_millis(100)));
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
