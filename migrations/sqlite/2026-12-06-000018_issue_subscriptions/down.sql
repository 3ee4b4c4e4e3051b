DROP TABLE issue_subscriptions;
