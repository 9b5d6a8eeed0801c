//! Connection limits over raw TCP: a client that never finishes its headers is cut off after
//! `header_read_timeout_ms`, an idle keep-alive connection too, a header block over
//! `max_header_bytes` gets 431, and beyond `max_connections` a new client waits (unread) until an
//! open connection closes. The server keeps serving throughout.

use std::time::{Duration, Instant};

use alertgate_server::Runtime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// Read until the peer closes the connection (or `limit` passes); what was read and how long it took.
async fn read_to_close(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, Option<Duration>) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, Some(started.elapsed())),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, None),
        }
    }
}

async fn healthy(app: &TestApp) {
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn headers_that_never_end_and_idle_keep_alive_connections_are_closed_after_the_header_timeout(
) {
    let app = spawn_configured(Runtime::default(), |c| {
        c.connections.header_read_timeout_ms = 400;
    })
    .await;
    // Half a request head, then silence.
    let mut slow = TcpStream::connect(addr(&app)).await.unwrap();
    slow.write_all(b"POST /webhook/abc/trigger HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .await
        .unwrap();
    let (_, closed) = read_to_close(&mut slow, Duration::from_secs(5)).await;
    let closed = closed.expect("a client stalling in its headers must be cut off");
    assert!(
        closed >= Duration::from_millis(300) && closed < Duration::from_secs(3),
        "closed after {closed:?}"
    );

    // A finished request, then an idle keep-alive connection.
    let mut idle = TcpStream::connect(addr(&app)).await.unwrap();
    idle.write_all(HEALTH).await.unwrap();
    let (got, closed) = read_to_close(&mut idle, Duration::from_secs(5)).await;
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    let closed = closed.expect("an idle keep-alive connection must be closed");
    assert!(closed < Duration::from_secs(3), "closed after {closed:?}");
    healthy(&app).await;
}

#[tokio::test]
async fn a_header_block_over_the_limit_gets_431_and_the_server_keeps_serving() {
    let app = spawn_configured(Runtime::default(), |c| {
        c.connections.max_header_bytes = 16 * 1024;
    })
    .await;
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    let big = "a".repeat(20 * 1024);
    let req = format!("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: {big}\r\n\r\n");
    // The server may answer and close before it has read everything; a failed write is fine.
    let _ = s.write_all(req.as_bytes()).await;
    let (got, _) = read_to_close(&mut s, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");

    // Just under the limit is served.
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    let fits = "a".repeat(12 * 1024);
    let req =
        format!("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: {fits}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let (got, _) = read_to_close(&mut s, Duration::from_secs(5)).await;
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    healthy(&app).await;
}

#[tokio::test]
async fn beyond_max_connections_a_client_waits_until_an_open_connection_closes() {
    let app = spawn_configured(Runtime::default(), |c| {
        c.connections.max_connections = 2;
        c.connections.header_read_timeout_ms = 30_000;
    })
    .await;
    let first = TcpStream::connect(addr(&app)).await.unwrap();
    let _second = TcpStream::connect(addr(&app)).await.unwrap();
    // Let the server accept both before the third arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(addr(&app)).await.unwrap();
    third.write_all(HEALTH).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(700), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a third connection must not be served while two are open"
    );
    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}
