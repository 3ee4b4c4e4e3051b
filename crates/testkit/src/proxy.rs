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
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

/// The fault new connections start with, and each connection's own.
struct Shared {
    default: std::sync::Mutex<Fault>,
    connections: std::sync::Mutex<Vec<watch::Sender<Fault>>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`host:port`), passing everything.
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            default: std::sync::Mutex::new(Fault::Pass),
            connections: std::sync::Mutex::new(Vec::new()),
        });
        let upstream = upstream.to_owned();
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let mut faults = {
                    let mut connections = accepting.connections.lock().unwrap();
                    let (sender, receiver) = watch::channel(*accepting.default.lock().unwrap());
                    connections.push(sender);
                    receiver
                };
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
        FaultProxy { port, shared, task }
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

    /// Changes what the proxy does from now on, on every connection and on new ones.
    pub fn set(&self, fault: Fault) {
        *self.shared.default.lock().unwrap() = fault;
        for connection in self.shared.connections.lock().unwrap().iter() {
            connection.send_replace(fault);
        }
    }

    /// How many connections the proxy has accepted so far (numbered from 0 in that order).
    pub fn connections(&self) -> usize {
        self.shared.connections.lock().unwrap().len()
    }

    /// Changes what the proxy does on one connection only (pause, cut or slow down just it).
    pub fn set_connection(&self, index: usize, fault: Fault) {
        if let Some(connection) = self.shared.connections.lock().unwrap().get(index) {
            connection.send_replace(fault);
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.set(Fault::Cut);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    async fn echo_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        address
    }

    async fn round_trip(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
        let started = Instant::now();
        stream.write_all(b"ping").await.ok()?;
        let mut buffer = [0u8; 4];
        match tokio::time::timeout(within, stream.read_exact(&mut buffer)).await {
            Ok(Ok(_)) => Some(started.elapsed()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn passes_pauses_slows_and_cuts_one_connection_or_all() {
        let proxy = FaultProxy::start(&echo_server().await).await;
        let address = format!("127.0.0.1:{}", proxy.port);
        let mut first = TcpStream::connect(&address).await.unwrap();
        let mut second = TcpStream::connect(&address).await.unwrap();
        let short = Duration::from_millis(500);
        assert!(round_trip(&mut first, short).await.is_some());
        assert!(round_trip(&mut second, short).await.is_some());
        assert_eq!(proxy.connections(), 2);

        // Only the second connection is slowed down.
        proxy.set_connection(1, Fault::Slow(Duration::from_millis(200)));
        assert!(round_trip(&mut first, short).await.unwrap() < Duration::from_millis(150));
        assert!(round_trip(&mut second, short).await.unwrap() >= Duration::from_millis(200));

        // Paused: nothing comes back until it passes again, then the held bytes do.
        proxy.set(Fault::Pause);
        assert!(round_trip(&mut first, Duration::from_millis(300))
            .await
            .is_none());
        proxy.set(Fault::Pass);
        let mut held = [0u8; 4];
        tokio::time::timeout(short, first.read_exact(&mut held))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&held, b"ping");

        // Cut: open connections are closed, new ones dropped.
        proxy.set(Fault::Cut);
        let mut buffer = [0u8; 1];
        let read = tokio::time::timeout(short, second.read(&mut buffer)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
        let mut third = TcpStream::connect(&address).await.unwrap();
        assert!(round_trip(&mut third, short).await.is_none());
    }
}
