//! Follows OpenCode's own event stream: the TUI started with `--port N` serves
//! `GET http://127.0.0.1:N/event` (server-sent events, chunked), and each `data:` line is parsed by
//! [`OpenCodeRecords`] into facts for the turn ledger. Runs on the record follower's thread.
//!
//! OpenCode pushes every change as it happens, so nothing is polled once connected: the thread
//! blocks in `read` (waking each second only to see whether the agent is gone). Before OpenCode's
//! server is up (a few seconds after the spawn) the connection is tried again after
//! [`CONNECT_RETRY`], then less often. A dropped stream is opened again while the agent runs. OpenCode waits for
//! its event clients to go before it exits: at `server.instance.disposed` (it is shutting down)
//! the stream is closed and not opened again.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use super::Session;
use crate::records::opencode::OpenCodeRecords;
use crate::wire::turns::Source;

/// How soon to try OpenCode's server again before it listens (doubling up to
/// [`CONNECT_RETRY_MAX`], so a server that never comes, or one that closes at once, costs little).
const CONNECT_RETRY: Duration = Duration::from_millis(200);
const CONNECT_RETRY_MAX: Duration = Duration::from_secs(1);

/// How long one read waits before looking whether the agent exited.
const READ_WAKE: Duration = Duration::from_secs(1);

/// The longest event line kept while waiting for its end.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// Follow OpenCode's events on `port` until the agent exits.
pub fn follow(session: &Session, port: u16) {
    let url = format!("http://127.0.0.1:{port}/event");
    let mut parser = OpenCodeRecords::for_directory(&session.config.cwd);
    let mut following = false;
    let mut pause = CONNECT_RETRY;
    loop {
        if agent_gone(session) {
            if !following {
                super::record_feed::unavailable(
                    session,
                    "the agent exited before its event stream could be opened".into(),
                );
            }
            return;
        }
        let Ok(stream) = open(port) else {
            std::thread::sleep(pause);
            pause = (pause * 2).min(CONNECT_RETRY_MAX);
            continue;
        };
        if !following {
            following = true;
            session
                .shared
                .update(|live| live.ledger.following(PathBuf::from(&url)));
            session.refresh_registry();
        }
        if read_events(session, stream, &mut parser) == StreamEnd::Disposed {
            return;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(CONNECT_RETRY_MAX);
    }
}

/// Why a stream ended.
#[derive(Debug, PartialEq, Eq)]
enum StreamEnd {
    /// Closed, broken, or the agent exited.
    Closed,
    /// OpenCode said it is shutting down.
    Disposed,
}

fn agent_gone(session: &Session) -> bool {
    session.shared.lock().exit().is_some()
}

/// Connect and ask for the event stream; `Err` until OpenCode's server answers 200.
fn open(port: u16) -> std::io::Result<BufReader<TcpStream>> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(READ_WAKE))?;
    write!(
        stream,
        "GET /event HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n"
    )?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    read_line_waiting(&mut reader, &mut status)?;
    if !status.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(format!("answered {}", status.trim())));
    }
    loop {
        let mut header = String::new();
        read_line_waiting(&mut reader, &mut header)?;
        if header.trim().is_empty() {
            return Ok(reader);
        }
    }
}

/// A header line, waiting out the read timeout a few times (the server answers at once).
fn read_line_waiting(reader: &mut BufReader<TcpStream>, line: &mut String) -> std::io::Result<()> {
    for _ in 0..5 {
        match reader.read_line(line) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(_) if line.len() > 8192 => return Err(std::io::Error::other("header too long")),
            Ok(_) => return Ok(()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ErrorKind::TimedOut.into())
}

/// Read events until the stream ends, OpenCode shuts down or the agent exits.
fn read_events(
    session: &Session,
    mut reader: BufReader<TcpStream>,
    parser: &mut OpenCodeRecords,
) -> StreamEnd {
    let mut chunks = Dechunk::default();
    let mut body = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return StreamEnd::Closed,
            Ok(n) => {
                let more = chunks.push(&buf[..n], &mut body);
                let lines = take_data_lines(&mut body);
                let facts: Vec<_> = lines.iter().flat_map(|line| parser.feed(line)).collect();
                if !facts.is_empty() {
                    super::record_feed::feed(session, facts, Source::Record);
                }
                if lines.iter().any(|l| is_disposed(l)) {
                    return StreamEnd::Disposed;
                }
                if !more {
                    return StreamEnd::Closed;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if agent_gone(session) {
                    return StreamEnd::Closed;
                }
            }
            Err(_) => return StreamEnd::Closed,
        }
    }
}

/// OpenCode's last event before it exits.
fn is_disposed(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line)
        .is_ok_and(|e| e["type"] == "server.instance.disposed")
}

/// The payloads of the whole `data:` lines in `body`, leaving a partial last line in it.
fn take_data_lines(body: &mut Vec<u8>) -> Vec<String> {
    let Some(last_newline) = body.iter().rposition(|b| *b == b'\n') else {
        if body.len() > MAX_LINE {
            body.clear();
        }
        return Vec::new();
    };
    let rest = body.split_off(last_newline + 1);
    let lines = std::mem::replace(body, rest);
    String::from_utf8_lossy(&lines)
        .lines()
        .filter_map(|l| l.strip_prefix("data:").map(|d| d.trim().to_string()))
        .collect()
}

/// Undoes HTTP/1.1 chunked transfer coding as bytes arrive.
#[derive(Debug, Default)]
struct Dechunk {
    raw: Vec<u8>,
    /// Bytes left in the chunk being read (`None`: a size line comes next).
    left: Option<usize>,
}

impl Dechunk {
    /// Add `bytes`, appending the payload to `out`; false once the last chunk came (or the
    /// framing is broken).
    fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> bool {
        self.raw.extend_from_slice(bytes);
        loop {
            match self.left {
                None => {
                    let Some(end) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                        return self.raw.len() <= 64;
                    };
                    let line = String::from_utf8_lossy(&self.raw[..end]).into_owned();
                    let size = line.split(';').next().unwrap_or("").trim();
                    let Ok(size) = usize::from_str_radix(size, 16) else {
                        return false;
                    };
                    self.raw.drain(..end + 2);
                    if size == 0 {
                        return false;
                    }
                    self.left = Some(size);
                }
                Some(0) => {
                    if self.raw.len() < 2 {
                        return true;
                    }
                    self.raw.drain(..2);
                    self.left = None;
                }
                Some(left) => {
                    if self.raw.is_empty() {
                        return true;
                    }
                    let take = left.min(self.raw.len());
                    out.extend(self.raw.drain(..take));
                    self.left = Some(left - take);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_split_anywhere_give_back_the_whole_lines() {
        let events = "data: {\"a\":1}\n\ndata: {\"b\":2}\n\n";
        let (one, two) = events.split_at(9);
        let wire = format!(
            "{:x}\r\n{one}\r\n{:x}\r\n{two}\r\n0\r\n\r\n",
            one.len(),
            two.len()
        );
        let mut chunks = Dechunk::default();
        let mut body = Vec::new();
        let mut lines = Vec::new();
        let mut open = true;
        for byte in wire.as_bytes() {
            open = chunks.push(std::slice::from_ref(byte), &mut body);
            lines.extend(take_data_lines(&mut body));
            if !open {
                break;
            }
        }
        assert!(!open, "the last chunk ends the stream");
        assert_eq!(lines, ["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn broken_framing_ends_the_stream() {
        let mut chunks = Dechunk::default();
        assert!(!chunks.push(b"zz\r\n", &mut Vec::new()));
    }
}
