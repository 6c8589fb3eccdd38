//! The HTTP/1.1 plumbing the mock model servers share (`mock_model`, `mock_chat`,
//! `mock_gemini`): a server on `127.0.0.1:<random port>` with a thread per connection and
//! keep-alive, the request reader (Content-Length or chunked bodies, `Expect: 100-continue`),
//! and the chunked writing of event streams with a flush per event, so streamed answers really
//! arrive event by event. Each mock supplies only what it answers.
//!
//! std only: no HTTP crate between the agents and what they are sent.

#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One request as read from a connection.
pub struct Request {
    pub method: String,
    /// Path including the query string.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Connection: close`: answer, then close.
    pub fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// What a mock does with one request: write the answer to `w`; `conn` is the connection (to
/// hold it open, or to see the client leave).
pub trait Handler:
    Fn(&Request, &mut TcpStream, &TcpStream) -> io::Result<()> + Send + Sync
{
}
impl<F: Fn(&Request, &mut TcpStream, &TcpStream) -> io::Result<()> + Send + Sync> Handler for F {}

struct Connections {
    open: Mutex<Vec<(u64, TcpStream)>>,
    next: AtomicU64,
}

/// A running server. Dropping it sets the stop flag, stops accepting and closes every
/// connection (which ends reads, writes and stalls under way).
pub struct Server {
    port: u16,
    stopping: Arc<AtomicBool>,
    connections: Arc<Connections>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Bind `127.0.0.1:0` and serve with `handler`; `stopping` is set when the server is
    /// dropped (a handler that waits watches it).
    pub fn start(
        name: &str,
        stopping: Arc<AtomicBool>,
        handler: impl Handler + 'static,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let connections = Arc::new(Connections {
            open: Mutex::new(Vec::new()),
            next: AtomicU64::new(1),
        });
        let accept = {
            let (stopping, connections) = (stopping.clone(), connections.clone());
            let handler: Arc<dyn Handler> = Arc::new(handler);
            let conn_name = format!("{name}-conn");
            thread::Builder::new()
                .name(format!("{name}-accept"))
                .spawn(move || accept_loop(listener, &conn_name, stopping, connections, handler))?
        };
        Ok(Server {
            port,
            stopping,
            connections,
            accept: Some(accept),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connections not closed yet.
    pub fn open_connections(&self) -> usize {
        self.connections.open.lock().unwrap().len()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for (_, s) in self.connections.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    conn_name: &str,
    stopping: Arc<AtomicBool>,
    connections: Arc<Connections>,
    handler: Arc<dyn Handler>,
) {
    while !stopping.load(Ordering::SeqCst) {
        let Ok((stream, _)) = listener.accept() else {
            thread::sleep(Duration::from_millis(5));
            continue;
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_nodelay(true);
        let id = connections.next.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = stream.try_clone() {
            connections.open.lock().unwrap().push((id, clone));
        }
        let (stopping, connections2, handler) =
            (stopping.clone(), connections.clone(), handler.clone());
        let spawned = thread::Builder::new()
            .name(conn_name.to_string())
            .spawn(move || {
                let _ = serve(&stream, &stopping, handler.as_ref());
                let _ = stream.shutdown(Shutdown::Both);
                connections2.open.lock().unwrap().retain(|(i, _)| *i != id);
            });
        if spawned.is_err() {
            connections.open.lock().unwrap().retain(|(i, _)| *i != id);
        }
    }
}

/// Answer requests on one connection until it closes, asks to, or the server stops.
fn serve(stream: &TcpStream, stopping: &AtomicBool, handler: &dyn Handler) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    while let Some(request) = read_request(&mut reader)? {
        let mut w = stream.try_clone()?;
        handler(&request, &mut w, stream)?;
        if request.wants_close() || stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
    }
    Ok(())
}

/// The next request on the connection; `None` once the client closed it.
pub fn read_request(r: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    let mut line = String::new();
    // Skip stray empty lines between requests.
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            return Ok(None);
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut req = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    if req
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        r.get_mut().write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    if req
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        loop {
            let mut size_line = String::new();
            if r.read_line(&mut size_line)? == 0 {
                return Ok(None);
            }
            let size_hex = size_line.trim().split(';').next().unwrap_or("0");
            let size = usize::from_str_radix(size_hex.trim(), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Trailers until the empty line.
                loop {
                    let mut t = String::new();
                    if r.read_line(&mut t)? == 0 || t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = req.body.len();
            req.body.resize(start + size, 0);
            r.read_exact(&mut req.body[start..])?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
        }
    } else if let Some(len) = req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        req.body.resize(len, 0);
        r.read_exact(&mut req.body)?;
    }
    Ok(Some(req))
}

/// A whole JSON answer (Content-Length).
pub fn write_json(w: &mut TcpStream, status: &str, v: &Value) -> io::Result<()> {
    write_json_with(w, status, "", v)
}

/// A whole JSON answer with `extra` header lines (each ending `\r\n`).
pub fn write_json_with(w: &mut TcpStream, status: &str, extra: &str, v: &Value) -> io::Result<()> {
    let body = v.to_string();
    write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    w.flush()
}

/// The head of a `200 OK` event stream in a chunked body, with `extra` header lines.
pub fn start_event_stream(w: &mut TcpStream, extra: &str) -> io::Result<()> {
    write!(
        w,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n{extra}\r\n"
    )?;
    w.flush()
}

/// One chunk of a chunked body, flushed at once.
pub fn write_chunk(w: &mut TcpStream, payload: &str) -> io::Result<()> {
    write!(w, "{:x}\r\n{payload}\r\n", payload.len())?;
    w.flush()
}

/// The end of a chunked body.
pub fn end_chunks(w: &mut TcpStream) -> io::Result<()> {
    w.write_all(b"0\r\n\r\n")?;
    w.flush()
}

/// Sleep up to `ms`, returning early (false) when `stopping` is set.
pub fn sleep_unless_stopping(stopping: &AtomicBool, ms: u64) -> bool {
    let end = Instant::now() + Duration::from_millis(ms);
    loop {
        if stopping.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= end {
            return true;
        }
        thread::sleep((end - now).min(Duration::from_millis(20)));
    }
}
