//! The HTTP accept loop, with the per-connection limits `axum::serve` does not offer: how many
//! connections are open at once (beyond it new ones wait in the kernel's listen queue, unread),
//! how long a client may take to send a request's headers (also how long an idle keep-alive
//! connection is kept), and how large a header block may be (431 beyond it). Requests carry their
//! peer address as axum's `ConnectInfo`, as `into_make_service_with_connect_info` would.
//! [`bind`] gives the listening socket a queue of [`LISTEN_BACKLOG`] (tokio's default is 1,024).
//! On shutdown it stops accepting, lets every open connection finish its request, and returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Limits on connections (see the module docs); `[connections]` in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionLimits {
    /// Connections open at once; further clients wait in the listen queue until one closes.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, and to start the next request on a
    /// keep-alive connection; the connection is closed beyond it.
    pub header_read_timeout_ms: u64,
    /// Largest request header block, in bytes (at least 8,192); 431 beyond it.
    pub max_header_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 4_096,
            header_read_timeout_ms: 10_000,
            max_header_bytes: 64 * 1024,
        }
    }
}

impl ConnectionLimits {
    pub fn validate(&self) -> Result<(), String> {
        if self.max_connections == 0 {
            return Err("connections.max_connections must be at least 1".into());
        }
        if self.header_read_timeout_ms == 0 {
            return Err("connections.header_read_timeout_ms must be at least 1".into());
        }
        if self.max_header_bytes < 8_192 {
            return Err("connections.max_header_bytes must be at least 8192".into());
        }
        Ok(())
    }
}

/// Connections the kernel completes and queues before the accept loop takes them (the kernel caps
/// it at `net.core.somaxconn`, 4,096 by default since Linux 5.4). A burst of monitoring tools
/// connecting at once, or an accept loop briefly behind on busy cores, then waits in the queue;
/// past it the kernel drops the client's SYN and the client retries only 1 s, then 3 s, later.
pub const LISTEN_BACKLOG: u32 = 4_096;

/// A listening socket on `addr` with a queue of [`LISTEN_BACKLOG`] connections.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restarted server can bind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serve `app` on `listener` until `shutdown` is cancelled and every connection has finished.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &ConnectionLimits,
    shutdown: CancellationToken,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        .max_buf_size(limits.max_header_bytes);
    let builder = Arc::new(builder);
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            p = open.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break, // never closed
            },
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let service =
            app.clone()
                .map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    req
                });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without accepting a single one, the socket holds a burst of connections far past tokio's
    /// default queue of 1,024: every client's handshake completes at once.
    #[tokio::test]
    async fn the_listen_queue_holds_a_burst_past_tokios_default() {
        let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        // The kernel caps the queue at somaxconn; on a machine that keeps it at 1,024 or less
        // the test could not tell the two queues apart.
        assert!(
            somaxconn >= 2_048,
            "net.core.somaxconn is {somaxconn}: raise it to test the listen queue"
        );
        let burst = 2_000;
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap(); // never accepts
        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::with_capacity(burst);
        for n in 0..burst {
            // A dropped SYN would be retried only after 1 s.
            let connected = tokio::time::timeout(
                Duration::from_millis(500),
                tokio::net::TcpStream::connect(addr),
            )
            .await;
            match connected {
                Ok(Ok(stream)) => clients.push(stream),
                Ok(Err(e)) => panic!("connection {n} failed: {e}"),
                Err(_) => panic!("connection {n} was not queued (its SYN was dropped)"),
            }
        }
    }
}
