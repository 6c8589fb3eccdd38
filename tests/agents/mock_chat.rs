//! Mock model server speaking OpenAI chat completions, for running OpenCode and the Copilot CLI
//! offline.
//!
//! A tiny HTTP/1.1 server on `127.0.0.1:<random port>` (a thread per connection, keep-alive).
//! `POST …/chat/completions` with `"stream": true` is answered as SSE in a chunked body with a
//! flush per event (OpenCode fails on a body ended by closing the socket): a role chunk, the
//! answer word by word, a `finish_reason` chunk, a usage chunk and `data: [DONE]`. Without
//! `stream` the answer is one JSON completion. `GET …/models` lists `mock-model`; anything else
//! is a JSON 404.
//!
//! A request is *main* when its body carries tools (the agent loop); side requests (OpenCode's
//! title) are answered at once with a short title. Markers in the last user text of a main
//! request whose last message is the user's:
//! * `[delay=N]`: the stream opens with its role chunk, stays silent N ms, then answers.
//! * `[tool]`: the answer is a call of the shell tool (`bash`) running `touch harnex-tool-ran`;
//!   the next main request (carrying the tool's result) gets the text answer.
//! * `[fail=429]`: every attempt is answered `429` with `retry-after: 1` and an OpenAI-style
//!   `rate_limit_exceeded` body.

#![allow(dead_code)]

use std::io;
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::mock_http::{self, Request, Server, write_json};
use crate::mock_model::{ANSWER, RequestKind, RequestRecord};

/// The command the `[tool]` marker asks the agent to run.
pub const TOOL_COMMAND: &str = "touch harnex-tool-ran";
/// The file that command leaves in the agent's working directory.
pub const TOOL_FILE: &str = "harnex-tool-ran";
pub const PROMPT_TOKENS: u64 = 1234;
pub const COMPLETION_TOKENS: u64 = 56;

#[derive(Default)]
struct Shared {
    records: Mutex<Vec<RequestRecord>>,
}

/// A running chat-completions mock. Dropping it stops the server and closes every connection.
pub struct MockChat {
    server: Server,
    shared: Arc<Shared>,
}

impl MockChat {
    pub fn start() -> io::Result<MockChat> {
        let shared = Arc::new(Shared::default());
        let sh = shared.clone();
        let server = Server::start(
            "mock-chat",
            Arc::new(AtomicBool::new(false)),
            move |req: &Request, w: &mut TcpStream, _: &TcpStream| handle(req, w, &sh),
        )?;
        Ok(MockChat { server, shared })
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `http://127.0.0.1:PORT/v1`, the base URL both agents take.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port())
    }

    /// Every request seen, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.records.lock().unwrap().clone()
    }

    /// Main (agent-loop) requests whose last message was the user's: one per turn.
    pub fn turn_count(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.kind == RequestKind::Main && !r.prompt.is_empty())
            .count()
    }
}

impl crate::ModelRequests for MockChat {
    fn request_count(&self) -> usize {
        self.turn_count()
    }
    fn requests(&self) -> Vec<RequestRecord> {
        MockChat::requests(self)
    }
}

/// OpenCode's config (`$XDG_CONFIG_HOME/opencode/opencode.json`): the mock as provider `mock`,
/// its model for both the main and the small (title) model, shell commands asking first.
pub fn write_opencode_config(config_home: &Path, base_url: &str) -> io::Result<()> {
    let dir = config_home.join("opencode");
    std::fs::create_dir_all(&dir)?;
    let config = json!({
        "$schema": "https://opencode.ai/config.json",
        "model": "mock/mock-model",
        "small_model": "mock/mock-model",
        "autoupdate": false,
        "share": "disabled",
        "permission": {"bash": "ask"},
        "provider": {"mock": {
            "npm": "@ai-sdk/openai-compatible",
            "name": "Mock",
            "options": {"baseURL": base_url, "apiKey": "sk-fake"},
            "models": {"mock-model": {"name": "Mock Model"}},
        }},
    });
    std::fs::write(dir.join("opencode.json"), config.to_string())
}

/// OpenCode's environment with every XDG dir (config, data with its database, state, cache)
/// and HOME inside `home`.
pub fn opencode_env(home: &Path) -> Vec<(String, String)> {
    let sub = |s: &str| home.join(s).display().to_string();
    vec![
        ("HOME".into(), home.display().to_string()),
        ("XDG_CONFIG_HOME".into(), sub(".config")),
        ("XDG_DATA_HOME".into(), sub(".local/share")),
        ("XDG_STATE_HOME".into(), sub(".local/state")),
        ("XDG_CACHE_HOME".into(), sub(".cache")),
        ("OPENCODE_DISABLE_AUTOUPDATE".into(), "1".into()),
        ("OPENCODE_DISABLE_MODELS_FETCH".into(), "1".into()),
    ]
}

/// The Copilot CLI's environment: offline, the mock as its provider, its state in
/// `home/.copilot`.
pub fn copilot_env(home: &Path, base_url: &str) -> Vec<(String, String)> {
    vec![
        ("HOME".into(), home.display().to_string()),
        (
            "COPILOT_HOME".into(),
            home.join(".copilot").display().to_string(),
        ),
        ("COPILOT_OFFLINE".into(), "true".into()),
        ("COPILOT_PROVIDER_BASE_URL".into(), base_url.into()),
        ("COPILOT_PROVIDER_API_KEY".into(), "sk-fake".into()),
        ("COPILOT_MODEL".into(), "mock-model".into()),
        ("COPILOT_AUTO_UPDATE".into(), "false".into()),
    ]
}

/// The text of a message's `content` (a string or a list of text parts).
fn content_text(message: &Value) -> String {
    match &message["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn delay_ms(prompt: &str) -> u64 {
    let Some(at) = prompt.find("[delay=") else {
        return 0;
    };
    prompt[at + 7..]
        .split(']')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn handle(req: &Request, w: &mut TcpStream, sh: &Shared) -> io::Result<()> {
    let path = &req.target;
    if req.method == "GET" && path.ends_with("/models") {
        return write_json(
            w,
            "200 OK",
            &json!({"object": "list", "data": [{"id": "mock-model", "object": "model"}]}),
        );
    }
    if req.method != "POST" || !path.contains("/chat/completions") {
        return write_json(
            w,
            "404 Not Found",
            &json!({"error": {"message": "not mocked"}}),
        );
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let has_tools = body["tools"].as_array().is_some_and(|t| !t.is_empty());
    let last_is_user = messages.last().is_some_and(|m| m["role"] == "user");
    let prompt = if has_tools && last_is_user {
        messages.last().map(content_text).unwrap_or_default()
    } else {
        String::new()
    };
    let index = {
        let mut records = sh.records.lock().unwrap();
        records.push(RequestRecord {
            method: req.method.clone(),
            path: path.clone(),
            kind: if has_tools {
                RequestKind::Main
            } else {
                RequestKind::Side
            },
            model: body["model"].as_str().unwrap_or("").to_string(),
            stream: body["stream"] == true,
            prompt: prompt.clone(),
            at_ms: 0,
            arrived_at: SystemTime::now(),
            answered_at: None,
        });
        records.len() - 1
    };
    if prompt.contains("[fail=429]") {
        let body = json!({"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded",
            "code": "rate_limit_exceeded"}});
        return mock_http::write_json_with(w, "429 Too Many Requests", "retry-after: 1\r\n", &body);
    }
    let tool = prompt.contains("[tool]");
    let text = if has_tools { ANSWER } else { "Mock title" };
    if body["stream"] == true {
        let mut sse = Sse::start(w)?;
        sse.chunk(json!({"role": "assistant", "content": ""}), None)?;
        thread::sleep(Duration::from_millis(delay_ms(&prompt)));
        if tool {
            let arguments = json!({"command": TOOL_COMMAND, "description": "Create a marker file"});
            let call = json!([{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "bash", "arguments": arguments.to_string()}}]);
            sse.chunk(json!({"tool_calls": call}), None)?;
            sse.chunk(json!({}), Some("tool_calls"))?;
        } else {
            let words: Vec<&str> = text.split(' ').collect();
            for (i, word) in words.iter().enumerate() {
                let sep = if i + 1 < words.len() { " " } else { "" };
                sse.chunk(json!({"content": format!("{word}{sep}")}), None)?;
            }
            sse.chunk(json!({}), Some("stop"))?;
        }
        // The answer is whole once its `finish_reason` is out: an agent may hang up before the
        // usage chunk and `[DONE]` that follow (then `finish` fails), and the turn was still
        // answered.
        stamp_answered(sh, index);
        sse.finish()?;
    } else {
        let message = json!({"role": "assistant", "content": text});
        write_json(
            w,
            "200 OK",
            &json!({"id": "chatcmpl-mock", "object": "chat.completion", "model": "mock-model",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": usage()}),
        )?;
    }
    stamp_answered(sh, index);
    Ok(())
}

/// Record when request `index` was answered (the first time only).
fn stamp_answered(sh: &Shared, index: usize) {
    if let Some(record) = sh.records.lock().unwrap().get_mut(index)
        && record.answered_at.is_none()
    {
        record.answered_at = Some(SystemTime::now());
    }
}

fn usage() -> Value {
    json!({"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS})
}

/// A chunked SSE body, flushed after every event.
struct Sse<'a> {
    w: &'a mut TcpStream,
}

impl<'a> Sse<'a> {
    fn start(w: &'a mut TcpStream) -> io::Result<Sse<'a>> {
        mock_http::start_event_stream(w, "")?;
        Ok(Sse { w })
    }

    fn data(&mut self, data: &str) -> io::Result<()> {
        mock_http::write_chunk(self.w, &format!("data: {data}\n\n"))
    }

    fn chunk(&mut self, delta: Value, finish: Option<&str>) -> io::Result<()> {
        let chunk = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk",
            "created": 0, "model": "mock-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        self.data(&chunk.to_string())
    }

    fn finish(mut self) -> io::Result<()> {
        let usage = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk",
            "created": 0, "model": "mock-model", "choices": [], "usage": usage()});
        self.data(&usage.to_string())?;
        self.data("[DONE]")?;
        mock_http::end_chunks(self.w)
    }
}
