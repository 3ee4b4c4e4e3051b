//! Property tests of the parsers every request goes through.

use issue_tracker_domain::{
    parse_text_field, python_strip, IssueId, IssueInput, Password, Status, Title, Username,
    WriteMode, TITLE_MAX_CHARS,
};
use proptest::prelude::*;
use serde_json::{json, Value};

proptest! {
    #[test]
    fn issue_ids_round_trip_and_refuse_everything_else(n in 1i64..=i64::MAX) {
        prop_assert_eq!(IssueId::parse(&n.to_string()).map(IssueId::get), Some(n));
        prop_assert_eq!(IssueId::parse(&format!("-{n}")), None);
        prop_assert_eq!(IssueId::parse(&format!("{n}x")), None);
        prop_assert_eq!(IssueId::parse(&format!(" {n}")), None);
    }

    #[test]
    fn issue_id_parse_never_panics(s in any::<String>()) {
        if let Some(id) = IssueId::parse(&s) {
            prop_assert!(id.get() > 0);
            let shown = id.to_string();
            prop_assert_eq!(shown.trim_start_matches('0'), s.trim_start_matches('0'));
        }
    }

    #[test]
    fn accepted_titles_are_trimmed_short_and_nul_free(s in any::<String>()) {
        if let Ok(title) = Title::parse(&s) {
            prop_assert!(!title.as_str().is_empty());
            prop_assert!(title.as_str().chars().count() <= TITLE_MAX_CHARS);
            prop_assert!(!title.as_str().contains('\0'));
            prop_assert_eq!(python_strip(title.as_str()), title.as_str());
            prop_assert_eq!(title.as_str(), python_strip(&s));
        }
    }

    #[test]
    fn titles_within_the_limit_are_accepted(s in "[a-zA-Z0-9éü€🦀 ]{0,255}") {
        let expected_blank = python_strip(&s).is_empty();
        prop_assert_eq!(Title::parse(&s).is_err(), expected_blank);
    }

    #[test]
    fn text_fields_take_numbers_as_text(n in any::<i64>()) {
        prop_assert_eq!(parse_text_field(&json!(n), 30), Ok(n.to_string()));
    }

    #[test]
    fn status_accepts_exactly_two_words(s in any::<String>()) {
        let ok = Status::parse(&s).is_ok();
        prop_assert_eq!(ok, s == "open" || s == "closed");
    }

    #[test]
    fn passwords_are_limited_in_bytes(s in any::<String>()) {
        if let Ok(password) = Password::parse(&s) {
            prop_assert!(password.expose().len() <= 72);
            prop_assert!(!password.expose().contains('\0'));
            prop_assert_eq!(password.expose(), s.as_str());
        }
    }

    #[test]
    fn usernames_are_limited(s in any::<String>()) {
        if let Ok(name) = Username::parse(&s) {
            prop_assert!(name.as_str().chars().count() <= 150);
            prop_assert!(!name.as_str().chars().any(char::is_whitespace));
        }
    }

    #[test]
    fn issue_input_reports_each_failing_field_once(
        title in prop_oneof![Just(Value::Null), Just(json!(true)), Just(json!("")), Just(json!("ok")), Just(json!(7))],
        status in prop_oneof![Just(json!("open")), Just(json!("nope")), Just(Value::Null), Just(json!(1))],
        assigned in prop_oneof![Just(json!("ann")), Just(json!("")), Just(json!({})), Just(json!(2.5))],
        mode in prop_oneof![Just(WriteMode::Create), Just(WriteMode::Replace), Just(WriteMode::Patch)],
    ) {
        let body = json!({"title": title, "status": status, "assigned_to": assigned});
        let (input, errors) = IssueInput::parse(body.as_object().unwrap(), mode);
        let shown = serde_json::to_value(&errors).unwrap();
        for (field, parsed) in [("title", input.title.is_some()), ("status", input.status.is_some()), ("assigned_to", input.assigned_to.is_some())] {
            prop_assert!(parsed != errors.contains(field), "{} {}", field, shown);
        }
        prop_assert_eq!(errors.contains("description"), mode != WriteMode::Patch);
        prop_assert!(input.description.is_none());
    }
}

/// A username as a mention can name it: Django's characters without `@`, not ending with `.`.
fn mentionable() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_+.-]{0,40}[a-zA-Z0-9_+-]"
}

proptest! {
    #[test]
    fn mentions_never_panic_and_give_usernames(s in any::<String>()) {
        for name in issue_tracker_domain::mentions(&s) {
            prop_assert!(Username::parse(&name).is_ok(), "{name:?}");
            prop_assert!(!name.contains('@') && !name.ends_with('.'));
            let written = format!("@{name}");
            prop_assert!(s.contains(&written));
        }
    }

    #[test]
    fn a_mention_after_a_space_or_punctuation_is_found(
        name in mentionable(),
        before in "[ \n(,;:!?\"'`]",
        after in "[ \n),;:!?\"'`]",
        prefix in ".{0,20}",
        suffix in ".{0,20}",
    ) {
        let text = format!("{prefix}{before}@{name}{after}{suffix}");
        prop_assert!(issue_tracker_domain::mentions(&text).contains(&name), "{text:?}");
    }

    #[test]
    fn email_addresses_mention_nobody(
        local in "[a-zA-Z0-9_][a-zA-Z0-9_.+-]{0,20}",
        domain in "[a-z0-9-]{1,20}\\.[a-z]{2,6}",
    ) {
        let text = format!("write to {local}@{domain} today");
        prop_assert!(issue_tracker_domain::mentions(&text).is_empty(), "{text:?}");
    }
}
