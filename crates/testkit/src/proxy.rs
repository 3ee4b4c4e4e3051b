//! A fault-injecting TCP proxy: put it between the service and PostgreSQL, Redis or SMTP, then
//! pause it (bytes are held, connections stay open: a server that stops answering), cut it
//! (every connection closed and new ones dropped at once: a server that went away), slow it
//! down, and restore it.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does to the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwards everything.
    Pass,
    /// Forwards nothing and keeps every connection open; new connections wait too.
    Pause,
    /// Closes every connection and drops new ones as they come.
    Cut,
    /// Forwards each chunk after this delay.
    Slow(Duration),
}

/// A TCP proxy on 127.0.0.1 to one upstream address.
pub struct FaultProxy {
    /// The port clients connect to.
    pub port: u16,
    fault: Arc<watch::Sender<Fault>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`host:port`), passing everything.
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let (fault, _) = watch::channel(Fault::Pass);
        let fault = Arc::new(fault);
        let upstream = upstream.to_owned();
        let shared = fault.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let mut faults = shared.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    // A new connection waits while paused and is dropped while cut.
                    loop {
                        let now = *faults.borrow_and_update();
                        match now {
                            Fault::Cut => return,
                            Fault::Pause => {
                                if faults.changed().await.is_err() {
                                    return;
                                }
                            }
                            _ => break,
                        }
                    }
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    let up = pump(client_read, server_write, faults.clone());
                    let down = pump(server_read, client_write, faults);
                    // Either direction ending ends the connection (both halves dropped).
                    tokio::select! {
                        _ = up => {}
                        _ = down => {}
                    }
                });
            }
        });
        FaultProxy { port, fault, task }
    }

    /// Starts a proxy in front of the server a URL names (`scheme://[user@]host:port/...`), and
    /// returns it with the same URL pointing at the proxy.
    pub async fn in_front_of(url: &str) -> (FaultProxy, String) {
        let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
        let (credentials, rest) = match rest.rsplit_once('@') {
            Some((credentials, rest)) => (format!("{credentials}@"), rest),
            None => (String::new(), rest),
        };
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let proxy = FaultProxy::start(authority).await;
        let proxied = format!("{scheme}://{credentials}127.0.0.1:{}{path}", proxy.port);
        (proxy, proxied)
    }

    /// Changes what the proxy does from now on, on every connection.
    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.fault.send_replace(Fault::Cut);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut faults: watch::Receiver<Fault>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            _ = wait_for_cut(&mut faults) => return,
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Hold the bytes while paused; drop the connection when cut.
        loop {
            let now = *faults.borrow_and_update();
            match now {
                Fault::Pass => break,
                Fault::Slow(delay) => {
                    tokio::time::sleep(delay).await;
                    break;
                }
                Fault::Cut => return,
                Fault::Pause => {
                    if faults.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// Resolves when the proxy is cut.
async fn wait_for_cut(faults: &mut watch::Receiver<Fault>) {
    loop {
        if *faults.borrow_and_update() == Fault::Cut {
            return;
        }
        if faults.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
