//! The CLI side of the session API: small blocking HTTP calls on loopback.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::registry::{RegistryEntry, url_host};

pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// Why a call did not produce a JSON answer.
#[derive(Debug)]
pub enum CallError {
    /// Nothing listens (the session is gone or not up yet).
    Unreachable(String),
    /// The call took longer than its deadline.
    Timeout,
    /// The server answered with an error status.
    Status(u16, Value),
    Other(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(e) => write!(f, "session API unreachable ({e})"),
            CallError::Timeout => write!(f, "session API did not answer in time"),
            CallError::Status(401, _) => write!(
                f,
                "the session rejected the token (401): pass the token from the session's registry entry with --token, or drop --port/--token to look the session up by --id"
            ),
            CallError::Status(code, body) => {
                let error = body["error"].as_str().unwrap_or("");
                write!(f, "session API answered {code}: {error}")
            }
            CallError::Other(e) => write!(f, "{e}"),
        }
    }
}

impl Client {
    pub fn new(host: &str, port: u16, token: &str) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_connect(Some(Duration::from_secs(2)))
            .build();
        Client {
            base: format!("http://{}:{port}", url_host(host)),
            token: token.to_string(),
            agent: config.into(),
        }
    }

    pub fn for_entry(entry: &RegistryEntry) -> Client {
        Client::new(&entry.host, entry.port, &entry.token)
    }

    pub fn get(&self, path: &str, timeout: Duration) -> Result<Value, CallError> {
        self.retrying(timeout, |left| {
            self.agent
                .get(format!("{}{path}", self.base))
                .header("Authorization", format!("Bearer {}", self.token))
                .config()
                .timeout_global(Some(left))
                .build()
                .call()
        })
    }

    /// POST a request (a [`crate::wire::requests`] type, or any JSON value) as JSON.
    pub fn post(
        &self,
        path: &str,
        body: &impl serde::Serialize,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        let body = serde_json::to_string(body).map_err(|e| CallError::Other(e.to_string()))?;
        self.retrying(timeout, |left| {
            self.agent
                .post(format!("{}{path}", self.base))
                .header("Authorization", format!("Bearer {}", self.token))
                .header("Content-Type", "application/json")
                .config()
                .timeout_global(Some(left))
                .build()
                .send(&body)
        })
    }

    pub fn delete(&self, path: &str, timeout: Duration) -> Result<Value, CallError> {
        self.retrying(timeout, |left| {
            self.agent
                .delete(format!("{}{path}", self.base))
                .header("Authorization", format!("Bearer {}", self.token))
                .config()
                .timeout_global(Some(left))
                .build()
                .call()
        })
    }

    /// Make a call; while the server says it is overloaded (503 with `Retry-After`: it did not
    /// act on the request), try again with a short backoff until `timeout` runs out.
    fn retrying(
        &self,
        timeout: Duration,
        call: impl Fn(Duration) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, CallError> {
        let deadline = Instant::now() + timeout;
        let mut backoff = Duration::from_millis(20);
        loop {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            let (result, retry) = finish(call(left));
            let pause = backoff.min(deadline.saturating_duration_since(Instant::now()));
            if !retry || pause.is_zero() {
                return result;
            }
            std::thread::sleep(pause);
            backoff = (backoff * 2).min(Duration::from_millis(250));
        }
    }

    /// Long-poll `/wait?until=…` until it answers for real or `within` runs out. A timeout
    /// answer is `Ok` with `ok: false`.
    pub fn wait(
        &self,
        until: &str,
        turn: Option<u64>,
        within: Duration,
    ) -> Result<Value, CallError> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut path = format!("/wait?until={until}&timeout_ms={}", left.as_millis());
            if let Some(turn) = turn {
                path.push_str(&format!("&turn={turn}"));
            }
            let body = self.get(&path, left + Duration::from_secs(5))?;
            let timed_out = body["status"] == "timeout";
            if !timed_out || Instant::now() >= deadline {
                return Ok(body);
            }
        }
    }
}

/// The answer as JSON, and whether it was an overload 503 worth retrying.
fn finish(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> (Result<Value, CallError>, bool) {
    let retry = result
        .as_ref()
        .is_ok_and(|r| r.status().as_u16() == 503 && r.headers().contains_key("retry-after"));
    (read_answer(result), retry)
}

fn read_answer(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Value, CallError> {
    let mut response = match result {
        Ok(r) => r,
        Err(ureq::Error::Timeout(_)) => return Err(CallError::Timeout),
        Err(ureq::Error::Io(e)) => return Err(CallError::Unreachable(e.to_string())),
        Err(ureq::Error::ConnectionFailed) => {
            return Err(CallError::Unreachable("connection failed".into()));
        }
        Err(e) => return Err(CallError::Other(e.to_string())),
    };
    let code = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| CallError::Other(format!("cannot read the API answer: {e}")))?;
    let body: Value = serde_json::from_str(&text)
        .map_err(|_| CallError::Other(format!("the API answered {code} with non-JSON: {text}")))?;
    if code >= 400 {
        return Err(CallError::Status(code, body));
    }
    Ok(body)
}
