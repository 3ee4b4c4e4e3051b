//! Property tests of what a reply by email becomes: the reply text, the token and the address.

use issue_tracker_domain::{
    reply_address, reply_text, reply_token, token_in_address, IssueId, ReplyToken, UserId,
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn the_reply_text_never_keeps_a_quote_and_is_stable(text in any::<String>()) {
        let once = reply_text(&text);
        prop_assert!(once.lines().all(|line| !line.trim_start().starts_with('>')));
        prop_assert_eq!(reply_text(&once), once.clone());
        prop_assert_eq!(once.trim_end(), once.as_str());
    }

    #[test]
    fn plain_lines_are_kept_as_written(lines in proptest::collection::vec("[a-z0-9,.!?]{1,30}", 1..12)) {
        let text = lines.join("\n");
        prop_assert_eq!(reply_text(&text), text);
    }

    #[test]
    fn a_quote_below_the_reply_goes(reply in "[a-z0-9,.!?]{1,30}", quoted in proptest::collection::vec(any::<String>(), 0..6)) {
        let quote: Vec<String> = quoted.iter().map(|q| format!("> {}", q.replace(['\n', '\r'], " "))).collect();
        let mail = format!("{reply}\n\nOn Sun, Dec 6, 2026 at 10:00 AM Ann <ann@example.com> wrote:\n{}", quote.join("\n"));
        prop_assert_eq!(reply_text(&mail), reply);
    }

    #[test]
    fn tokens_round_trip_through_the_address(user in 1i64..=i64::MAX, issue in 1i64..=i64::MAX, expires in 1i64..=4_102_444_800) {
        let (user, issue) = (UserId::new(user), IssueId::new(issue).unwrap());
        let token = reply_token(b"k", user, issue, expires, "hash");
        let address = reply_address("reply+%{token}@t.example", &token);
        let found = token_in_address("reply+%{token}@t.example", &address.to_uppercase()).unwrap();
        let parsed = ReplyToken::parse(&found).unwrap();
        prop_assert_eq!((parsed.user, parsed.issue, parsed.expires), (user, issue, expires));
        prop_assert!(parsed.verify(b"k", "hash", expires - 1).is_ok());
    }

    #[test]
    fn token_parsing_never_panics(text in any::<String>()) {
        let _ = ReplyToken::parse(&text);
        let _ = token_in_address("reply+%{token}@t.example", &text);
    }
}
