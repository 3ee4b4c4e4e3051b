//! A bad day for replies: the database goes away while a mail server delivers over LMTP. The
//! listener answers 451 (try again later) and records nothing; when the database is back, the
//! mail server's retry makes the comment, once.

mod common;

use std::time::Duration;

use common::{fixture, listen, World};
use issue_tracker_persistence::{Database, PoolSettings};
use issue_tracker_testkit::{lmtp_deliver, Fault, FaultProxy, Kind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_away_answers_451_and_the_retry_makes_one_comment() {
    let world = World::new(Kind::Postgres, &[]);
    let (proxy, proxied) = FaultProxy::in_front_of(&world.test.url).await;
    let db = Database::connect_postgres_lazily(
        &proxied,
        PoolSettings {
            max_size: 2,
            timeout: Duration::from_secs(1),
            transaction_pooling: false,
        },
    );
    let (address, _stop) = listen(world.replies_over(db)).await;
    let to = world.reply_address(&world.bob, world.issue);
    let message = fixture(
        "gmail.eml",
        &to,
        "bob@example.com",
        "outage@mail.example",
        world.issue,
    );

    proxy.set(Fault::Cut);
    let answers = lmtp_deliver(address, "bob@example.com", &[&to], &message).await;
    assert!(answers.data[0].starts_with("451 4.3.0"), "{answers:?}");
    assert!(world.test.db.list_incoming(0, 10).unwrap().is_empty());
    assert!(world.comments().is_empty());

    proxy.set(Fault::Pass);
    let mut delivered = None;
    for _ in 0..20 {
        let answers = lmtp_deliver(address, "bob@example.com", &[&to], &message).await;
        if answers.data[0].starts_with("250") {
            delivered = Some(answers);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let delivered = delivered.expect("delivered once the database is back");
    assert!(delivered.data[0].contains("comment"), "{delivered:?}");
    assert_eq!(world.comments().len(), 1);
}
