//! @mentions: which usernames a description or a comment names with `@username`.

use crate::USERNAME_MAX_CHARS;

/// A character a username may hold (Django's `[\w.@+-]`).
fn username_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || matches!(c, '@' | '.' | '+' | '-')
}

/// The usernames `text` mentions, each once, in the order they first appear.
///
/// A mention is `@` followed by username characters, where the `@` starts the text or follows
/// a character no username holds: `ann@example.com` and `x@bob` mention nobody. The name ends at
/// the first character no username holds, or at a second `@` (so a username holding `@` cannot
/// be mentioned); a `.` that ends it is the sentence's, not the name's. Names longer than a
/// username can be are not mentions. Whether a name is a user is for the caller to check: one
/// that is not an active user stays plain text.
///
/// ```
/// use issue_tracker_domain::mentions;
/// assert_eq!(mentions("Thanks @ann and @bob.smith. cc @ann"), vec!["ann", "bob.smith"]);
/// assert!(mentions("mail ann@example.com, or @ alone").is_empty());
/// assert_eq!(mentions("(@carl), @dora!"), vec!["carl", "dora"]);
/// ```
pub fn mentions(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut previous: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let starts = c == '@' && !previous.is_some_and(username_char);
        previous = Some(c);
        if !starts {
            continue;
        }
        let rest = &text[at + 1..];
        let end = rest
            .char_indices()
            .find(|&(_, c)| !username_char(c) || c == '@')
            .map_or(rest.len(), |(i, _)| i);
        let name = rest[..end].trim_end_matches('.');
        // Step over the name: a `@` inside it starts no mention of its own.
        while chars.peek().is_some_and(|&(i, _)| i <= at + end) {
            previous = chars.next().map(|(_, c)| c);
        }
        if name.is_empty() || name.chars().count() > USERNAME_MAX_CHARS {
            continue;
        }
        if !found.iter().any(|f| f == name) {
            found.push(name.to_owned());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn mentions_are_found_at_word_starts_only() {
        assert_eq!(mentions("@ann"), vec!["ann"]);
        assert_eq!(mentions("hi @ann, see @b_o-b+1"), vec!["ann", "b_o-b+1"]);
        assert_eq!(mentions("line\n@ünïcode"), vec!["ünïcode"]);
        assert!(mentions("ann@example.com").is_empty());
        assert!(mentions("first.last@example.com").is_empty());
        assert!(mentions("x@bob and .@carl").is_empty());
        assert!(
            mentions("@@ann").is_empty(),
            "the second @ follows a username character"
        );
        assert!(mentions("").is_empty());
        assert!(mentions("@").is_empty());
        assert!(mentions("@.").is_empty());
    }

    #[test]
    fn a_name_ends_at_a_second_at_sign_and_sheds_a_final_full_stop() {
        assert_eq!(mentions("@ann@example.com"), vec!["ann"]);
        assert_eq!(mentions("ask @ann."), vec!["ann"]);
        assert_eq!(mentions("ask @ann.b."), vec!["ann.b"]);
        assert_eq!(mentions("@ann...?"), vec!["ann"]);
    }

    #[test]
    fn each_name_once_in_order_and_none_too_long() {
        assert_eq!(mentions("@b @a @b @a"), vec!["b", "a"]);
        let long = "x".repeat(151);
        assert!(mentions(&format!("@{long}")).is_empty());
        let longest = "x".repeat(150);
        assert_eq!(mentions(&format!("@{longest}")), vec![longest]);
    }
}
