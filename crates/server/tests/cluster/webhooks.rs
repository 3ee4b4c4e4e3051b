//! Webhooks delivered by workers that are SIGKILLed mid-delivery.

use super::*;

/// Webhooks across processes: a server writes the events (and their deliveries, in the same
/// transactions) through PgBouncer, two workers deliver them to a slow receiver, and each worker
/// is SIGKILLed mid-delivery and restarted. Every event reaches the receiver (at least once),
/// every delivery ends `succeeded`, and second copies carry the same `webhook-id` and are bounded
/// by what the killed workers held.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_survive_workers_killed_mid_delivery() {
    use issue_tracker_testkit::{WebhookReceiver, WebhookReply};
    let shape = Shape {
        servers: 1,
        workers: 2,
        beats: 1,
        report_seconds: 3600,
        server_connections: 4,
    };
    let mut cluster = Cluster::new(
        &shape,
        &[
            ("WEBHOOK_ALLOWED_HOSTS", "localhost"),
            ("WEBHOOK_TIMEOUT", "2"),
            ("WEBHOOK_RETRY_SCHEDULE", "0.5,0.5,0.5,0.5,0.5,0.5"),
            ("WEBHOOK_POLL_INTERVAL", "0.1"),
            ("WEBHOOK_CONCURRENCY", "16"),
        ],
    )
    .await;
    cluster.user("boss", true);
    cluster.user("ann", false);
    cluster.start_processes(&shape);
    cluster.wait_until_serving().await;
    let receiver =
        WebhookReceiver::start(|_, _| WebhookReply::After(Duration::from_millis(150), 200));
    let boss = cluster.token("boss").await;
    let client = reqwest::Client::new();
    let hook: Value = client
        .post(format!("{}/api/webhooks/", cluster.base))
        .header("Authorization", format!("Token {boss}"))
        .json(&json!({"url": receiver.url("localhost", "/hook"), "events": ["*"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hook_id = hook["id"]
        .as_i64()
        .and_then(issue_tracker_domain::WebhookId::new)
        .expect("a webhook");
    let ann = cluster.token("ann").await;
    let load = drive(
        cluster.base.clone(),
        Arc::new(vec![("ann".to_owned(), ann.clone())]),
        400,
        200.0,
        8,
        Arc::new(AtomicUsize::new(0)),
    );
    let killer = async {
        let mut held = 0;
        for index in [0usize, 1] {
            tokio::time::sleep(Duration::from_millis(700)).await;
            held += cluster
                .db
                .db
                .count_deliveries()
                .unwrap()
                .iter()
                .filter(|(status, _)| status == "sending")
                .map(|(_, n)| *n)
                .sum::<i64>();
            cluster.workers[index].kill();
            tokio::time::sleep(Duration::from_millis(500)).await;
            cluster.workers[index].start();
        }
        held
    };
    let (load, held) = tokio::join!(load, killer);
    assert_eq!(
        load.acknowledged.len(),
        400,
        "{:?}",
        &load.unexpected[..load.unexpected.len().min(3)]
    );
    let db = &cluster.db.db;
    let done = eventually(Duration::from_secs(90), || {
        let counts = db.count_deliveries().unwrap();
        counts.iter().all(|(status, _)| status == "succeeded")
            && counts.iter().map(|(_, n)| n).sum::<i64>() >= 400
    })
    .await;
    assert!(
        done,
        "deliveries: {:?}; see {}",
        db.count_deliveries().unwrap(),
        cluster.dir.display()
    );
    let (log, total) = db
        .list_deliveries(hook_id, None, 0, 100_000)
        .unwrap()
        .unwrap();
    let expected: BTreeSet<String> = log.iter().map(|d| d.message_id.clone()).collect();
    assert_eq!(expected.len() as i64, total, "one delivery per event");
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for request in receiver.received() {
        *copies
            .entry(request.header("webhook-id").unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    let received: BTreeSet<String> = copies.keys().cloned().collect();
    assert_eq!(
        received, expected,
        "every event delivered, and nothing else"
    );
    let extra: usize = copies.values().map(|n| n - 1).sum();
    assert!(
        extra as i64 <= held,
        "{extra} second copies, but the killed workers held at most {held}"
    );
    eprintln!(
        "webhooks under kills: {} events, {} delivered, {extra} second copies (workers held {held} when killed)",
        expected.len(),
        received.len()
    );
}
