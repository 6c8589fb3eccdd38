//! Mock model server for running the real Codex CLI and Claude Code offline.
//!
//! Self-contained: depends only on `std` and `serde_json`. It is a tiny HTTP/1.1 server on
//! `127.0.0.1:<random port>` (one thread per connection, keep-alive, chunked streaming with a flush
//! per event), so streamed answers really arrive event by event and a request can be held open.
//!
//! Endpoints:
//! * `POST /v1/responses` (Codex, OpenAI Responses API): SSE `response.created`,
//!   `response.output_item.added`, `response.output_text.delta`, `response.output_item.done`,
//!   `response.completed` (with `usage`). Non-streaming requests get the final response JSON.
//! * `POST /v1/messages` (Claude, Anthropic Messages API, `?beta=true` ignored): SSE `message_start`,
//!   `content_block_start`, `content_block_delta`, `content_block_stop`, `message_delta`,
//!   `message_stop` when `"stream": true`, else one JSON message.
//! * `POST /v1/messages/count_tokens`: `{"input_tokens": N}`.
//! * anything else: `404` with a JSON error body.
//!
//! The answer text is always [`ANSWER`]. Markers in the last user text of a *main* request:
//! * `[delay=N]`: after the first event (`response.created` / `message_start`) the stream stays open
//!   and silent for N milliseconds, then the answer is streamed.
//! * `[stall-once]`: the first main request carrying it sends only the first event and then hangs
//!   until the client disconnects or the server is dropped; later requests with it answer normally.
//! * `[fail=429]`: every attempt is answered `429 Too Many Requests` with `retry-after: 1` and the
//!   API's JSON error body (`rate_limit_exceeded` / `rate_limit_error`).
//! * `[fail=529]`: every attempt is answered `529` with an Anthropic-style `overloaded_error` body
//!   (Codex gets the same status and body). Any other `[fail=NNN]` answers that status.
//! * `[cut-stream]`: a streamed answer sends its first events and half of the text, then the
//!   connection is closed; a non-streaming request (Claude's fallback) is closed unanswered.
//! * `[lines=N]`: the answer is [`ANSWER`] followed by N numbered lines ([`long_answer`]), more
//!   than a screen holds.
//!
//! Main vs side requests: a model request is *main* when its JSON body has a non-empty `tools`
//! array (the agent loop always sends its tools; Claude Code's title/topic/summary calls and
//! similar helper calls send none). Only main requests are counted by [`MockModel::request_count`]
//! and [`MockModel::prompts`], and only they honour the markers; side requests are answered at
//! once. Every request (including count_tokens and 404s) is visible in [`MockModel::requests`].

#![allow(dead_code)]

use std::io::{self, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::mock_http::{self, Request, Server};

/// The request id headers of every answer (the real APIs send one; the agents log it).
const REQUEST_ID: &str = "request-id: req_mock\r\nx-request-id: req_mock\r\n";

/// The text every model answer consists of.
pub const ANSWER: &str = "Done. The mock agent finished the task.";

/// Usage reported on every answer. Codex shows one turn as
/// `Token usage: total=1,090 input=1,034 (+ 200 cached) output=56 (reasoning 7)`.
pub const USAGE_INPUT_TOKENS: u64 = 1234;
pub const USAGE_CACHED_TOKENS: u64 = 200;
pub const USAGE_OUTPUT_TOKENS: u64 = 56;
pub const USAGE_REASONING_TOKENS: u64 = 7;

/// What a request was, as classified by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// Agent-loop model request (has tools): counted, markers honoured.
    Main,
    /// Helper model request without tools (titles, summaries, quota checks): answered at once.
    Side,
    /// `POST /v1/messages/count_tokens`.
    CountTokens,
    /// Anything else; answered 404.
    Other,
}

/// One request seen by the server.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub method: String,
    /// Path including the query string, e.g. `/v1/messages?beta=true`.
    pub path: String,
    pub kind: RequestKind,
    /// `model` field of the body ("" if none).
    pub model: String,
    pub stream: bool,
    /// Last user text of the body ("" if none).
    pub prompt: String,
    /// Milliseconds since the server started when the request arrived.
    pub at_ms: u64,
    /// Wall-clock arrival, and when the answer was completely sent (main requests), for
    /// measuring how fast harnex notices the agent's state changes.
    pub arrived_at: std::time::SystemTime,
    pub answered_at: Option<std::time::SystemTime>,
}

struct Shared {
    /// Set when the server stops: waits under way end.
    shutdown: Arc<AtomicBool>,
    stall_used: AtomicBool,
    main_count: AtomicUsize,
    prompts: Mutex<Vec<String>>,
    records: Mutex<Vec<RequestRecord>>,
    next_id: AtomicU64,
    started: Instant,
    log: Option<Mutex<std::fs::File>>,
}

/// A running mock model server. Dropping it stops the server and closes every connection.
pub struct MockModel {
    server: Server,
    shared: Arc<Shared>,
}

impl MockModel {
    /// Binds `127.0.0.1:0` and serves on background threads (one per connection).
    /// If the env var `MOCK_MODEL_LOG` names a file, a line per request (and full bodies) is appended to it.
    pub fn start() -> io::Result<MockModel> {
        let log = match std::env::var_os("MOCK_MODEL_LOG") {
            Some(p) if !p.is_empty() => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            )),
            _ => None,
        };
        let shared = Arc::new(Shared {
            shutdown: Arc::new(AtomicBool::new(false)),
            stall_used: AtomicBool::new(false),
            main_count: AtomicUsize::new(0),
            prompts: Mutex::new(Vec::new()),
            records: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            started: Instant::now(),
            log,
        });
        let sh = shared.clone();
        let server = Server::start(
            "mock-model",
            shared.shutdown.clone(),
            move |req: &Request, w: &mut TcpStream, conn: &TcpStream| handle(req, w, conn, &sh),
        )?;
        Ok(MockModel { server, shared })
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `http://127.0.0.1:PORT` (Claude's `ANTHROPIC_BASE_URL`; Codex uses this plus `/v1`).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// Main model requests (see module docs) answered or in progress. Excludes count_tokens and side requests.
    pub fn request_count(&self) -> usize {
        self.shared.main_count.load(Ordering::SeqCst)
    }

    /// The last user text of each main model request, in arrival order.
    pub fn prompts(&self) -> Vec<String> {
        self.shared.prompts.lock().unwrap().clone()
    }

    /// Every request seen (main, side, count_tokens, 404s), in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.records.lock().unwrap().clone()
    }

    /// Polls until `request_count() >= n` or the timeout passes; returns whether it was reached.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.request_count() >= n {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.request_count() >= n
    }
}

/// Writes `CODEX_HOME/config.toml` pointing Codex at the mock provider (`env_key = "MOCK_API_KEY"`).
/// `trusted = true` adds `[projects."<repo>"] trust_level = "trusted"` (else Codex asks "Trust this folder?").
pub fn write_codex_home(
    codex_home: &Path,
    port: u16,
    repo: &Path,
    trusted: bool,
) -> io::Result<()> {
    std::fs::create_dir_all(codex_home)?;
    let mut s = format!(
        "model = \"mock-model\"\n\
         model_provider = \"mock\"\n\
         check_for_update_on_startup = false\n\
         \n\
         [model_providers.mock]\n\
         name = \"Mock\"\n\
         base_url = \"http://127.0.0.1:{port}/v1\"\n\
         wire_api = \"responses\"\n\
         env_key = \"MOCK_API_KEY\"\n\
         \n\
         [tui]\n\
         screen_reader_detection_done = true\n"
    );
    if trusted {
        s.push_str(&format!(
            "\n[projects.{}]\ntrust_level = \"trusted\"\n",
            toml_string(&repo.to_string_lossy())
        ));
    }
    std::fs::write(codex_home.join("config.toml"), s)
}

/// Writes `CLAUDE_CONFIG_DIR/.claude.json` (onboarding done, API key approved) and `settings.json`.
/// `trusted = true` accepts the workspace trust dialog for `repo` and skips the bypass-permissions dialog.
pub fn write_claude_config(
    config_dir: &Path,
    api_key: &str,
    repo: &Path,
    trusted: bool,
) -> io::Result<()> {
    std::fs::create_dir_all(config_dir)?;
    let tail: String = {
        let chars: Vec<char> = api_key.chars().collect();
        chars[chars.len().saturating_sub(20)..].iter().collect()
    };
    let mut cfg = json!({
        "hasCompletedOnboarding": true,
        "lastOnboardingVersion": "2.1.328",
        "customApiKeyResponses": {"approved": [tail], "rejected": []},
    });
    if trusted {
        cfg["projects"] = json!({ repo.to_string_lossy(): {"hasTrustDialogAccepted": true} });
    }
    std::fs::write(
        config_dir.join(".claude.json"),
        serde_json::to_vec_pretty(&cfg).unwrap(),
    )?;
    let settings = if trusted {
        json!({"skipDangerousModePermissionPrompt": true})
    } else {
        json!({})
    };
    std::fs::write(
        config_dir.join("settings.json"),
        serde_json::to_vec_pretty(&settings).unwrap(),
    )
}

/// Env for Codex: `CODEX_HOME` and `MOCK_API_KEY` (the provider's `env_key`).
pub fn codex_env(codex_home: &Path) -> Vec<(String, String)> {
    vec![
        (
            "CODEX_HOME".into(),
            codex_home.to_string_lossy().into_owned(),
        ),
        ("MOCK_API_KEY".into(), "mock-key".into()),
    ]
}

/// Env for Claude Code against the mock on `port`.
pub fn claude_env(config_dir: &Path, port: u16, api_key: &str) -> Vec<(String, String)> {
    [
        (
            "CLAUDE_CONFIG_DIR",
            config_dir.to_string_lossy().into_owned(),
        ),
        ("ANTHROPIC_BASE_URL", format!("http://127.0.0.1:{port}")),
        ("ANTHROPIC_API_KEY", api_key.to_string()),
        ("IS_SANDBOX", "1".into()),
        ("DISABLE_TELEMETRY", "1".into()),
        ("DISABLE_AUTOUPDATER", "1".into()),
        ("DISABLE_ERROR_REPORTING", "1".into()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// Server internals

fn write_json(w: &mut TcpStream, status: &str, v: &Value) -> io::Result<()> {
    mock_http::write_json_with(w, status, REQUEST_ID, v)
}

/// A chunked SSE writer that flushes after every event.
struct Sse<'a> {
    w: &'a mut TcpStream,
}

impl<'a> Sse<'a> {
    fn start(w: &'a mut TcpStream) -> io::Result<Sse<'a>> {
        mock_http::start_event_stream(w, REQUEST_ID)?;
        Ok(Sse { w })
    }
    fn event(&mut self, name: &str, data: &Value) -> io::Result<()> {
        let payload = format!(
            "event: {name}\ndata: {}\n\n",
            serde_json::to_string(data).unwrap()
        );
        mock_http::write_chunk(self.w, &payload)
    }
    fn finish(self) -> io::Result<()> {
        mock_http::end_chunks(self.w)
    }
}

fn last_user_text_codex(body: &Value) -> String {
    let mut last = String::new();
    if let Some(input) = body.get("input") {
        if let Some(s) = input.as_str() {
            return s.to_string();
        }
        for item in input.as_array().into_iter().flatten() {
            if item.get("role").and_then(Value::as_str) != Some("user") {
                continue;
            }
            let content = item.get("content");
            if let Some(s) = content.and_then(Value::as_str) {
                last = s.to_string();
                continue;
            }
            let texts: Vec<&str> = content
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("text").and_then(Value::as_str))
                .collect();
            if !texts.is_empty() {
                last = texts.join("\n");
            }
        }
    }
    last
}

fn last_user_text_claude(body: &Value) -> String {
    let msgs = match body.get("messages").and_then(Value::as_array) {
        Some(m) => m,
        None => return String::new(),
    };
    for m in msgs.iter().rev() {
        if m.get("role").and_then(Value::as_str) != Some("user") {
            continue;
        }
        match m.get("content") {
            Some(Value::String(s)) => return s.clone(),
            Some(Value::Array(blocks)) => {
                let texts: Vec<&str> = blocks
                    .iter()
                    .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                    .filter_map(|b| b.get("text").and_then(Value::as_str))
                    .collect();
                // Prefer the user's own text over <system-reminder> blocks Claude Code injects.
                if let Some(t) = texts
                    .iter()
                    .rev()
                    .find(|t| !t.trim_start().starts_with("<system-reminder>"))
                {
                    return t.to_string();
                }
                if let Some(t) = texts.last() {
                    return t.to_string();
                }
                // Only tool results: the user text is further back.
            }
            _ => {}
        }
    }
    String::new()
}

/// The main answer: [`ANSWER`], then `lines` lines `Line K of the long answer (N lines).`
pub fn long_answer(lines: u64) -> String {
    let mut text = ANSWER.to_string();
    for k in 1..=lines {
        text.push_str(&format!("\n\n{}", long_answer_line(k, lines)));
    }
    text
}

/// Line `k` of a long answer of `lines` lines (distinct per answer length, so two answers of
/// different lengths never draw the same rows).
pub fn long_answer_line(k: u64, lines: u64) -> String {
    format!("Line {k} of the long answer ({lines} lines).")
}

fn parse_delay(prompt: &str) -> u64 {
    parse_marker(prompt, "[delay=")
}

/// The number in the first `[name=N]` marker of `prompt` (`marker` is `[name=`), else 0.
fn parse_marker(prompt: &str, marker: &str) -> u64 {
    let mut rest = prompt;
    while let Some(i) = rest.find(marker) {
        let after = &rest[i + marker.len()..];
        let end = after.find(']').unwrap_or(0);
        if let Ok(ms) = after[..end].trim().parse::<u64>() {
            return ms;
        }
        rest = after;
    }
    0
}

/// How a main request is to be answered, from the markers in its prompt.
#[derive(Debug, Default)]
struct Plan {
    delay: u64,
    stall: bool,
    failure: Option<Failure>,
}

/// A way the mock fails like the real services do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// `[fail=NNN]`: every attempt gets this HTTP status and an error body.
    Status(u16),
    /// `[cut-stream]`: the connection closes in the middle of the answer.
    CutStream,
}

fn parse_failure(prompt: &str) -> Option<Failure> {
    if prompt.contains("[cut-stream]") {
        return Some(Failure::CutStream);
    }
    let after = &prompt[prompt.find("[fail=")? + 6..];
    let status = after[..after.find(']')?].trim().parse().ok()?;
    Some(Failure::Status(status))
}

/// The first half of `text` (on a char boundary): what a cut stream got out.
fn half(text: &str) -> &str {
    let mut end = text.len() / 2;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// An error answer as the real API sends it: OpenAI's shape for Codex, Anthropic's for Claude;
/// 429 carries `retry-after: 1`.
fn write_failure(w: &mut TcpStream, api: &str, status: u16) -> io::Result<()> {
    let (reason, kind, message) = match status {
        429 => (
            "Too Many Requests",
            if api == "codex" {
                "rate_limit_exceeded"
            } else {
                "rate_limit_error"
            },
            "Rate limit reached for mock-model. Please try again in 1s.",
        ),
        529 => ("Overloaded", "overloaded_error", "Overloaded"),
        _ => ("Mock Failure", "api_error", "mock model failure"),
    };
    let body = if api == "codex" && status == 429 {
        json!({"error": {"message": message, "type": "requests", "param": null, "code": kind}})
    } else {
        json!({"type": "error", "error": {"type": kind, "message": message}})
    };
    let retry_after = if status == 429 {
        "retry-after: 1\r\n"
    } else {
        ""
    };
    mock_http::write_json_with(
        w,
        &format!("{status} {reason}"),
        &format!("{retry_after}{REQUEST_ID}"),
        &body,
    )
}

/// Sleeps up to `ms`, returning early (false) if the server shuts down.
fn sleep_unless_shutdown(sh: &Shared, ms: u64) -> bool {
    mock_http::sleep_unless_stopping(&sh.shutdown, ms)
}

/// Holds the connection open without sending anything until the client closes it or the server stops.
fn stall(sh: &Shared, conn: &TcpStream) {
    let mut buf = [0u8; 1];
    loop {
        if sh.shutdown.load(Ordering::SeqCst) {
            return;
        }
        if conn
            .set_read_timeout(Some(Duration::from_millis(100)))
            .is_err()
        {
            return;
        }
        let r = conn.peek(&mut buf);
        let _ = conn.set_read_timeout(None);
        match r {
            Ok(0) => return, // client closed
            Ok(_) => thread::sleep(Duration::from_millis(100)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

fn usage_codex() -> Value {
    json!({
        "input_tokens": USAGE_INPUT_TOKENS,
        "input_tokens_details": {"cached_tokens": USAGE_CACHED_TOKENS},
        "output_tokens": USAGE_OUTPUT_TOKENS,
        "output_tokens_details": {"reasoning_tokens": USAGE_REASONING_TOKENS},
        "total_tokens": USAGE_INPUT_TOKENS + USAGE_OUTPUT_TOKENS,
    })
}

fn usage_claude(output_tokens: u64) -> Value {
    json!({
        "input_tokens": USAGE_INPUT_TOKENS - USAGE_CACHED_TOKENS,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": USAGE_CACHED_TOKENS,
        "output_tokens": output_tokens,
    })
}

fn handle(req: &Request, w: &mut TcpStream, conn: &TcpStream, sh: &Arc<Shared>) -> io::Result<()> {
    let path = req.target.split('?').next().unwrap_or("");
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let is_post = req.method.eq_ignore_ascii_case("POST");
    let api = match path {
        "/v1/responses" | "/responses" if is_post => "codex",
        "/v1/messages" if is_post => "claude",
        "/v1/messages/count_tokens" if is_post => "count",
        _ => "other",
    };
    let has_tools = body
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    let kind = match api {
        "codex" | "claude" if has_tools => RequestKind::Main,
        "codex" | "claude" => RequestKind::Side,
        "count" => RequestKind::CountTokens,
        _ => RequestKind::Other,
    };
    let prompt = match api {
        "codex" => last_user_text_codex(&body),
        "claude" | "count" => last_user_text_claude(&body),
        _ => String::new(),
    };
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let at_ms = sh.started.elapsed().as_millis() as u64;
    if let Some(log) = &sh.log {
        let mut f = log.lock().unwrap();
        let _ = writeln!(
            f,
            "{at_ms} {} {} kind={kind:?} model={model} stream={stream} prompt={:?}\n  body={}",
            req.method,
            req.target,
            prompt,
            String::from_utf8_lossy(&req.body)
        );
    }
    let record_index = {
        let mut records = sh.records.lock().unwrap();
        records.push(RequestRecord {
            method: req.method.clone(),
            path: req.target.clone(),
            kind,
            model: model.clone(),
            stream,
            prompt: prompt.clone(),
            at_ms,
            arrived_at: std::time::SystemTime::now(),
            answered_at: None,
        });
        records.len() - 1
    };
    let answer = long_answer(parse_marker(&prompt, "[lines="));
    let plan = if kind == RequestKind::Main {
        {
            // Count and record under one lock so prompts().len() == request_count() is never torn.
            let mut p = sh.prompts.lock().unwrap();
            p.push(prompt.clone());
            sh.main_count.fetch_add(1, Ordering::SeqCst);
        }
        let stall = prompt.contains("[stall-once]") && !sh.stall_used.swap(true, Ordering::SeqCst);
        Plan {
            delay: parse_delay(&prompt),
            stall,
            failure: parse_failure(&prompt),
        }
    } else {
        Plan::default()
    };
    let n = sh.next_id.fetch_add(1, Ordering::SeqCst);

    let answered = |result: io::Result<()>| {
        if result.is_ok() {
            sh.records.lock().unwrap()[record_index].answered_at =
                Some(std::time::SystemTime::now());
        }
        result
    };
    // Only main requests carry a plan with a failure, and they are all model requests.
    if let Some(Failure::Status(status)) = plan.failure {
        return answered(write_failure(w, api, status));
    }
    match api {
        "codex" => answered(answer_codex(
            w, conn, sh, n, &model, stream, &plan, kind, &body, &answer,
        )),
        "claude" => answered(answer_claude(
            w, conn, sh, n, &model, stream, &plan, kind, &body, &answer,
        )),
        "count" => {
            let approx = (req.body.len() / 4).max(1);
            write_json(w, "200 OK", &json!({"input_tokens": approx}))
        }
        _ => write_json(
            w,
            "404 Not Found",
            &json!({"type": "error", "error": {"type": "not_found_error", "message": format!("mock model: no route for {} {}", req.method, req.target)}}),
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn answer_codex(
    w: &mut TcpStream,
    conn: &TcpStream,
    sh: &Shared,
    n: u64,
    model: &str,
    stream: bool,
    plan: &Plan,
    kind: RequestKind,
    body: &Value,
    answer: &str,
) -> io::Result<()> {
    let resp_id = format!("resp_mock_{n}");
    let msg_id = format!("msg_mock_{n}");
    // Side requests with a JSON schema (Codex's thread-title request) get a value matching it.
    let text = match body.pointer("/text/format/schema") {
        Some(schema) if kind == RequestKind::Side => value_for_schema(schema).to_string(),
        _ => answer.to_string(),
    };
    let done_item = json!({
        "type": "message", "role": "assistant", "id": msg_id, "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    });
    let cut = plan.failure == Some(Failure::CutStream);
    if !stream {
        if cut {
            return Err(io::Error::other("cut before the answer"));
        }
        if !sleep_unless_shutdown(sh, plan.delay) {
            return Ok(());
        }
        return write_json(
            w,
            "200 OK",
            &json!({"id": resp_id, "object": "response", "model": model, "status": "completed",
                    "output": [done_item], "usage": usage_codex()}),
        );
    }
    let mut sse = Sse::start(w)?;
    sse.event(
        "response.created",
        &json!({"type": "response.created", "response": {"id": resp_id, "object": "response", "model": model, "status": "in_progress", "output": []}}),
    )?;
    if plan.stall {
        stall(sh, conn);
        return Err(io::Error::other("stalled request ended"));
    }
    if !sleep_unless_shutdown(sh, plan.delay) {
        return Ok(());
    }
    sse.event(
        "response.output_item.added",
        &json!({"type": "response.output_item.added", "output_index": 0,
                "item": {"type": "message", "role": "assistant", "id": msg_id, "status": "in_progress", "content": []}}),
    )?;
    if cut {
        sse.event(
            "response.output_text.delta",
            &json!({"type": "response.output_text.delta", "item_id": msg_id, "output_index": 0, "content_index": 0, "delta": half(&text)}),
        )?;
        return Err(io::Error::other("stream cut"));
    }
    sse.event(
        "response.output_text.delta",
        &json!({"type": "response.output_text.delta", "item_id": msg_id, "output_index": 0, "content_index": 0, "delta": text}),
    )?;
    sse.event(
        "response.output_item.done",
        &json!({"type": "response.output_item.done", "output_index": 0, "item": done_item}),
    )?;
    sse.event(
        "response.completed",
        &json!({"type": "response.completed", "response": {"id": resp_id, "object": "response", "model": model,
                "status": "completed", "output": [done_item], "usage": usage_codex()}}),
    )?;
    // Every event is out: the answer counts as sent even if the client hangs up before the
    // stream's terminator (it has what it needs).
    let _ = sse.finish();
    Ok(())
}

/// A small value satisfying a JSON schema: strings are "Mock task", numbers 0, booleans false.
fn value_for_schema(schema: &Value) -> Value {
    let ty = match schema.get("type") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null")
            .to_string(),
        Some(Value::String(t)) => t.clone(),
        _ if schema.get("properties").is_some() => "object".into(),
        _ => "string".into(),
    };
    match ty.as_str() {
        "object" => {
            let mut o = serde_json::Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    o.insert(k.clone(), value_for_schema(v));
                }
            }
            Value::Object(o)
        }
        "array" => json!([]),
        "boolean" => json!(false),
        "integer" | "number" => json!(0),
        "null" => Value::Null,
        _ => match schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            Some(v) => v.clone(),
            None => json!("Mock task"),
        },
    }
}

/// Text for a side request (Claude's title / topic / summary helpers), shaped to what they ask for.
fn side_text(body: &Value) -> String {
    let system = match body.get("system") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    let wants_json = body.pointer("/output_format/type").and_then(Value::as_str)
        == Some("json_schema")
        || system.contains("JSON");
    let sys = system.to_lowercase();
    if sys.contains("isnewtopic") || sys.contains("new conversation topic") {
        return r#"{"isNewTopic": false, "title": null}"#.to_string();
    }
    if wants_json {
        return r#"{"title": "Mock task"}"#.to_string();
    }
    if sys.contains("title") {
        return "Mock task".to_string();
    }
    ANSWER.to_string()
}

#[allow(clippy::too_many_arguments)]
fn answer_claude(
    w: &mut TcpStream,
    conn: &TcpStream,
    sh: &Shared,
    n: u64,
    model: &str,
    stream: bool,
    plan: &Plan,
    kind: RequestKind,
    body: &Value,
    answer: &str,
) -> io::Result<()> {
    let msg_id = format!("msg_mock_{n}");
    let text = if kind == RequestKind::Main {
        answer.to_string()
    } else {
        side_text(body)
    };
    let cut = plan.failure == Some(Failure::CutStream);
    if !stream {
        if cut {
            return Err(io::Error::other("cut before the answer"));
        }
        if !sleep_unless_shutdown(sh, plan.delay) {
            return Ok(());
        }
        return write_json(
            w,
            "200 OK",
            &json!({"id": msg_id, "type": "message", "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": null,
                    "usage": usage_claude(USAGE_OUTPUT_TOKENS)}),
        );
    }
    let mut sse = Sse::start(w)?;
    sse.event(
        "message_start",
        &json!({"type": "message_start", "message": {"id": msg_id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage_claude(1)}}),
    )?;
    if plan.stall {
        stall(sh, conn);
        return Err(io::Error::other("stalled request ended"));
    }
    if !sleep_unless_shutdown(sh, plan.delay) {
        return Ok(());
    }
    sse.event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    )?;
    if cut {
        sse.event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": half(&text)}}),
        )?;
        return Err(io::Error::other("stream cut"));
    }
    sse.event(
        "content_block_delta",
        &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
    )?;
    sse.event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    )?;
    sse.event(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"output_tokens": USAGE_OUTPUT_TOKENS}}),
    )?;
    sse.event("message_stop", &json!({"type": "message_stop"}))?;
    // Every event is out: the answer counts as sent even if the client hangs up before the
    // stream's terminator (it has what it needs).
    let _ = sse.finish();
    Ok(())
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read};
    use std::net::Shutdown;

    /// Minimal client: sends one request, returns (status line, headers, raw body) and timestamps of body reads.
    fn send(port: u16, method: &str, path: &str, body: &str) -> TcpStream {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        s
    }

    /// Reads a full response; returns (head, decoded body, per-chunk arrival times since `t0`).
    fn read_response(s: &mut TcpStream, t0: Instant) -> (String, String, Vec<(Duration, String)>) {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            if l == "\r\n" || l.is_empty() {
                break;
            }
            head.push_str(&l);
        }
        let mut body = String::new();
        let mut chunks = Vec::new();
        if head.to_lowercase().contains("transfer-encoding: chunked") {
            loop {
                let mut l = String::new();
                r.read_line(&mut l).unwrap();
                let n = usize::from_str_radix(l.trim(), 16).unwrap();
                if n == 0 {
                    let mut end = String::new();
                    r.read_line(&mut end).unwrap();
                    break;
                }
                let mut buf = vec![0; n + 2];
                r.read_exact(&mut buf).unwrap();
                let c = String::from_utf8_lossy(&buf[..n]).to_string();
                chunks.push((t0.elapsed(), c.clone()));
                body.push_str(&c);
            }
        } else {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            let mut buf = vec![0; len];
            r.read_exact(&mut buf).unwrap();
            body = String::from_utf8(buf).unwrap();
        }
        (head, body, chunks)
    }

    fn codex_body(text: &str) -> String {
        json!({"model": "mock-model", "stream": true, "tools": [{"type": "function", "name": "shell"}],
               "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context>"}]},
                         {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]})
        .to_string()
    }

    fn claude_body(text: &str, stream: bool, tools: bool) -> String {
        let mut b = json!({"model": "claude-x", "max_tokens": 100, "stream": stream,
               "messages": [{"role": "user", "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"}, {"type": "text", "text": text}]}]});
        if tools {
            b["tools"] = json!([{"name": "Bash", "input_schema": {"type": "object"}}]);
        }
        b.to_string()
    }

    fn sse_events(body: &str) -> Vec<(String, Value)> {
        body.split("\n\n")
            .filter(|b| !b.trim().is_empty())
            .map(|b| {
                let ev = b
                    .lines()
                    .find_map(|l| l.strip_prefix("event: "))
                    .unwrap()
                    .to_string();
                let data = b.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
                (ev, serde_json::from_str(data).unwrap())
            })
            .collect()
    }

    #[test]
    fn codex_stream_sequence_and_usage() {
        let m = MockModel::start().unwrap();
        let t0 = Instant::now();
        let mut s = send(m.port(), "POST", "/v1/responses", &codex_body("hello"));
        let (head, body, _) = read_response(&mut s, t0);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("text/event-stream"));
        let evs = sse_events(&body);
        let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.output_item.added",
                "response.output_text.delta",
                "response.output_item.done",
                "response.completed"
            ]
        );
        assert_eq!(evs[2].1["delta"], ANSWER);
        let usage = &evs[4].1["response"]["usage"];
        assert_eq!(usage["input_tokens"], 1234);
        assert_eq!(usage["input_tokens_details"]["cached_tokens"], 200);
        assert_eq!(usage["output_tokens_details"]["reasoning_tokens"], 7);
        assert_eq!(usage["total_tokens"], 1290);
        assert_eq!(m.request_count(), 1);
        assert_eq!(m.prompts(), vec!["hello".to_string()]);
    }

    #[test]
    fn delay_is_inside_open_stream_and_does_not_block_others() {
        let m = MockModel::start().unwrap();
        let port = m.port();
        let t0 = Instant::now();
        let slow = thread::spawn(move || {
            let mut s = send(
                port,
                "POST",
                "/v1/responses",
                &codex_body("slow [delay=800]"),
            );
            read_response(&mut s, t0)
        });
        // The slow request is in (and in its delay) before the fast one is sent.
        assert!(m.wait_for_requests(1, Duration::from_secs(5)));
        let mut s = send(
            port,
            "POST",
            "/v1/messages?beta=true",
            &claude_body("fast", true, true),
        );
        let (_, body, _) = read_response(&mut s, t0);
        let fast_done = t0.elapsed();
        assert!(
            fast_done < Duration::from_millis(600),
            "fast request was blocked: {fast_done:?}"
        );
        assert!(body.contains(ANSWER));
        let (_, body, chunks) = slow.join().unwrap();
        assert!(body.contains(ANSWER));
        // First event arrives right away, the answer only after the delay.
        assert!(chunks[0].1.contains("response.created"));
        assert!(
            chunks[0].0 < Duration::from_millis(400),
            "{:?}",
            chunks[0].0
        );
        assert!(
            chunks[1].0 >= Duration::from_millis(800),
            "{:?}",
            chunks[1].0
        );
        assert_eq!(m.request_count(), 2);
    }

    #[test]
    fn claude_stream_and_non_stream_and_count_tokens() {
        let m = MockModel::start().unwrap();
        let t0 = Instant::now();
        let mut s = send(
            m.port(),
            "POST",
            "/v1/messages?beta=true",
            &claude_body("do it", true, true),
        );
        let (head, body, _) = read_response(&mut s, t0);
        assert!(head.starts_with("HTTP/1.1 200"));
        let evs = sse_events(&body);
        let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(evs[2].1["delta"]["text"], ANSWER);
        assert_eq!(evs[4].1["usage"]["output_tokens"], 56);
        assert!(evs[0].1["message"]["usage"]["input_tokens"].is_u64());

        // Keep-alive: a second request on the same connection, non-streaming.
        write!(
            s,
            "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{}",
            claude_body("again", false, true).len(),
            claude_body("again", false, true)
        )
        .unwrap();
        let (_, body, _) = read_response(&mut s, t0);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["type"], "message");
        assert_eq!(v["content"][0]["text"], ANSWER);
        assert_eq!(v["usage"]["output_tokens"], 56);

        let mut s = send(
            m.port(),
            "POST",
            "/v1/messages/count_tokens?beta=true",
            &claude_body("x", false, true),
        );
        let (_, body, _) = read_response(&mut s, t0);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["input_tokens"].as_u64().unwrap() > 0);

        // Side request (no tools): answered, not counted.
        let mut s = send(
            m.port(),
            "POST",
            "/v1/messages",
            &claude_body("title please [stall-once]", false, false),
        );
        let (_, body, _) = read_response(&mut s, t0);
        assert!(body.contains("\"type\":\"message\""));

        assert_eq!(m.request_count(), 2);
        assert_eq!(m.prompts(), vec!["do it".to_string(), "again".to_string()]);
        assert_eq!(m.requests().len(), 4);
        assert_eq!(m.requests()[2].kind, RequestKind::CountTokens);
        assert_eq!(m.requests()[3].kind, RequestKind::Side);
    }

    #[test]
    fn unknown_routes_are_404_json() {
        let m = MockModel::start().unwrap();
        let mut s = send(m.port(), "GET", "/v1/models", "");
        let (head, body, _) = read_response(&mut s, Instant::now());
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["type"], "not_found_error");
        assert_eq!(m.request_count(), 0);
    }

    #[test]
    fn stall_once_hangs_first_then_answers_and_ends_on_disconnect() {
        let m = MockModel::start().unwrap();
        let t0 = Instant::now();
        let s1 = send(
            m.port(),
            "POST",
            "/v1/responses",
            &codex_body("go [stall-once]"),
        );
        // Head and first chunk arrive, then nothing.
        let mut r = BufReader::new(s1.try_clone().unwrap());
        let mut got = String::new();
        // Read up to the end of the first chunk (the line after its `data:` line's blank line).
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            got.push_str(&l);
            if got.contains("data: ") && l == "\r\n" {
                break;
            }
        }
        assert!(got.contains("response.created"));
        s1.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 64];
        let e = r.read(&mut buf).unwrap_err();
        assert!(matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));
        // A retry with the same marker answers normally.
        let mut s2 = send(
            m.port(),
            "POST",
            "/v1/responses",
            &codex_body("go [stall-once]"),
        );
        let (_, body, _) = read_response(&mut s2, t0);
        assert!(body.contains("response.completed"));
        assert_eq!(m.request_count(), 2);
        // Client disconnect ends the stalled connection on the server.
        drop(r);
        s1.shutdown(Shutdown::Both).unwrap();
        drop(s1);
        let end = Instant::now() + Duration::from_secs(3);
        while m.server.open_connections() > 1 && Instant::now() < end {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(
            m.server.open_connections() <= 1,
            "stalled connection still open"
        );
        let _ = &mut s2;
    }

    #[test]
    fn drop_unblocks_stalled_and_delayed_streams() {
        let m = MockModel::start().unwrap();
        let port = m.port();
        let mut s1 = send(
            port,
            "POST",
            "/v1/messages",
            &claude_body("[stall-once]", true, true),
        );
        let mut s2 = send(
            port,
            "POST",
            "/v1/messages",
            &claude_body("[delay=60000]", true, true),
        );
        assert!(m.wait_for_requests(2, Duration::from_secs(5)));
        let t = Instant::now();
        drop(m);
        assert!(t.elapsed() < Duration::from_secs(2));
        // Both clients see the connection end (EOF or reset) promptly.
        for s in [&mut s1, &mut s2] {
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            let mut all = Vec::new();
            let r = s.read_to_end(&mut all);
            assert!(r.is_ok() || r.unwrap_err().kind() == io::ErrorKind::ConnectionReset);
            assert!(!String::from_utf8_lossy(&all).contains(ANSWER));
        }
        // The port closes (promptly: the server is gone).
        let end = Instant::now() + Duration::from_secs(2);
        while TcpStream::connect(("127.0.0.1", port)).is_ok() {
            assert!(Instant::now() < end, "port {port} still open");
            thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn config_writers() {
        let dir = std::env::temp_dir().join(format!("mock-model-test-{}", std::process::id()));
        let repo = dir.join("repo \"q\"");
        write_codex_home(&dir.join("codex"), 4242, &repo, true).unwrap();
        let toml = std::fs::read_to_string(dir.join("codex/config.toml")).unwrap();
        assert!(toml.contains("base_url = \"http://127.0.0.1:4242/v1\""));
        assert!(toml.contains("trust_level = \"trusted\""));
        assert!(toml.contains("repo \\\"q\\\""));
        write_codex_home(&dir.join("codex2"), 4242, &repo, false).unwrap();
        assert!(
            !std::fs::read_to_string(dir.join("codex2/config.toml"))
                .unwrap()
                .contains("trust_level")
        );

        let key = "sk-ant-mock-0123456789abcdefghijklmnop";
        write_claude_config(&dir.join("claude"), key, &repo, true).unwrap();
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("claude/.claude.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            v["customApiKeyResponses"]["approved"][0],
            &key[key.len() - 20..]
        );
        assert_eq!(
            v["projects"][repo.to_string_lossy().as_ref()]["hasTrustDialogAccepted"],
            true
        );
        let s: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("claude/settings.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(s["skipDangerousModePermissionPrompt"], true);
        let env = claude_env(&dir.join("claude"), 4242, key);
        assert!(env.contains(&(
            "ANTHROPIC_BASE_URL".to_string(),
            "http://127.0.0.1:4242".to_string()
        )));
        assert!(env.contains(&("IS_SANDBOX".to_string(), "1".to_string())));
        assert!(
            codex_env(&dir.join("codex"))
                .iter()
                .any(|(k, _)| k == "MOCK_API_KEY")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fail_markers_answer_every_attempt_with_the_status_and_the_apis_error_body() {
        let m = MockModel::start().unwrap();
        let t0 = Instant::now();
        for attempt in 0..2 {
            let mut s = send(
                m.port(),
                "POST",
                "/v1/responses",
                &codex_body("go [fail=429]"),
            );
            let (head, body, _) = read_response(&mut s, t0);
            assert!(
                head.starts_with("HTTP/1.1 429 "),
                "attempt {attempt}: {head}"
            );
            assert!(head.to_lowercase().contains("retry-after: 1\r\n"), "{head}");
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["error"]["code"], "rate_limit_exceeded");
        }
        let mut s = send(
            m.port(),
            "POST",
            "/v1/messages?beta=true",
            &claude_body("go [fail=429]", true, true),
        );
        let (head, body, _) = read_response(&mut s, t0);
        assert!(head.starts_with("HTTP/1.1 429 "), "{head}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["type"], "rate_limit_error");
        for (path, text) in [
            ("/v1/messages", claude_body("go [fail=529]", true, true)),
            ("/v1/responses", codex_body("go [fail=529]")),
        ] {
            let mut s = send(m.port(), "POST", path, &text);
            let (head, body, _) = read_response(&mut s, t0);
            assert!(head.starts_with("HTTP/1.1 529 Overloaded"), "{head}");
            assert!(!head.to_lowercase().contains("retry-after"), "{head}");
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["error"]["type"], "overloaded_error");
        }
        // Side requests (no tools) are never failed: the agents' helpers keep working.
        let mut s = send(
            m.port(),
            "POST",
            "/v1/messages",
            &claude_body("title [fail=529]", false, false),
        );
        let (head, _, _) = read_response(&mut s, t0);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(m.request_count(), 5);
        // The server notes an answer as sent just after its last byte, which the client may
        // already have read.
        let end = Instant::now() + Duration::from_secs(3);
        while !m.requests().iter().all(|r| r.answered_at.is_some()) {
            assert!(Instant::now() < end, "error answers count as answered");
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Everything the server sends on one connection until it closes it.
    fn read_until_closed(s: &mut TcpStream) -> String {
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        String::from_utf8_lossy(&all).into_owned()
    }

    #[test]
    fn cut_stream_sends_half_the_answer_then_closes_the_connection() {
        let m = MockModel::start().unwrap();
        let mut s = send(
            m.port(),
            "POST",
            "/v1/responses",
            &codex_body("go [cut-stream]"),
        );
        let got = read_until_closed(&mut s);
        assert!(got.contains("response.output_text.delta"), "{got}");
        assert!(got.contains(half(ANSWER)) && !got.contains(ANSWER), "{got}");
        assert!(!got.contains("response.completed"), "{got}");
        assert!(!got.ends_with("0\r\n\r\n"), "no chunked terminator: {got}");

        let mut s = send(
            m.port(),
            "POST",
            "/v1/messages",
            &claude_body("go [cut-stream]", true, true),
        );
        let got = read_until_closed(&mut s);
        assert!(got.contains("content_block_delta"), "{got}");
        assert!(
            !got.contains(ANSWER) && !got.contains("message_stop"),
            "{got}"
        );
        // Claude's non-streaming fallback is cut too: closed without an answer.
        let mut s = send(
            m.port(),
            "POST",
            "/v1/messages",
            &claude_body("go [cut-stream]", false, true),
        );
        assert_eq!(read_until_closed(&mut s), "");
        assert_eq!(m.request_count(), 3);
        assert!(
            m.requests().iter().all(|r| r.answered_at.is_none()),
            "a cut answer is not an answer"
        );
    }

    #[test]
    fn failure_markers_parse() {
        assert_eq!(parse_failure("x [fail=429] y"), Some(Failure::Status(429)));
        assert_eq!(parse_failure("[fail=529]"), Some(Failure::Status(529)));
        assert_eq!(parse_failure("a [cut-stream]"), Some(Failure::CutStream));
        assert_eq!(parse_failure("[fail=x]"), None);
        assert_eq!(parse_failure("plain"), None);
        assert_eq!(half("abcd"), "ab");
        assert_eq!(half("aé"), "a");
    }

    #[test]
    fn prompt_extraction() {
        assert_eq!(parse_delay("x [delay=250] y"), 250);
        assert_eq!(parse_delay("[delay=abc] [delay=5]"), 5);
        assert_eq!(parse_delay("none"), 0);
        let v: Value = serde_json::from_str(&claude_body("task", true, true)).unwrap();
        assert_eq!(last_user_text_claude(&v), "task");
        let v = json!({"messages": [{"role": "user", "content": "plain"}, {"role": "assistant", "content": "a"},
                                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "r"}]}]});
        assert_eq!(last_user_text_claude(&v), "plain");
        let v: Value = serde_json::from_str(&codex_body("ctask")).unwrap();
        assert_eq!(last_user_text_codex(&v), "ctask");
    }
}
