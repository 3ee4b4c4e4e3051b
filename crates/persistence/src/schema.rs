//! The tables, shared by both backends (the migrations keep the two dialects in step).

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        email -> Text,
        password_hash -> Text,
        is_active -> Bool,
        is_staff -> Bool,
        is_superuser -> Bool,
        date_joined -> Timestamp,
        notify_assignment -> Bool,
        notify_report -> Bool,
        notify_activity -> Bool,
        activity_muted -> Text,
        activity_delivery -> Text,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        key_hash -> Text,
        prefix -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        expires_at -> Timestamp,
        scopes -> Text,
    }
}

diesel::table! {
    issues (id) {
        id -> BigInt,
        created_by_id -> BigInt,
        title -> Text,
        description -> Text,
        status -> Text,
        assigned_to_id -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        label_names -> Nullable<Text>,
    }
}

diesel::joinable!(api_tokens -> users (user_id));

diesel::table! {
    notifications (id) {
        id -> BigInt,
        kind -> Text,
        recipient_id -> BigInt,
        issue_id -> Nullable<BigInt>,
        period -> Nullable<BigInt>,
        dedupe_key -> Text,
        status -> Text,
        send_after -> Timestamp,
        enqueued_at -> Nullable<Timestamp>,
        lease_until -> Nullable<Timestamp>,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        claim_token -> Nullable<BigInt>,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        kind -> Text,
        created_at -> Timestamp,
        actor_id -> Nullable<BigInt>,
        actor_username -> Nullable<Text>,
        via -> Text,
        request_id -> Nullable<Text>,
        issue_id -> Nullable<BigInt>,
        user_id -> Nullable<BigInt>,
        username -> Nullable<Text>,
        changes -> Text,
    }
}

// SQLite only: the FTS5 trigram index of issue titles and descriptions. Its hidden column of the
// table's own name is what `MATCH` searches.
diesel::table! {
    issues_search (rowid) {
        rowid -> BigInt,
        #[sql_name = "issues_search"]
        everything -> Text,
    }
}

// SQLite only: issues written since the search index was last brought up to date.
diesel::table! {
    issues_search_pending (issue_id) {
        issue_id -> BigInt,
    }
}

diesel::table! {
    comments (id) {
        id -> BigInt,
        issue_id -> BigInt,
        author_id -> BigInt,
        body -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(comments -> users (author_id));

diesel::table! {
    labels (id) {
        id -> BigInt,
        name -> Text,
        name_key -> Text,
        color -> Text,
        description -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    issue_subscriptions (issue_id, user_id) {
        issue_id -> BigInt,
        user_id -> BigInt,
        subscribed -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    inbox (id) {
        id -> BigInt,
        user_id -> BigInt,
        issue_id -> BigInt,
        reason -> Text,
        kind -> Text,
        actor_username -> Nullable<Text>,
        summary -> Text,
        unread -> Bool,
        done -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        email_id -> Nullable<BigInt>,
        comment_id -> Nullable<BigInt>,
        digest_id -> Nullable<BigInt>,
    }
}

diesel::joinable!(inbox -> users (user_id));

diesel::table! {
    issue_labels (issue_id, label_id) {
        issue_id -> BigInt,
        label_id -> BigInt,
    }
}

diesel::table! {
    webhooks (id) {
        id -> BigInt,
        url -> Text,
        events -> Text,
        active -> Bool,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        webhook_id -> BigInt,
        event_id -> Nullable<BigInt>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claim_token -> Nullable<BigInt>,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> BigInt,
        delivery_id -> BigInt,
        started_at -> Timestamp,
        status_code -> Nullable<Integer>,
        duration_ms -> Integer,
        response -> Text,
        error -> Nullable<Text>,
    }
}

diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
diesel::joinable!(issue_labels -> labels (label_id));
diesel::joinable!(issue_labels -> issues (issue_id));

diesel::table! {
    incoming_emails (id) {
        id -> BigInt,
        message_key -> Text,
        recipient -> Text,
        received_at -> Timestamp,
        transport -> Text,
        sender -> Text,
        subject -> Text,
        user_id -> Nullable<BigInt>,
        issue_id -> Nullable<BigInt>,
        outcome -> Text,
        reason -> Nullable<Text>,
        detail -> Nullable<Text>,
        comment_id -> Nullable<BigInt>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    comments,
    incoming_emails,
    issue_subscriptions,
    inbox,
    labels,
    issue_labels,
    webhooks,
    webhook_deliveries,
    webhook_attempts,
    issues_search,
    issues_search_pending,
    notifications,
    users,
    issues,
    api_tokens,
    events,
    admin_sessions
);

diesel::table! {
    admin_sessions (id) {
        id -> BigInt,
        key_hash -> Text,
        user_id -> BigInt,
        csrf_token -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(admin_sessions -> users (user_id));
