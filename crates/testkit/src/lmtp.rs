//! An LMTP client (RFC 2033) for tests: one transaction, with every answer kept.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// What an LMTP server answered to each `RCPT` and, after the message, per accepted recipient.
#[derive(Debug)]
pub struct Answers {
    pub rcpt: Vec<String>,
    pub data: Vec<String>,
}

/// One LMTP transaction: LHLO, MAIL FROM, RCPT TO each, DATA (dot-stuffed), QUIT.
pub async fn lmtp_deliver(
    address: SocketAddr,
    sender: &str,
    recipients: &[&str],
    message: &[u8],
) -> Answers {
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut next = async || lines.next_line().await.unwrap().expect("an answer");
    assert!(next().await.starts_with("220"));
    write.write_all(b"LHLO test\r\n").await.unwrap();
    loop {
        let line = next().await;
        assert!(line.starts_with("250"), "{line}");
        if line.starts_with("250 ") {
            break;
        }
    }
    write
        .write_all(format!("MAIL FROM:<{sender}>\r\n").as_bytes())
        .await
        .unwrap();
    assert!(next().await.starts_with("250"));
    let mut rcpt = Vec::new();
    for recipient in recipients {
        write
            .write_all(format!("RCPT TO:<{recipient}>\r\n").as_bytes())
            .await
            .unwrap();
        rcpt.push(next().await);
    }
    let accepted = rcpt.iter().filter(|a| a.starts_with("250")).count();
    write.write_all(b"DATA\r\n").await.unwrap();
    assert!(next().await.starts_with("354"));
    let text = String::from_utf8_lossy(message);
    for line in text.split("\r\n") {
        let stuffed = if line.starts_with('.') {
            format!(".{line}\r\n")
        } else {
            format!("{line}\r\n")
        };
        write.write_all(stuffed.as_bytes()).await.unwrap();
    }
    write.write_all(b".\r\n").await.unwrap();
    let mut data = Vec::new();
    for _ in 0..accepted {
        data.push(next().await);
    }
    write.write_all(b"QUIT\r\n").await.unwrap();
    Answers { rcpt, data }
}
