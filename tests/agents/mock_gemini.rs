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

use std::io::{self, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::mock_http::{self, Request, Server, write_json};

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
    /// Set when the server stops: a delay under way ends.
    shutdown: Arc<AtomicBool>,
    main: Mutex<Vec<MainRequest>>,
    side_count: AtomicU64,
}

/// A running mock. Dropping it stops the server and closes every connection.
pub struct MockGemini {
    server: Server,
    shared: Arc<Shared>,
}

impl MockGemini {
    pub fn start() -> io::Result<MockGemini> {
        let shared = Arc::new(Shared {
            shutdown: Arc::new(AtomicBool::new(false)),
            main: Mutex::new(Vec::new()),
            side_count: AtomicU64::new(0),
        });
        let sh = shared.clone();
        let server = Server::start(
            "mock-gemini",
            shared.shutdown.clone(),
            move |req: &Request, w: &mut TcpStream, _: &TcpStream| {
                handle(&req.target, &req.body, w, &sh)
            },
        )?;
        Ok(MockGemini { server, shared })
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port())
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

fn sse_event(w: &mut TcpStream, data: &Value) -> io::Result<()> {
    mock_http::write_chunk(w, &format!("data: {data}\r\n\r\n"))
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
    mock_http::start_event_stream(w, "")?;
    if !tool_result && !mock_http::sleep_unless_stopping(&sh.shutdown, parse_delay(&prompt)) {
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
    mock_http::end_chunks(w)?;
    sh.main.lock().unwrap()[index].answered_at = Some(SystemTime::now());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::{Duration, Instant};

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
