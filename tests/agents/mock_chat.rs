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

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::mock_model::{ANSWER, RequestKind, RequestRecord};

/// The command the `[tool]` marker asks the agent to run.
pub const TOOL_COMMAND: &str = "touch harnex-tool-ran";
/// The file that command leaves in the agent's working directory.
pub const TOOL_FILE: &str = "harnex-tool-ran";
pub const PROMPT_TOKENS: u64 = 1234;
pub const COMPLETION_TOKENS: u64 = 56;

#[derive(Default)]
struct Shared {
    shutdown: AtomicBool,
    records: Mutex<Vec<RequestRecord>>,
    conns: Mutex<Vec<TcpStream>>,
}

/// A running chat-completions mock. Dropping it stops the server and closes every connection.
pub struct MockChat {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl MockChat {
    pub fn start() -> io::Result<MockChat> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared::default());
        let sh = shared.clone();
        let accept = thread::Builder::new()
            .name("mock-chat-accept".into())
            .spawn(move || accept_loop(listener, sh))?;
        Ok(MockChat {
            port,
            shared,
            accept: Some(accept),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/v1`, the base URL both agents take.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
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

impl Drop for MockChat {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for s in self.shared.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
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

fn accept_loop(listener: TcpListener, sh: Arc<Shared>) {
    while !sh.shutdown.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_nodelay(true);
                if let Ok(clone) = stream.try_clone() {
                    sh.conns.lock().unwrap().push(clone);
                }
                let sh = sh.clone();
                let _ = thread::Builder::new()
                    .name("mock-chat-conn".into())
                    .spawn(move || {
                        let _ = serve(&stream, &sh);
                        let _ = stream.shutdown(Shutdown::Both);
                    });
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn serve(stream: &TcpStream, sh: &Shared) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    while let Some(req) = read_request(&mut reader)? {
        let mut w = stream.try_clone()?;
        handle(&req, &mut w, sh)?;
        if sh.shutdown.load(Ordering::SeqCst) {
            return Ok(());
        }
    }
    Ok(())
}

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
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("/").to_string();
    let (mut length, mut chunked) = (0usize, false);
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
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        r.read_exact(&mut body)?;
    }
    Ok(Some(Request { method, path, body }))
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
    if req.method == "GET" && req.path.ends_with("/models") {
        return write_json(
            w,
            "200 OK",
            &json!({"object": "list", "data": [{"id": "mock-model", "object": "model"}]}),
        );
    }
    if req.method != "POST" || !req.path.contains("/chat/completions") {
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
            path: req.path.clone(),
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
            "code": "rate_limit_exceeded"}})
        .to_string();
        write!(
            w,
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nretry-after: 1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        return w.flush();
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
    if let Some(record) = sh.records.lock().unwrap().get_mut(index) {
        record.answered_at = Some(SystemTime::now());
    }
    Ok(())
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
        w.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")?;
        w.flush()?;
        Ok(Sse { w })
    }

    fn data(&mut self, data: &str) -> io::Result<()> {
        let payload = format!("data: {data}\n\n");
        write!(self.w, "{:x}\r\n{payload}\r\n", payload.len())?;
        self.w.flush()
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
        self.w.write_all(b"0\r\n\r\n")?;
        self.w.flush()
    }
}
