//! The worker's LMTP listener (RFC 2033) for mail servers that deliver replies over LMTP
//! (Postfix's `lmtp:` transport, Exim's `lmtp` transport, Dovecot-style set-ups). One answer per
//! recipient after the message: delivered (a comment, or a repeat of a message handled before),
//! refused with a 5xx reason, or 451 when the database is away (the mail server tries again).
//! Several workers may listen: the database's unique key makes a message count once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use issue_tracker_domain::ReplyRefusal;
use issue_tracker_persistence::Transport;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::{Outcome, Replies};

/// Sessions served at once; more wait for a place.
const SESSIONS: usize = 64;
/// Longest command line (RFC 5321 allows 512 octets; parameters make some longer).
const MAX_LINE: usize = 2_048;
/// How long a client may stay silent.
const IDLE: Duration = Duration::from_secs(300);

/// Accepts LMTP sessions on `listener` until `shutdown` turns true; sessions in progress finish.
pub async fn serve(listener: TcpListener, replies: Replies, mut shutdown: watch::Receiver<bool>) {
    let local = listener.local_addr().ok();
    tracing::info!(address = ?local, "LMTP listener started");
    let places = Arc::new(Semaphore::new(SESSIONS));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "LMTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(place) = places.clone().acquire_owned().await else {
            break;
        };
        let replies = replies.clone();
        tokio::spawn(async move {
            if let Err(error) = session(stream, peer, replies).await {
                tracing::debug!(%error, %peer, "LMTP session ended");
            }
            drop(place);
        });
    }
    tracing::info!("LMTP listener stopped");
}

/// What the client said so far in this transaction.
#[derive(Default)]
struct Transaction {
    sender: Option<String>,
    recipients: Vec<String>,
}

/// The address in `MAIL FROM:<...>` / `RCPT TO:<...>` (parameters after it ignored).
fn path_of(argument: &str) -> Option<String> {
    let argument = argument.trim();
    let open = argument.find('<')?;
    let close = argument[open..].find('>')? + open;
    Some(argument[open + 1..close].trim().to_owned())
}

fn answer(outcome: &Outcome, recipient: &str) -> String {
    match outcome {
        Outcome::Comment(id) => format!("250 2.0.0 <{recipient}> comment {} made", id.get()),
        Outcome::AlreadyHandled => format!("250 2.0.0 <{recipient}> received before; nothing new"),
        Outcome::Refused(refusal) if refusal.is_silent() => {
            format!("250 2.0.0 <{recipient}> dropped: {refusal}")
        }
        Outcome::Refused(refusal @ ReplyRefusal::TooBig { .. }) => {
            format!("552 5.3.4 <{recipient}> {refusal}")
        }
        Outcome::Refused(refusal) => format!("550 5.7.1 <{recipient}> {refusal}"),
    }
}

async fn session(stream: TcpStream, peer: SocketAddr, replies: Replies) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 issue-tracker LMTP ready\r\n").await?;
    let mut transaction = Transaction::default();
    let mut greeted = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = tokio::time::timeout(
            IDLE,
            (&mut reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line),
        )
        .await;
        let Ok(read) = read else {
            write.write_all(b"421 4.4.2 idle too long\r\n").await?;
            return Ok(());
        };
        if read? == 0 {
            return Ok(());
        }
        if line.len() > MAX_LINE || !line.ends_with(b"\n") {
            write.write_all(b"500 5.5.6 line too long\r\n").await?;
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        let (verb, argument) = match text.split_once(' ') {
            Some((verb, argument)) => (verb.to_ascii_uppercase(), argument.to_owned()),
            None => (text.to_ascii_uppercase(), String::new()),
        };
        let reply: String = match verb.as_str() {
            "LHLO" => {
                greeted = true;
                transaction = Transaction::default();
                "250-issue-tracker\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 PIPELINING"
                    .into()
            }
            "MAIL" if !greeted => "503 5.5.1 LHLO first".into(),
            "MAIL" => match argument.get(..5).map(str::to_ascii_uppercase).as_deref() {
                Some("FROM:") => match path_of(&argument[5..]) {
                    Some(sender) => {
                        transaction = Transaction {
                            sender: Some(sender),
                            recipients: Vec::new(),
                        };
                        "250 2.1.0 OK".into()
                    }
                    None => "501 5.5.4 expected MAIL FROM:<address>".into(),
                },
                _ => "501 5.5.4 expected MAIL FROM:<address>".into(),
            },
            "RCPT" if transaction.sender.is_none() => "503 5.5.1 MAIL first".into(),
            "RCPT" => match argument.get(..3).map(str::to_ascii_uppercase).as_deref() {
                Some("TO:") => match path_of(&argument[3..]) {
                    Some(recipient) if replies.is_reply_address(&recipient) => {
                        transaction.recipients.push(recipient);
                        "250 2.1.5 OK".into()
                    }
                    Some(recipient) => {
                        format!("550 5.1.1 <{recipient}> is not a reply address of this service")
                    }
                    None => "501 5.5.4 expected RCPT TO:<address>".into(),
                },
                _ => "501 5.5.4 expected RCPT TO:<address>".into(),
            },
            "DATA" if transaction.recipients.is_empty() => "503 5.5.1 no valid recipients".into(),
            "DATA" => {
                write
                    .write_all(b"354 send the message; end with <CRLF>.<CRLF>\r\n")
                    .await?;
                let message = read_data(&mut reader, replies.max_bytes).await?;
                let transaction = std::mem::take(&mut transaction);
                let replies = replies.clone();
                let recipients = transaction.recipients.clone();
                let handled = tokio::task::spawn_blocking(move || {
                    replies.receive(
                        &message,
                        transaction.sender.as_deref(),
                        &transaction.recipients,
                        Transport::Lmtp,
                    )
                })
                .await;
                let answers: Vec<String> = match handled {
                    Ok(Ok(outcomes)) => outcomes
                        .iter()
                        .map(|(recipient, outcome)| answer(outcome, recipient))
                        .collect(),
                    Ok(Err(error)) => {
                        tracing::warn!(%error, %peer, "cannot handle a reply now; the mail server will retry");
                        recipients
                            .iter()
                            .map(|r| {
                                format!("451 4.3.0 <{r}> cannot be handled now; try again later")
                            })
                            .collect()
                    }
                    Err(error) => {
                        tracing::error!(%error, "handling a reply panicked");
                        recipients
                            .iter()
                            .map(|r| format!("451 4.3.0 <{r}> internal error; try again later"))
                            .collect()
                    }
                };
                answers.join("\r\n")
            }
            "RSET" => {
                transaction = Transaction::default();
                "250 2.0.0 OK".into()
            }
            "NOOP" => "250 2.0.0 OK".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            "HELO" | "EHLO" => "500 5.5.1 this is LMTP: say LHLO".into(),
            _ => "500 5.5.2 unknown command".into(),
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

/// Reads the message up to the lone `.` line, undoing dot-stuffing. Keeps at most `max + 1` bytes
/// (enough to know it is too big) but reads to the end, so that the session stays in step.
async fn read_data<R>(reader: &mut R, max: usize) -> std::io::Result<Vec<u8>>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    let mut message = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = tokio::time::timeout(IDLE, reader.read_until(b'\n', &mut line))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "idle in DATA"))??;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(message);
        }
        let content = line.strip_prefix(b".").unwrap_or(&line);
        if message.len() <= max {
            let room = max + 1 - message.len();
            message.extend_from_slice(&content[..content.len().min(room)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_read_from_their_brackets() {
        assert_eq!(path_of(" <a@b.c> SIZE=10"), Some("a@b.c".into()));
        assert_eq!(path_of("<>"), Some(String::new()));
        assert_eq!(path_of("a@b.c"), None);
    }
}
