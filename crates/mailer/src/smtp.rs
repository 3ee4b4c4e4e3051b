//! SMTP delivery with the whole exchange under one deadline.
//!
//! lettre's transport bounds only the connect; a server that accepts the body and never answers
//! after the final `.` would hold a send forever, past the worker's lease, and another worker
//! would send the email again. Here every send (connect, greeting, TLS, AUTH, MAIL, RCPT, DATA and
//! the answer to its end) runs under one `tokio::time::timeout`. When it fires, the connection is
//! dropped, never reused: lettre's own pool would park a connection left in the middle of DATA,
//! and the next message written to it would become part of the previous one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::Error;

use issue_tracker_config::EmailTls;

/// A connection idle longer than this is checked with `NOOP` before reuse (the server may have
/// closed it); busier connections are reused as they are.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

/// Why a send failed.
pub(crate) enum SendError {
    /// The SMTP exchange did not end within the deadline (temporary).
    TimedOut(Duration),
    /// What lettre reported.
    Smtp(Error),
}

/// SMTP connections to one server, kept for reuse between emails.
pub(crate) struct SmtpClient {
    host: String,
    port: u16,
    tls: EmailTls,
    credentials: Option<Credentials>,
    hello: ClientId,
    deadline: Duration,
    max_idle: usize,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl SmtpClient {
    pub(crate) fn new(
        host: String,
        port: u16,
        tls: EmailTls,
        credentials: Option<Credentials>,
        deadline: Duration,
        max_idle: usize,
    ) -> SmtpClient {
        SmtpClient {
            host,
            port,
            tls,
            credentials,
            hello: ClientId::default(),
            deadline,
            max_idle,
            idle: Mutex::new(Vec::new()),
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, Error> {
        let tls = || TlsParameters::new(self.host.clone());
        let wrapper = match self.tls {
            EmailTls::Implicit => Some(tls()?),
            _ => None,
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            Some(self.deadline),
            &self.hello,
            wrapper,
            None,
        )
        .await?;
        if self.tls == EmailTls::StartTls {
            conn.starttls(tls()?, &self.hello).await?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await?;
        }
        Ok(conn)
    }

    fn take_idle(&self) -> Option<(AsyncSmtpConnection, Instant)> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    async fn exchange(&self, envelope: &Envelope, message: &[u8]) -> Result<(), Error> {
        let mut conn = match self.take_idle() {
            Some((conn, parked)) if parked.elapsed() < CHECK_IDLE_AFTER => conn,
            Some((mut conn, _)) => {
                if conn.test_connected().await {
                    conn
                } else {
                    conn.abort().await;
                    self.connect().await?
                }
            }
            None => self.connect().await?,
        };
        let sent = conn.send(envelope, message).await;
        if sent.is_ok() && !conn.has_broken() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < self.max_idle {
                idle.push((conn, Instant::now()));
                return Ok(());
            }
        }
        conn.abort().await;
        sent.map(|_| ())
    }

    /// Sends one message; the whole exchange ends within the deadline.
    pub(crate) async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), SendError> {
        match tokio::time::timeout(self.deadline, self.exchange(envelope, message)).await {
            Ok(result) => result.map_err(SendError::Smtp),
            // The dropped future drops its connection: it is closed, never parked.
            Err(_) => Err(SendError::TimedOut(self.deadline)),
        }
    }
}
