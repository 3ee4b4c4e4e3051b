//! A received message, read with mail-parser into what the domain's rules need.

use issue_tracker_domain::IncomingEmail;
use mail_parser::MessageParser;

/// A message as the rules see it, with the few things only the adapter needs.
#[derive(Debug, Clone, Default)]
pub struct ReadMessage {
    /// What the rules read.
    pub email: IncomingEmail,
    /// The `Subject`.
    pub subject: String,
    /// The addresses it was delivered to, as the headers say (`Delivered-To`, `X-Original-To`,
    /// `To`, `Cc`), for a pipe transport that does not pass the recipient.
    pub addressed_to: Vec<String>,
}

/// The body's bytes: what follows the first empty line (relays add headers, not body).
pub fn body_of(raw: &[u8]) -> &[u8] {
    for (at, window) in raw.windows(2).enumerate() {
        if window == b"\n\n" {
            return &raw[at + 2..];
        }
        if window == b"\r\n" && raw.get(at + 2..at + 4) == Some(b"\r\n") {
            return &raw[at + 4..];
        }
    }
    &[]
}

/// Reads `raw` (RFC 5322). `envelope_sender` is the SMTP/LMTP `MAIL FROM` when known; otherwise
/// the `Return-Path` header a pipe transport adds stands for it.
pub fn read_message(raw: &[u8], envelope_sender: Option<&str>) -> ReadMessage {
    let Some(message) = MessageParser::default().parse(raw) else {
        return ReadMessage::default();
    };
    let headers: Vec<(String, String)> = message
        .headers_raw()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let header = |name: &'static str| {
        headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let envelope_sender = envelope_sender
        .map(str::to_owned)
        .or_else(|| header("return-path").next().map(str::to_owned));
    let delivery_report = header("content-type").next().is_some_and(|value| {
        let value = value.to_ascii_lowercase();
        value.starts_with("multipart/report") && value.contains("delivery-status")
    });
    let mut addressed_to: Vec<String> = Vec::new();
    for name in ["delivered-to", "x-original-to"] {
        addressed_to.extend(header(name).map(str::to_owned));
    }
    for address in message.to().into_iter().chain(message.cc()) {
        addressed_to.extend(
            address
                .iter()
                .filter_map(|a| a.address().map(str::to_owned)),
        );
    }
    let from = message
        .from()
        .and_then(|from| from.first())
        .and_then(|addr| addr.address())
        .map(str::to_owned);
    let text = message.body_text(0).map(|text| text.into_owned());
    ReadMessage {
        email: IncomingEmail {
            message_id: message.message_id().map(str::to_owned),
            from,
            envelope_sender,
            headers,
            text,
            attachments: message.attachment_count(),
            delivery_report,
        },
        subject: message.subject().unwrap_or_default().to_owned(),
        addressed_to,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_starts_after_the_first_empty_line() {
        assert_eq!(body_of(b"A: b\r\nC: d\r\n\r\nbody\r\n"), b"body\r\n");
        assert_eq!(body_of(b"A: b\n\nbody"), b"body");
        assert_eq!(body_of(b"A: b\n"), b"");
    }

    #[test]
    fn an_html_only_message_is_read_as_text() {
        let raw = b"From: Ann <ann@example.com>\r\nTo: reply+1-2.3.4@t.example\r\nSubject: Re: x\r\nMessage-ID: <m1@example.com>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Works <b>now</b>.</p>\r\n";
        let read = read_message(raw, None);
        assert_eq!(read.email.message_id.as_deref(), Some("m1@example.com"));
        assert_eq!(read.email.from.as_deref(), Some("ann@example.com"));
        assert_eq!(read.addressed_to, ["reply+1-2.3.4@t.example"]);
        assert!(read.email.text.unwrap().contains("Works now."));
    }
}
