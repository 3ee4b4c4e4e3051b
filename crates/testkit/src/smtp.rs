//! An SMTP server speaking SMTP over TCP, whose answers a test controls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::free_port;

/// How the test SMTP server answers the end of DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpMode {
    /// 250: accepted and recorded.
    Accept,
    /// 451: try again later (nothing recorded).
    TemporaryFailure,
    /// 554: refused for good (nothing recorded).
    PermanentFailure,
    /// Records the message as accepted, then never answers: a client killed now has had its
    /// message accepted without knowing it.
    StallAfterData,
    /// Never answers MAIL FROM: a client killed now has delivered nothing.
    StallBeforeData,
    /// Records the message, then answers 250 after this delay: a slow server, emails in flight.
    AcceptAfter(Duration),
}

/// A message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// RCPT TO addresses.
    pub to: Vec<String>,
    /// The whole message (headers and body).
    pub data: String,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// A header's value, if present.
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.data
            .lines()
            .take_while(|line| !line.is_empty())
            .find(|line| line.to_ascii_lowercase().starts_with(&prefix))
            .map(|line| line[prefix.len()..].trim().to_owned())
    }

    /// The plain-text part, decoded, as a mail client shows it.
    pub fn body(&self) -> String {
        self.parsed()
            .body_text(0)
            .map(|text| text.into_owned())
            .unwrap_or_default()
    }

    /// The HTML part, decoded, if there is one.
    pub fn html(&self) -> Option<String> {
        let parsed = self.parsed();
        // mail-parser makes an HTML body from a text-only message: only a real part counts.
        (!parsed.html_body.is_empty() && parsed.html_body != parsed.text_body)
            .then(|| parsed.body_html(0).map(|html| html.into_owned()))
            .flatten()
    }

    /// The message read as a mail client reads it.
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(self.data.as_bytes())
            .expect("a parsable message")
    }
}

#[derive(Default)]
struct SmtpState {
    received: Vec<Received>,
    modes: HashMap<String, SmtpMode>,
}

/// An SMTP server on 127.0.0.1 speaking enough of RFC 5321 for lettre, whose answers a test sets.
#[derive(Clone)]
pub struct SmtpServer {
    /// Its port.
    pub port: u16,
    state: Arc<Mutex<SmtpState>>,
    mode: Arc<Mutex<SmtpMode>>,
    task: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl SmtpServer {
    /// Starts a server on a free port, accepting everything.
    pub async fn start() -> SmtpServer {
        SmtpServer::start_on(free_port()).await
    }

    /// Starts a server on `port`.
    pub async fn start_on(port: u16) -> SmtpServer {
        let server = SmtpServer::unstarted(port);
        server.listen().await;
        server
    }

    /// A server that does not listen yet: connections to its port are refused until
    /// [`SmtpServer::listen`].
    pub fn unstarted(port: u16) -> SmtpServer {
        SmtpServer {
            port,
            state: Arc::default(),
            mode: Arc::new(Mutex::new(SmtpMode::Accept)),
            task: Arc::default(),
        }
    }

    /// Starts listening.
    pub async fn listen(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind the test SMTP server");
        let state = self.state.clone();
        let mode = self.mode.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = state.clone();
                let mode = mode.clone();
                tokio::spawn(async move {
                    let _ = serve_connection(stream, state, mode).await;
                });
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// How the end of DATA is answered from now on.
    pub fn set_mode(&self, mode: SmtpMode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Answers messages to `address` this way, whatever the general mode.
    pub fn set_mode_for(&self, address: &str, mode: SmtpMode) {
        self.state
            .lock()
            .unwrap()
            .modes
            .insert(address.to_owned(), mode);
    }

    /// Every accepted message so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Accepted messages to `address`.
    pub fn received_by(&self, address: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|m| m.to.iter().any(|to| to == address))
            .collect()
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    state: Arc<Mutex<SmtpState>>,
    mode: Arc<Mutex<SmtpMode>>,
) -> std::io::Result<()> {
    // Without it, small replies wait for delayed ACKs (Nagle): 40 ms per exchange.
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 testkit ESMTP ready\r\n").await?;
    let mut to: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        let effective = |to: &[String]| {
            let state = state.lock().unwrap();
            to.iter()
                .find_map(|address| state.modes.get(address).copied())
                .unwrap_or(*mode.lock().unwrap())
        };
        if command.starts_with("EHLO") {
            write
                .write_all(b"250-testkit\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if command.starts_with("HELO") {
            write.write_all(b"250 testkit\r\n").await?;
        } else if command.starts_with("MAIL FROM") {
            to.clear();
            if *mode.lock().unwrap() == SmtpMode::StallBeforeData {
                std::future::pending::<()>().await;
            }
            write.write_all(b"250 2.1.0 OK\r\n").await?;
        } else if command.starts_with("RCPT TO") {
            let address = line
                .trim_end()
                .split_once(':')
                .map(|(_, a)| {
                    a.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_owned()
                })
                .unwrap_or_default();
            to.push(address);
            write.write_all(b"250 2.1.5 OK\r\n").await?;
        } else if command == "DATA" {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                data.push_str(unstuffed);
            }
            let record = |state: &Arc<Mutex<SmtpState>>| {
                state.lock().unwrap().received.push(Received {
                    to: to.clone(),
                    data: data.clone(),
                    at: Instant::now(),
                })
            };
            match effective(&to) {
                SmtpMode::Accept | SmtpMode::StallBeforeData => {
                    record(&state);
                    write.write_all(b"250 2.0.0 queued\r\n").await?;
                }
                SmtpMode::TemporaryFailure => {
                    write.write_all(b"451 4.3.0 try again later\r\n").await?;
                }
                SmtpMode::PermanentFailure => {
                    write.write_all(b"554 5.7.1 rejected\r\n").await?;
                }
                SmtpMode::StallAfterData => {
                    record(&state);
                    std::future::pending::<()>().await;
                }
                SmtpMode::AcceptAfter(delay) => {
                    record(&state);
                    tokio::time::sleep(delay).await;
                    write.write_all(b"250 2.0.0 queued\r\n").await?;
                }
            }
        } else if command == "RSET" || command == "NOOP" {
            write.write_all(b"250 OK\r\n").await?;
        } else if command == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"502 command not implemented\r\n").await?;
        }
    }
}
