//! The HTTP layer of the session API: hyper (HTTP/1) on a single-threaded tokio runtime that the
//! "api" thread runs. It owns the limits that keep a hostile local client from taking the session
//! down; the routes themselves are in `api.rs`.
//!
//! - No thread per connection: an idle socket costs a table entry and a small task, and no
//!   buffers until its first byte arrives. At the connection cap (or when accept runs out of file
//!   descriptors) the oldest connections not serving an authenticated request are evicted.
//! - Headers: at most 64 KiB, read within 5 s. The token is checked (in constant time) before
//!   any body byte is read; a request without it gets 401 and its connection is closed undrained.
//! - Bodies: a Content-Length over 1 MiB is refused before reading (413); the limit is enforced
//!   while reading, and the body must arrive within 10 s (408). Nothing is allocated up front.
//! - Long-polls wait asynchronously under their own budget; hyper drops one whose client hangs
//!   up. Handlers that block (delivery, screen, stop) run on a bounded blocking pool under
//!   another budget, so the runtime thread never waits on the session.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONNECTION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use super::Session;
use super::api::{self, Call, Reply};
use super::api_connections::{BusyGuard, ConnId, Connections, Evicted};
use crate::error::{Error, Result};

pub const MAX_BODY: usize = 1024 * 1024;
const MAX_HEADER_BYTES: usize = 64 * 1024;
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may stay silent before its first byte.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests answered on the blocking pool at once (and the pool's size).
const MAX_IN_FLIGHT: usize = 64;
/// Long-polls waiting at once.
const MAX_LONG_POLLS: usize = 64;
/// Open connections at most; fewer when the file-descriptor limit is lower.
const MAX_CONNECTIONS: usize = 1024;
/// File descriptors kept free for everything else the supervisor opens.
const RESERVED_FDS: u64 = 256;
/// After an accept error: evict this many idle connections, pause, carry on.
const EVICT_ON_EMFILE: usize = 64;
const ACCEPT_BACKLOG: i32 = 4096;
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
/// How long answers in flight get to reach their clients at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// The running server; `shutdown` stops it.
pub struct ApiServer {
    shutdown: watch::Sender<bool>,
    stopped: mpsc::Receiver<()>,
}

struct Server {
    session: Arc<Session>,
    connections: Arc<Connections>,
    work: Arc<Semaphore>,
    polls: Semaphore,
    shutdown: watch::Receiver<bool>,
}

impl ApiServer {
    /// Serve `listener` on the "api" thread.
    pub fn start(session: Arc<Session>, listener: std::net::TcpListener) -> Result<ApiServer> {
        let fd_limit = raise_fd_limit();
        // A longer accept queue than std's 128: a burst of connections waits in the kernel
        // instead of having its SYNs dropped (and retried a second later).
        let _ = nix::sys::socket::listen(
            &listener,
            nix::sys::socket::Backlog::new(ACCEPT_BACKLOG)
                .unwrap_or(nix::sys::socket::Backlog::MAXCONN),
        );
        let cap = (fd_limit.saturating_sub(RESERVED_FDS) as usize).clamp(64, MAX_CONNECTIONS);
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::failed(format!("cannot start the API server: {e}")))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .max_blocking_threads(MAX_IN_FLIGHT)
            .thread_name("api-work")
            .build()
            .map_err(|e| Error::failed(format!("cannot start the API runtime: {e}")))?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (stopped_tx, stopped) = mpsc::channel();
        let server = Arc::new(Server {
            session,
            connections: Connections::new(cap),
            work: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            polls: Semaphore::new(MAX_LONG_POLLS),
            shutdown: shutdown_rx,
        });
        std::thread::Builder::new()
            .name("api".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => serve(server, listener).await,
                        Err(e) => {
                            use std::io::Write;
                            let _ = writeln!(std::io::stderr(), "harnex: API server failed: {e}");
                        }
                    }
                });
                // Blocking handlers still running (a delivery) finish on their own threads.
                runtime.shutdown_timeout(Duration::from_millis(100));
                let _ = stopped_tx.send(());
            })
            .map_err(|e| Error::failed(format!("cannot start the api thread: {e}")))?;
        Ok(ApiServer {
            shutdown: shutdown_tx,
            stopped,
        })
    }

    /// Stop accepting, let answers in flight reach their clients, close every connection.
    pub fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self
            .stopped
            .recv_timeout(SHUTDOWN_GRACE + Duration::from_secs(1));
    }
}

/// The soft RLIMIT_NOFILE raised to the hard limit (the agent, started earlier, keeps its own).
fn raise_fd_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    // An unlimited hard limit is not a valid soft one for files; this is plenty.
    let target = hard.min(1 << 20);
    if soft < target && setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_ok() {
        return target;
    }
    soft
}

async fn serve(server: Arc<Server>, listener: TcpListener) {
    let mut shutdown = server.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = until_true(&mut shutdown) => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                // At the cap with every connection busy: this one is dropped (closed) at once.
                if let Some((id, evicted)) = server.connections.admit() {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve_connection(Arc::clone(&server), stream, id, evicted));
                }
            }
            Err(e) => {
                // Out of file descriptors (or another transient failure): make room, pause
                // briefly so the loop does not spin, and keep serving.
                if is_resource_exhaustion(&e) {
                    server.connections.evict_idle(EVICT_ON_EMFILE);
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    drop(listener);
    // Connections see the same shutdown signal. Those not answering an authenticated request
    // (idle, or a client still trickling headers) have nothing to finish: close them now, and
    // wait only for the answers in flight.
    server.connections.evict_idle(usize::MAX);
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while !server.connections.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn is_resource_exhaustion(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

async fn until_true(flag: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: the server is going away too.
    let _ = flag.wait_for(|set| *set).await.map(|_| ());
}

/// Removes the connection from the table when its task ends, however it ends.
struct TableEntry {
    connections: Arc<Connections>,
    id: ConnId,
}

impl Drop for TableEntry {
    fn drop(&mut self) {
        self.connections.remove(self.id);
    }
}

async fn serve_connection(
    server: Arc<Server>,
    stream: TcpStream,
    id: ConnId,
    mut evicted: Evicted,
) {
    let _entry = TableEntry {
        connections: Arc::clone(&server.connections),
        id,
    };
    let mut shutdown = server.shutdown.clone();
    // Until its first byte a connection holds no buffers.
    tokio::select! {
        ready = tokio::time::timeout(IDLE_TIMEOUT, stream.readable()) => {
            if !matches!(ready, Ok(Ok(()))) {
                return;
            }
        }
        _ = &mut evicted => return,
        _ = until_true(&mut shutdown) => return,
    }
    // Boxed: the idle phase above stays a small task; hyper's state comes with the first byte.
    Box::pin(serve_http(server, stream, id, evicted, shutdown)).await;
}

async fn serve_http(
    server: Arc<Server>,
    stream: TcpStream,
    id: ConnId,
    mut evicted: Evicted,
    mut shutdown: watch::Receiver<bool>,
) {
    let for_service = Arc::clone(&server);
    let service = service_fn(move |request| {
        let server = Arc::clone(&for_service);
        async move { Ok::<_, Infallible>(answer(&server, id, request).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .max_buf_size(MAX_HEADER_BYTES)
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = &mut evicted => {}
        _ = until_true(&mut shutdown) => {
            // Finish the request in flight (if any), then close; one with none is evicted.
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                _ = tokio::time::timeout(SHUTDOWN_GRACE, connection.as_mut()) => {}
                _ = &mut evicted => {}
            }
        }
    }
}

/// Counts a request as in flight (the end of a session lets these finish).
struct InFlight<'a>(&'a Session);

impl<'a> InFlight<'a> {
    fn new(session: &'a Session) -> InFlight<'a> {
        session.api_in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(session)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.api_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How the connection continues after an answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    KeepAlive,
    /// The request (or its unread body) is not worth the connection.
    Close,
    /// Overloaded: the client may try again shortly.
    RetryLater,
}

async fn answer(
    server: &Arc<Server>,
    conn: ConnId,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let session = &server.session;
    if !authorized(request.headers(), &session.config.token) {
        return respond(Reply::error(401, "unauthorized"), After::Close);
    }
    let _busy = BusyGuard::new(&server.connections, conn);
    let _in_flight = InFlight::new(session);
    let (parts, body) = request.into_parts();
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(reply) => return respond(reply, After::Close),
    };
    let call = Call {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        body,
    };
    if call.is_long_poll() {
        let Ok(_permit) = server.polls.try_acquire() else {
            return respond(
                Reply::error(503, "too many long-polls in flight"),
                After::RetryLater,
            );
        };
        return respond(api::long_poll(session, &call).await, After::KeepAlive);
    }
    let Ok(permit) = Arc::clone(&server.work).try_acquire_owned() else {
        return respond(
            Reply::error(503, "too many requests in flight"),
            After::RetryLater,
        );
    };
    let session = Arc::clone(session);
    let handled = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        api::handle(&session, &call)
    })
    .await;
    match handled {
        Ok(reply) => respond(reply, After::KeepAlive),
        Err(_) => respond(
            Reply::error(500, "the request failed inside the supervisor"),
            After::Close,
        ),
    }
}

/// Constant-time comparison of the bearer token.
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return false;
    };
    let given = value.as_bytes().strip_prefix(b"Bearer ").unwrap_or(b"");
    api::constant_time_eq(given.trim_ascii(), token.as_bytes())
}

async fn read_body(body: Incoming) -> std::result::Result<Bytes, Reply> {
    let too_large = || Reply::error(413, "request body too large (limit 1 MiB)");
    // hyper's hint is the announced Content-Length: refuse it before reading a byte.
    if body.size_hint().lower() > MAX_BODY as u64 {
        return Err(too_large());
    }
    match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY).collect()).await {
        Err(_) => Err(Reply::error(
            408,
            "the request body did not arrive in time (limit 10 s)",
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(_)) => Err(Reply::error(400, "cannot read request body")),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

fn respond(reply: Reply, after: After) -> Response<Full<Bytes>> {
    let mut body = reply.body.to_string();
    body.push('\n');
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(reply.code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    match after {
        After::KeepAlive => {}
        After::Close => {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        After::RetryLater => {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_token_is_required_exactly() {
        let mut headers = HeaderMap::new();
        assert!(!authorized(&headers, "abc"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert!(authorized(&headers, "abc"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abd"));
        assert!(!authorized(&headers, "abc"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("abc"));
        assert!(!authorized(&headers, "abc"));
    }
}
