//! A real HTTP receiver for webhook tests: listens on loopback, records every request (headers
//! and body), and answers as the test's script says (a status, or no answer for a while).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request path.
    pub path: String,
    /// Headers, names in lower case.
    pub headers: HashMap<String, String>,
    /// The body, as text.
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, with this body.
    Status(u16, String),
    /// No answer for this long, then the connection is closed.
    Hang(Duration),
    /// This status after this long (a slow receiver).
    After(Duration, u16),
    /// `302 Found` to this location.
    Redirect(String),
}

type Script = Box<dyn FnMut(&Received, &[Received]) -> Reply + Send>;

/// The receiver; stops listening when dropped (its thread ends with the process).
pub struct WebhookReceiver {
    /// Its port on 127.0.0.1.
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl WebhookReceiver {
    /// Starts a receiver; `script` sees each request and those before it, and says how to answer.
    pub fn start(script: impl FnMut(&Received, &[Received]) -> Reply + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook receiver");
        let port = listener.local_addr().unwrap().port();
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script: Arc<Mutex<Script>> = Arc::new(Mutex::new(Box::new(script)));
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, script) = (log.clone(), script.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &log, &script);
                });
            }
        });
        WebhookReceiver { port, received }
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The URL of `path` on this receiver, by the name `host`.
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }
}

fn serve(
    stream: TcpStream,
    log: &Mutex<Vec<Received>>,
    script: &Mutex<Script>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let mut headers = HashMap::new();
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        let request = Received {
            path,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
        };
        let reply = {
            let mut log = log.lock().unwrap();
            let reply = (script.lock().unwrap())(&request, &log);
            log.push(request);
            reply
        };
        let mut writer = stream.try_clone()?;
        match reply {
            Reply::Status(status, body) => {
                write!(
                    writer,
                    "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )?;
                writer.flush()?;
            }
            Reply::Redirect(location) => {
                write!(
                    writer,
                    "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n"
                )?;
                writer.flush()?;
            }
            Reply::After(wait, status) => {
                std::thread::sleep(wait);
                write!(writer, "HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nok")?;
                writer.flush()?;
            }
            Reply::Hang(duration) => {
                std::thread::sleep(duration);
                return Ok(());
            }
        }
    }
}
