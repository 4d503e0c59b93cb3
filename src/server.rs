//! Serving HTTP so that slow or abundant clients cannot take the server
//! down: a deadline for request headers and one for bodies, idle keep-alive
//! connections closed, a cap on open connections (beyond it the idlest
//! connection makes room, or the newcomer is told 503), and a graceful stop
//! (requests in flight finish, nothing new is accepted).
//!
//! `axum::serve` has none of these knobs, so connections are driven here
//! with hyper directly; the router is the same.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower::ServiceExt;

use crate::config::ServerLimits;

/// File descriptors kept back from the connection cap for the database
/// pool, Redis, log files and the listener itself.
const FD_RESERVE: u64 = 128;

/// Raises the soft limit on open files to the hard limit (a server that
/// holds many connections needs it; the default soft limit is often 1024),
/// and returns the limit now in force.
fn raise_fd_limit() -> u64 {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                if limit.rlim_cur < limit.rlim_max {
                    let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                        limit = raised;
                    }
                }
                // rlim_t is u64 on Linux, not everywhere.
                #[allow(clippy::unnecessary_cast)]
                return limit.rlim_cur as u64;
            }
        }
    }
    1024
}

/// One open connection, as the accept loop and the sweeper see it.
struct Conn {
    opened: Instant,
    /// Milliseconds after `opened` of the last request start or end.
    last_active_ms: AtomicU64,
    /// Whether any request was ever read on it.
    served: AtomicBool,
    in_flight: AtomicUsize,
    /// Asks the connection to close: at once when idle, after the request
    /// in flight otherwise.
    close: Notify,
}

impl Conn {
    fn idle_for(&self, now: Instant) -> Option<Duration> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let last = self.opened + Duration::from_millis(self.last_active_ms.load(Ordering::SeqCst));
        Some(now.saturating_duration_since(last))
    }

    fn touch(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.last_active_ms.store(ms, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Registry {
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self) -> (u64, Arc<Conn>) {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let conn = Arc::new(Conn {
            opened: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            served: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            close: Notify::new(),
        });
        self.lock().insert(id, conn.clone());
        (id, conn)
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    /// Closes the connection idle the longest; false when every one has a
    /// request in flight.
    fn evict_idlest(&self) -> bool {
        let now = Instant::now();
        let conns = self.lock();
        let idlest = conns.values().filter_map(|c| c.idle_for(now).map(|idle| (idle, c))).max_by_key(|(idle, _)| *idle);
        match idlest {
            Some((_, conn)) => {
                conn.close.notify_one();
                true
            }
            None => false,
        }
    }

    /// Closes connections that sent no complete request headers in time, or
    /// sat idle between requests too long.
    fn sweep(&self, limits: &ServerLimits) {
        let now = Instant::now();
        for conn in self.lock().values() {
            let limit =
                if conn.served.load(Ordering::SeqCst) { limits.idle_timeout } else { limits.header_read_timeout };
            if conn.idle_for(now).is_some_and(|idle| idle > Duration::from_secs(limit)) {
                conn.close.notify_one();
            }
        }
    }

    fn close_all(&self) {
        for conn in self.lock().values() {
            conn.close.notify_one();
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the
/// requests in flight finish (for at most `shutdown_grace`).
pub async fn serve(
    listener: TcpListener, router: Router, limits: ServerLimits, shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let fd_limit = raise_fd_limit();
    let cap = limits.max_connections.min(fd_limit.saturating_sub(FD_RESERVE).max(16) as usize);
    if cap < limits.max_connections {
        tracing::info!(cap, fd_limit, "connection cap lowered to fit the open-file limit");
    }
    let registry = Arc::new(Registry::default());
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(limits.header_read_timeout));
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(limits.idle_timeout))
        .max_concurrent_streams(256);
    let builder = Arc::new(builder);

    let sweeper = {
        let registry = registry.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                registry.sweep(&limits);
            }
        })
    };

    let shutdown = shutdown;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: make room and go on.
                    tracing::warn!(error = %e, "accept failed");
                    registry.evict_idlest();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if registry.len() >= cap && !registry.evict_idlest() {
            tokio::spawn(refuse(stream));
            continue;
        }
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, peer, router.clone(), builder.clone(), registry.clone(), limits));
    }
    drop(listener);
    sweeper.abort();
    // Stop: idle connections close now, busy ones after their request.
    let deadline = Instant::now() + Duration::from_secs(limits.shutdown_grace);
    registry.close_all();
    while registry.len() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        registry.close_all();
    }
    let left = registry.len();
    if left > 0 {
        tracing::warn!(connections = left, "stopped with requests still in flight");
    }
    Ok(())
}

/// Beyond the cap, with every connection busy: a short, honest answer.
async fn refuse(mut stream: TcpStream) {
    let body = r#"{"error":"temporarily_unavailable","error_description":"the server is at its connection limit; retry shortly"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\ncache-control: no-store\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

async fn connection(
    stream: TcpStream, peer: SocketAddr, router: Router, builder: Arc<Builder<TokioExecutor>>, registry: Arc<Registry>,
    limits: ServerLimits,
) {
    let (id, conn) = registry.add();
    let body_timeout = Duration::from_secs(limits.body_timeout);
    let state = conn.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let router = router.clone();
        let state = state.clone();
        async move {
            state.in_flight.fetch_add(1, Ordering::SeqCst);
            state.served.store(true, Ordering::SeqCst);
            state.touch();
            let mut req = req.map(|body| Body::new(Deadline::new(body, body_timeout)));
            req.extensions_mut().insert(ConnectInfo(peer));
            let res = router.oneshot(req).await;
            state.touch();
            state.in_flight.fetch_sub(1, Ordering::SeqCst);
            res
        }
    });
    let served = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(served);
    let mut closing = false;
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                break;
            }
            () = conn.close.notified() => {
                if conn.in_flight.load(Ordering::SeqCst) == 0 {
                    // Nothing being answered (perhaps headers half sent):
                    // drop it now.
                    break;
                }
                if !closing {
                    served.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
    registry.remove(id);
}

/// A request body that must arrive in full within a deadline (counted from
/// the first read), so a client dripping bytes cannot hold a request open.
struct Deadline {
    body: Incoming,
    limit: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Deadline {
    fn new(body: Incoming, limit: Duration) -> Self {
        Self { body, limit, timer: None }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let limit = self.limit;
        let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
        }
        Pin::new(&mut self.body).poll_frame(cx).map_err(|e| Box::new(e) as Self::Error)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
