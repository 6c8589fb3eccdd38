//! Mock of Gemini's model API for running the real Gemini CLI offline.
//!
//! Self-contained like `mock_model` (std and serde_json only): an HTTP/1.1 server on
//! `127.0.0.1:<random port>`, one thread per connection, keep-alive, chunked SSE with a flush per
//! event. Gemini CLI reaches it through `GOOGLE_GEMINI_BASE_URL`.
//!
//! Endpoints (any `/v1beta/models/<model>` prefix):
//! * `…:streamGenerateContent?alt=sse`: the agent loop. SSE `data:` events of
//!   `GenerateContentResponse`s: the answer [`ANSWER`] in two text parts, the last with
//!   `finishReason: STOP` and `usageMetadata`. These are *main* requests.
//! * `…:generateContent`: Gemini's side calls (model routing, which expects JSON with
//!   `complexity_reasoning` and `complexity_score`; session summaries): answered at once with
//!   that JSON as the text.
//! * anything else: `404` with a JSON error body.
//!
//! Markers in the last user text of a main request:
//! * `[delay=N]`: the stream opens, stays silent for N milliseconds, then the answer comes.
//! * `[tool]`: the model asks to run [`TOOL_COMMAND`] with the shell tool (Gemini then shows its
//!   approval dialog); the request carrying the tool's result is answered with the text.
//! * `[fail=N]`: answered with HTTP status N and a Google-style JSON error body. Gemini CLI gives
//!   up on a 400 at once; it retries 429 and 5xx for minutes, and a 429 whose message says
//!   `limit: 0` (a quota) opens its "Usage limit reached" dialog instead.

#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

pub use crate::mock_model::ANSWER;

/// The shell command a `[tool]` turn asks for; it creates this file in the agent's folder.
pub const TOOL_COMMAND: &str = "touch tool-ran.txt";
pub const TOOL_FILE: &str = "tool-ran.txt";

/// Usage reported on every answer (as `mock_model`'s: input, cached, output, thoughts).
pub const PROMPT_TOKENS: u64 = 1234;
pub const CACHED_TOKENS: u64 = 200;
pub const OUTPUT_TOKENS: u64 = 56;
pub const THOUGHTS_TOKENS: u64 = 7;

/// The message of a `[fail=400]` answer, as Gemini CLI shows and records it.
pub const INVALID_ARGUMENT: &str = "Request contains an invalid argument.";

/// One main (`streamGenerateContent`) request.
#[derive(Clone, Debug)]
pub struct MainRequest {
    /// The last user text ("" when the last content is a tool result).
    pub prompt: String,
    /// Whether the request carries a tool's result.
    pub tool_result: bool,
    pub arrived_at: SystemTime,
    /// When the answer was completely sent.
    pub answered_at: Option<SystemTime>,
}

struct Shared {
    shutdown: AtomicBool,
    main: Mutex<Vec<MainRequest>>,
    side_count: AtomicU64,
    conns: Mutex<Vec<(u64, TcpStream)>>,
    next_conn: AtomicU64,
}

/// A running mock. Dropping it stops the server and closes every connection.
pub struct MockGemini {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl MockGemini {
    pub fn start() -> io::Result<MockGemini> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            shutdown: AtomicBool::new(false),
            main: Mutex::new(Vec::new()),
            side_count: AtomicU64::new(0),
            conns: Mutex::new(Vec::new()),
            next_conn: AtomicU64::new(1),
        });
        let sh = shared.clone();
        let accept = thread::Builder::new()
            .name("mock-gemini-accept".into())
            .spawn(move || accept_loop(listener, sh))?;
        Ok(MockGemini {
            port,
            shared,
            accept: Some(accept),
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Main requests carrying a user's message (not a tool's result).
    pub fn turn_count(&self) -> usize {
        self.main_requests()
            .iter()
            .filter(|r| !r.tool_result)
            .count()
    }

    pub fn main_requests(&self) -> Vec<MainRequest> {
        self.shared.main.lock().unwrap().clone()
    }

    /// Side (`generateContent`) requests answered.
    pub fn side_count(&self) -> u64 {
        self.shared.side_count.load(Ordering::SeqCst)
    }
}

impl Drop for MockGemini {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for (_, s) in self.shared.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// `HOME/.gemini/settings.json` choosing API-key auth, and, when `trusted`, the folder in
/// `trustedFolders.json` (else Gemini asks "Do you trust the files in this folder?").
pub fn write_gemini_home(home: &Path, repo: &Path, trusted: bool) -> io::Result<()> {
    let dir = home.join(".gemini");
    std::fs::create_dir_all(&dir)?;
    let settings = json!({"security": {"auth": {"selectedType": "gemini-api-key"}}});
    std::fs::write(dir.join("settings.json"), settings.to_string())?;
    if trusted {
        let folders = json!({ repo.to_string_lossy(): "TRUST_FOLDER" });
        std::fs::write(dir.join("trustedFolders.json"), folders.to_string())?;
    }
    Ok(())
}

/// The environment that points Gemini CLI at the mock with `home` as its home.
pub fn gemini_env(home: &Path, mock: &MockGemini) -> Vec<(String, String)> {
    vec![
        ("HOME".into(), home.display().to_string()),
        ("GOOGLE_GEMINI_BASE_URL".into(), mock.base_url()),
        ("GEMINI_API_KEY".into(), "fake-key".into()),
    ]
}

// ---------------------------------------------------------------------------------------------
// Server internals

fn accept_loop(listener: TcpListener, sh: Arc<Shared>) {
    while !sh.shutdown.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_nodelay(true);
                let id = sh.next_conn.fetch_add(1, Ordering::SeqCst);
                if let Ok(clone) = stream.try_clone() {
                    sh.conns.lock().unwrap().push((id, clone));
                }
                let sh2 = sh.clone();
                let _ = thread::Builder::new()
                    .name("mock-gemini-conn".into())
                    .spawn(move || {
                        let _ = serve_connection(&stream, &sh2);
                        let _ = stream.shutdown(Shutdown::Both);
                        sh2.conns.lock().unwrap().retain(|(i, _)| *i != id);
                    });
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn serve_connection(stream: &TcpStream, sh: &Arc<Shared>) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    while let Some(request) = read_request(&mut reader)? {
        let mut w = stream.try_clone()?;
        handle(&request.target, &request.body, &mut w, sh)?;
        if request.close || sh.shutdown.load(Ordering::SeqCst) {
            return Ok(());
        }
    }
    Ok(())
}

struct Request {
    target: String,
    body: Vec<u8>,
    /// `Connection: close`: answer, then close.
    close: bool,
}

/// The request target and its body (Content-Length or chunked).
fn read_request(r: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut length = 0usize;
    let mut chunked = false;
    let mut close = false;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                length = v.parse().unwrap_or(0);
            } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            } else if k == "connection" && v.eq_ignore_ascii_case("close") {
                close = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            if r.read_line(&mut size)? == 0 {
                return Ok(None);
            }
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                let mut end = String::new();
                r.read_line(&mut end)?;
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
        }
    } else {
        body.resize(length, 0);
        r.read_exact(&mut body)?;
    }
    Ok(Some(Request {
        target,
        body,
        close,
    }))
}

fn write_json(w: &mut TcpStream, status: &str, v: &Value) -> io::Result<()> {
    let body = v.to_string();
    write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    w.flush()
}

fn sse_event(w: &mut TcpStream, data: &Value) -> io::Result<()> {
    let payload = format!("data: {data}\r\n\r\n");
    write!(w, "{:x}\r\n{payload}\r\n", payload.len())?;
    w.flush()
}

/// The last content's user text, and whether that content is a tool's result.
fn last_user_turn(body: &Value) -> (String, bool) {
    let Some(last) = body["contents"].as_array().and_then(|c| c.last()) else {
        return (String::new(), false);
    };
    let parts = last["parts"].as_array().cloned().unwrap_or_default();
    let tool_result = parts.iter().any(|p| p.get("functionResponse").is_some());
    let text = parts
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect::<Vec<_>>()
        .join(" ");
    (text, tool_result)
}

/// The status of a `[fail=N]` marker.
fn parse_fail(prompt: &str) -> Option<u16> {
    let start = prompt.find("[fail=")?;
    let rest = &prompt[start + 6..];
    rest[..rest.find(']')?].parse().ok()
}

/// A Google API error body for `status`.
fn api_error(status: u16) -> Value {
    let (message, name) = match status {
        400 => (INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        429 => (
            "Quota exceeded for metric: generate_content_free_tier_requests, limit: 0",
            "RESOURCE_EXHAUSTED",
        ),
        _ => (
            "The model is overloaded. Please try again later.",
            "UNAVAILABLE",
        ),
    };
    json!({"error": {"code": status, "message": message, "status": name}})
}

fn parse_delay(prompt: &str) -> u64 {
    let Some(start) = prompt.find("[delay=") else {
        return 0;
    };
    let rest = &prompt[start + 7..];
    rest[..rest.find(']').unwrap_or(0)].parse().unwrap_or(0)
}

fn candidate(parts: Value, finished: bool) -> Value {
    let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    let mut response = json!({});
    if finished {
        candidate["finishReason"] = json!("STOP");
        response["usageMetadata"] = json!({
            "promptTokenCount": PROMPT_TOKENS,
            "cachedContentTokenCount": CACHED_TOKENS,
            "candidatesTokenCount": OUTPUT_TOKENS,
            "thoughtsTokenCount": THOUGHTS_TOKENS,
            "totalTokenCount": PROMPT_TOKENS + OUTPUT_TOKENS,
        });
    }
    response["candidates"] = json!([candidate]);
    response
}

/// Sleeps up to `ms`, returning early (false) if the server shuts down.
fn sleep_unless_shutdown(sh: &Shared, ms: u64) -> bool {
    let end = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < end {
        if sh.shutdown.load(Ordering::SeqCst) {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
    true
}

fn handle(target: &str, body: &[u8], w: &mut TcpStream, sh: &Shared) -> io::Result<()> {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if target.contains(":generateContent") {
        sh.side_count.fetch_add(1, Ordering::SeqCst);
        let routing = json!({"complexity_reasoning": "A simple request.", "complexity_score": 10});
        return write_json(
            w,
            "200 OK",
            &candidate(json!([{"text": routing.to_string()}]), true),
        );
    }
    if !target.contains(":streamGenerateContent") {
        return write_json(
            w,
            "404 Not Found",
            &json!({"error": {"code": 404, "message": format!("no route {target}"), "status": "NOT_FOUND"}}),
        );
    }
    let (prompt, tool_result) = last_user_turn(&body);
    let failure = parse_fail(&prompt).filter(|_| !tool_result);
    let index = {
        let mut main = sh.main.lock().unwrap();
        main.push(MainRequest {
            prompt: prompt.clone(),
            tool_result,
            arrived_at: SystemTime::now(),
            answered_at: None,
        });
        main.len() - 1
    };
    if let Some(status) = failure {
        write_json(w, &format!("{status} Failed"), &api_error(status))?;
        sh.main.lock().unwrap()[index].answered_at = Some(SystemTime::now());
        return Ok(());
    }
    w.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n",
    )?;
    w.flush()?;
    if !tool_result && !sleep_unless_shutdown(sh, parse_delay(&prompt)) {
        return Ok(());
    }
    if !tool_result && prompt.contains("[tool]") {
        let call = json!([{"functionCall": {"name": "run_shell_command",
            "args": {"command": TOOL_COMMAND, "description": "Create a marker file"}}}]);
        sse_event(w, &candidate(call, true))?;
    } else {
        let (head, tail) = ANSWER.split_at(10);
        sse_event(w, &candidate(json!([{"text": head}]), false))?;
        sse_event(w, &candidate(json!([{"text": tail}]), true))?;
    }
    w.write_all(b"0\r\n\r\n")?;
    w.flush()?;
    sh.main.lock().unwrap()[index].answered_at = Some(SystemTime::now());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(mock: &MockGemini, path: &str, body: &Value) -> String {
        let mut s = TcpStream::connect(mock.base_url().trim_start_matches("http://")).unwrap();
        let body = body.to_string();
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    fn user(text: &str) -> Value {
        json!({"contents": [{"role": "user", "parts": [{"text": "<session_context>"}]},
                            {"role": "user", "parts": [{"text": text}]}]})
    }

    #[test]
    fn streams_the_answer_after_the_delay_and_asks_for_the_tool_on_the_marker() {
        let mock = MockGemini::start().unwrap();
        let path = "/v1beta/models/m:streamGenerateContent?alt=sse";
        let started = Instant::now();
        let answer = post(&mock, path, &user("Hi [delay=300]"));
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(answer.contains("text/event-stream"), "{answer}");
        assert!(answer.contains("Done. The "), "{answer}");
        assert!(answer.contains("\"finishReason\":\"STOP\""), "{answer}");
        let tool = post(&mock, path, &user("Run it [tool]"));
        assert!(tool.contains(TOOL_COMMAND), "{tool}");
        let result = json!({"contents": [{"role": "user", "parts": [{"text": "Run it [tool]"}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "run_shell_command", "response": {}}}]}]});
        assert!(post(&mock, path, &result).contains("finished the task"));
        assert_eq!(mock.turn_count(), 2);
        assert_eq!(mock.main_requests().len(), 3);
        assert!(mock.main_requests().iter().all(|r| r.answered_at.is_some()));
    }

    #[test]
    fn routing_calls_get_json_and_unknown_routes_404() {
        let mock = MockGemini::start().unwrap();
        let routed = post(&mock, "/v1beta/models/m:generateContent", &user("x"));
        assert!(routed.contains("complexity_score"), "{routed}");
        assert_eq!(mock.side_count(), 1);
        assert!(post(&mock, "/nope", &json!({})).starts_with("HTTP/1.1 404"));
    }
}
