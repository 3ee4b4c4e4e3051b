//! What a person wrote in a reply, without what they quoted: the quoted message (`>` lines, the
//! "On ... wrote:" line in the languages mail clients use, Outlook's original-message block) and
//! the signature (`-- `, "Sent from my iPhone").

/// Attribution lines ("On <date>, <name> wrote:") per language: the word that opens one and the
/// verbs that may follow; the line ends with a colon ("Am <date> schrieb <name>:").
const ATTRIBUTIONS: &[(&str, &[&str])] = &[
    ("on ", &[" wrote", " writes"]),
    ("le ", &[" a écrit"]),
    ("am ", &[" schrieb", " geschrieben"]),
    ("el ", &[" escribió", " escribio"]),
    ("il ", &[" scritto"]),
    ("op ", &[" schreef", " geschreven"]),
    ("em ", &[" escreveu"]),
    ("den ", &[" skrev"]),
    ("w dniu ", &[" napisał"]),
];

/// Lines that start the quoted original in Outlook and others.
const ORIGINAL_MESSAGE: &[&str] = &[
    "-----original message-----",
    "----- original message -----",
    "-----ursprüngliche nachricht-----",
    "-----message d'origine-----",
    "-------- original message --------",
    "-------- message original --------",
    "-------- forwarded message --------",
];

/// Lines that end what was written on a phone.
const SENT_FROM: &[&str] = &[
    "sent from my ",
    "get outlook for ",
    "envoyé de mon ",
    "von meinem ",
    "enviado desde mi ",
];

fn is_attribution(line: &str) -> bool {
    let line = line.trim().to_lowercase();
    line.ends_with(':')
        && ATTRIBUTIONS.iter().any(|(opening, verbs)| {
            line.starts_with(opening) && verbs.iter().any(|verb| line.contains(verb))
        })
}

/// Whether the text from line `at` on is the quoted original (or a signature): everything from
/// there is dropped.
fn starts_the_rest(lines: &[&str], at: usize) -> bool {
    let line = lines[at].trim_end();
    let lower = line.trim().to_lowercase();
    if line == "--" || line == "-- " || lower.starts_with("________________") {
        return true;
    }
    if ORIGINAL_MESSAGE.contains(&lower.as_str()) {
        return true;
    }
    if SENT_FROM.iter().any(|sent| lower.starts_with(sent)) && lower.len() < 60 {
        return true;
    }
    // Outlook's header block: "From: ..." followed by "Sent:" or "Date:" lines.
    if lower.starts_with("from:") {
        let next = lines.get(at + 1).map(|l| l.trim().to_lowercase());
        if next.is_some_and(|n| n.starts_with("sent:") || n.starts_with("date:")) {
            return true;
        }
    }
    if is_attribution(line) {
        return true;
    }
    // Gmail wraps a long attribution over two lines.
    if let Some(next) = lines.get(at + 1) {
        let joined = format!("{} {}", line.trim(), next.trim());
        if !line.trim().is_empty() && is_attribution(&joined) {
            return true;
        }
    }
    false
}

/// The text of a reply without the quoted original and the signature, trimmed; empty when
/// nothing else was written. Lines quoted with `>` between the person's own lines (an answer
/// written inline) are dropped, the person's lines kept.
///
/// ```
/// use issue_tracker_domain::reply_text;
/// let mail = "Fixed it, thanks!\n\nOn Sun, Dec 6, 2026 at 10:00 AM Ann <ann@example.com> wrote:\n> The printer is on fire.\n";
/// assert_eq!(reply_text(mail), "Fixed it, thanks!");
/// ```
pub fn reply_text(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    for at in 0..lines.len() {
        if starts_the_rest(&lines, at) {
            break;
        }
        if lines[at].trim_start().starts_with('>') {
            continue;
        }
        kept.push(lines[at].trim_end());
    }
    // Collapse the runs of blank lines that dropped quotes leave behind.
    let mut out: Vec<&str> = Vec::new();
    for line in kept {
        if line.is_empty() && out.last().is_none_or(|last| last.is_empty()) {
            continue;
        }
        out.push(line);
    }
    while out.last().is_some_and(|last| last.is_empty()) {
        out.pop();
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributions_in_several_languages_end_the_reply() {
        for attribution in [
            "On Sun, Dec 6, 2026 at 10:00 AM Ann Smith <ann@example.com> wrote:",
            "On 6 Dec 2026, at 10:00, Ann Smith <ann@example.com> wrote:",
            "On 12/6/26 10:00 AM, Ann Smith wrote:",
            "Le dim. 6 déc. 2026 à 10:00, Ann Smith <ann@example.com> a écrit :",
            "Am 06.12.2026 um 10:00 schrieb Ann Smith:",
            "Am 06.12.2026 um 10:00 schrieb Issue Tracker <tracker@example.com>:",
            "El dom, 6 dic 2026 a las 10:00, Ann Smith (<ann@example.com>) escribió:",
            "Il giorno dom 6 dic 2026 alle ore 10:00 Ann Smith <ann@example.com> ha scritto:",
            "Op zo 6 dec. 2026 om 10:00 schreef Ann Smith <ann@example.com>:",
            "Em dom., 6 de dez. de 2026 às 10:00, Ann Smith <ann@example.com> escreveu:",
        ] {
            let mail = format!("Done.\n\n{attribution}\n> old text\n");
            assert_eq!(reply_text(&mail), "Done.", "{attribution}");
        }
    }

    #[test]
    fn a_wrapped_attribution_ends_the_reply() {
        let mail = "Done.\n\nOn Sun, Dec 6, 2026 at 10:00 AM Ann Smith <\nann@example.com> wrote:\n\n> old\n";
        assert_eq!(reply_text(mail), "Done.");
    }

    #[test]
    fn signatures_and_outlook_blocks_end_the_reply() {
        for tail in [
            "-- \nAnn Smith\nACME",
            "Sent from my iPhone",
            "-----Original Message-----\nFrom: Tracker\nSent: Sunday\n\nold",
            "________________________________\nFrom: Tracker <t@example.com>\nSent: Sunday",
            "From: Tracker <t@example.com>\nSent: Sunday, December 6, 2026 10:00 AM\nTo: Ann",
        ] {
            let mail = format!("Done.\nReally.\n\n{tail}\n");
            assert_eq!(reply_text(&mail), "Done.\nReally.", "{tail}");
        }
    }

    #[test]
    fn an_inline_answer_keeps_its_own_lines() {
        let mail = "> Is it plugged in?\nYes.\n\n> Is it on?\nNo, now it is.\n";
        assert_eq!(reply_text(mail), "Yes.\n\nNo, now it is.");
    }

    #[test]
    fn ordinary_text_is_kept_as_written() {
        let mail = "First line\r\n\r\nOn the other hand, it works.\r\nFrom: here on, fine.\r\n";
        assert_eq!(
            reply_text(mail),
            "First line\n\nOn the other hand, it works.\nFrom: here on, fine."
        );
        assert_eq!(reply_text("> only a quote\n"), "");
    }
}
