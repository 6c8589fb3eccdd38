//! The inbox: messages waiting for the agent's prompt. Pure data; the session keeps it behind
//! its state lock and the delivery thread pops from it.
//!
//! Each message has its own TTL; at most 64 wait at once. Finished messages stay queryable
//! (`GET /messages/:id`) in a bounded history.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;

pub const MAX_PENDING: usize = 64;
/// How many finished messages stay queryable.
const HISTORY: usize = 256;
pub const DEFAULT_TTL: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Delivering,
    Delivered,
    Failed,
    Expired,
    Dropped,
}

impl Status {
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Queued | Status::Delivering)
    }
}

/// What to write when the message is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub text: String,
    /// Press Enter after the text.
    pub submit: bool,
    /// Only press Enter (answers a dialog or submits typed text).
    pub enter_only: bool,
    pub force: bool,
}

impl Payload {
    /// Text to type and submit, queued like any message (no force).
    pub fn text(text: &str) -> Payload {
        Payload {
            text: text.into(),
            submit: true,
            enter_only: false,
            force: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub payload: Payload,
    pub status: Status,
    pub queued_at: SystemTime,
    /// `None`: never expires (the `--context` message).
    pub expires: Option<Instant>,
    pub delivered_at: Option<SystemTime>,
    pub error: Option<String>,
    pub turn: Option<u64>,
    pub submitted: Option<bool>,
    /// The full answer of a direct delivery whose sender did not wait for it (`"wait": false`).
    pub reply: Option<Value>,
}

impl Message {
    /// The message as the API reports it.
    pub fn view(&self) -> crate::wire::replies::MessageView {
        let status = serde_json::to_value(self.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        crate::wire::replies::MessageView {
            id: self.id.clone(),
            status,
            queued_at: crate::time::rfc3339(self.queued_at),
            delivered_at: self.delivered_at.map(crate::time::rfc3339),
            text_preview: self.payload.text.chars().take(80).collect(),
            error: self.error.clone(),
            turn: self.turn,
            submitted: self.submitted,
            reply: self.reply.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Stats {
    pub pending: usize,
    pub delivered_total: u64,
    pub expired_total: u64,
}

#[derive(Debug)]
pub struct Inbox {
    pending: VecDeque<Message>,
    finished: VecDeque<Message>,
    /// The message being written right now, if any.
    current: Option<Message>,
    delivered_total: u64,
    expired_total: u64,
    pub default_ttl: Duration,
}

#[derive(Debug, PartialEq, Eq)]
pub struct InboxFull;

impl Inbox {
    pub fn new(default_ttl: Duration) -> Inbox {
        Inbox {
            pending: VecDeque::new(),
            finished: VecDeque::new(),
            current: None,
            delivered_total: 0,
            expired_total: 0,
            default_ttl,
        }
    }

    pub fn stats(&self) -> Stats {
        Stats {
            pending: self.pending.len(),
            delivered_total: self.delivered_total,
            expired_total: self.expired_total,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Queue a message. `ttl: None` uses the inbox default; `Some(Duration::MAX)` never expires.
    pub fn enqueue(
        &mut self,
        payload: Payload,
        ttl: Option<Duration>,
        now: Instant,
    ) -> Result<String, InboxFull> {
        if self.pending.len() >= MAX_PENDING {
            return Err(InboxFull);
        }
        let message = new_message(payload, ttl.unwrap_or(self.default_ttl), now);
        let id = message.id.clone();
        self.pending.push_back(message);
        Ok(id)
    }

    /// A message that skips the queue (forced, or the queue is empty at the prompt).
    pub fn start_direct(&mut self, payload: Payload, now: Instant) -> String {
        let mut message = new_message(payload, Duration::MAX, now);
        message.status = Status::Delivering;
        let id = message.id.clone();
        self.finish_current();
        self.current = Some(message);
        id
    }

    /// Take the next live message for delivery, expiring stale ones first.
    pub fn pop_for_delivery(&mut self, now: Instant) -> Option<Message> {
        self.expire(now);
        let mut message = self.pending.pop_front()?;
        message.status = Status::Delivering;
        self.finish_current();
        self.current = Some(message.clone());
        Some(message)
    }

    /// Record the outcome of the message being delivered.
    pub fn finish(&mut self, id: &str, outcome: Result<(u64, bool), String>) {
        let Some(message) = self.current.as_mut().filter(|m| m.id == id) else {
            return;
        };
        match outcome {
            Ok((turn, submitted)) => {
                message.status = Status::Delivered;
                message.delivered_at = Some(SystemTime::now());
                message.turn = (turn > 0).then_some(turn);
                message.submitted = Some(submitted);
                self.delivered_total += 1;
            }
            Err(error) => {
                message.status = Status::Failed;
                message.error = Some(error);
            }
        }
        self.finish_current();
    }

    fn finish_current(&mut self) {
        if let Some(done) = self.current.take() {
            self.remember(done);
        }
    }

    /// Mark messages past their TTL as expired. Returns how many expired.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut expired = 0;
        while let Some(pos) = self
            .pending
            .iter()
            .position(|m| m.expires.is_some_and(|e| e <= now))
        {
            if let Some(mut message) = self.pending.remove(pos) {
                message.status = Status::Expired;
                message.error = Some("expired before the agent was ready".into());
                self.remember(message);
                expired += 1;
            }
        }
        self.expired_total += expired as u64;
        expired
    }

    /// The earliest expiry among pending messages.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.pending.iter().filter_map(|m| m.expires).min()
    }

    /// Keep the answer of a finished direct delivery with its message.
    pub fn attach_reply(&mut self, id: &str, reply: Value) {
        if let Some(message) = self
            .finished
            .iter_mut()
            .chain(self.current.iter_mut())
            .find(|m| m.id == id)
        {
            message.reply = Some(reply);
        }
    }

    pub fn get(&self, id: &str) -> Option<&Message> {
        self.pending
            .iter()
            .chain(self.current.iter())
            .chain(self.finished.iter())
            .find(|m| m.id == id)
    }

    pub fn pending(&self) -> impl Iterator<Item = &Message> {
        self.pending.iter()
    }

    pub fn drop_message(&mut self, id: &str) -> Option<Message> {
        let pos = self.pending.iter().position(|m| m.id == id)?;
        let mut message = self.pending.remove(pos)?;
        message.status = Status::Dropped;
        self.remember(message.clone());
        Some(message)
    }

    /// The session ended: nothing still queued will be delivered. Returns how many failed.
    pub fn fail_pending(&mut self, reason: &str) -> usize {
        let mut failed = 0;
        while let Some(mut message) = self.pending.pop_front() {
            message.status = Status::Failed;
            message.error = Some(reason.to_string());
            self.remember(message);
            failed += 1;
        }
        failed
    }

    pub fn clear(&mut self) -> usize {
        let ids: Vec<String> = self.pending.iter().map(|m| m.id.clone()).collect();
        for id in &ids {
            self.drop_message(id);
        }
        ids.len()
    }

    fn remember(&mut self, message: Message) {
        if self.finished.len() >= HISTORY {
            self.finished.pop_front();
        }
        self.finished.push_back(message);
    }
}

fn new_message(payload: Payload, ttl: Duration, now: Instant) -> Message {
    Message {
        id: crate::ids::random_hex(8),
        payload,
        status: Status::Queued,
        queued_at: SystemTime::now(),
        expires: now.checked_add(ttl),
        delivered_at: None,
        error: None,
        turn: None,
        submitted: None,
        reply: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Payload {
        Payload::text(t)
    }

    #[test]
    fn messages_flow_in_order_and_are_counted() {
        let now = Instant::now();
        let mut inbox = Inbox::new(DEFAULT_TTL);
        assert_eq!(inbox.stats(), Stats::default());
        let a = inbox.enqueue(text("a"), None, now).unwrap();
        let b = inbox.enqueue(text("b"), None, now).unwrap();
        assert_eq!(inbox.get(&a).unwrap().status, Status::Queued);
        let first = inbox.pop_for_delivery(now).unwrap();
        assert_eq!(first.id, a);
        assert_eq!(inbox.get(&a).unwrap().status, Status::Delivering);
        inbox.finish(&a, Ok((1, true)));
        let second = inbox.pop_for_delivery(now).unwrap();
        assert_eq!(second.id, b);
        inbox.finish(&b, Ok((2, true)));
        assert_eq!(inbox.stats().delivered_total, 2);
        assert_eq!(inbox.get(&a).unwrap().turn, Some(1));
        assert_eq!(inbox.get(&b).unwrap().status, Status::Delivered);
    }

    #[test]
    fn old_messages_expire_without_delivery() {
        let now = Instant::now();
        let mut inbox = Inbox::new(Duration::from_millis(100));
        let id = inbox.enqueue(text("late"), None, now).unwrap();
        assert!(
            inbox
                .pop_for_delivery(now + Duration::from_millis(150))
                .is_none()
        );
        assert_eq!(inbox.get(&id).unwrap().status, Status::Expired);
        assert_eq!(inbox.stats().expired_total, 1);
    }

    #[test]
    fn a_message_without_ttl_never_expires() {
        let now = Instant::now();
        let mut inbox = Inbox::new(Duration::from_millis(1));
        inbox
            .enqueue(text("context"), Some(Duration::MAX), now)
            .unwrap();
        assert_eq!(inbox.next_expiry(), None);
        assert!(
            inbox
                .pop_for_delivery(now + Duration::from_secs(3600))
                .is_some()
        );
    }

    #[test]
    fn the_queue_is_bounded() {
        let now = Instant::now();
        let mut inbox = Inbox::new(DEFAULT_TTL);
        for _ in 0..MAX_PENDING {
            inbox.enqueue(text("x"), None, now).unwrap();
        }
        assert_eq!(inbox.enqueue(text("x"), None, now), Err(InboxFull));
    }

    #[test]
    fn pending_messages_fail_when_the_session_ends() {
        let now = Instant::now();
        let mut inbox = Inbox::new(DEFAULT_TTL);
        let id = inbox.enqueue(text("late"), None, now).unwrap();
        assert_eq!(inbox.fail_pending("the session ended"), 1);
        let message = inbox.get(&id).unwrap();
        assert_eq!(message.status, Status::Failed);
        assert!(inbox.is_empty());
    }

    #[test]
    fn drop_and_clear() {
        let now = Instant::now();
        let mut inbox = Inbox::new(DEFAULT_TTL);
        let a = inbox.enqueue(text("a"), None, now).unwrap();
        inbox.enqueue(text("b"), None, now).unwrap();
        inbox.enqueue(text("c"), None, now).unwrap();
        assert_eq!(inbox.drop_message(&a).unwrap().status, Status::Dropped);
        assert_eq!(inbox.pending().count(), 2);
        assert_eq!(inbox.clear(), 2);
        assert!(inbox.is_empty());
        assert!(inbox.drop_message("nope").is_none());
    }
}
