//! The two lanes on a real Redis: urgent jobs go first whatever waits in the bulk lane, a read
//! never hands out more than asked, and nothing is lost or handed out twice (what one read
//! brought beyond its count comes with the next, and a dead consumer's jobs of either lane are
//! taken over).

use std::collections::BTreeSet;
use std::time::Duration;

use issue_tracker_queue::{JobQueue, Lane, RedisQueueConfig};
use issue_tracker_testkit::RedisServer;

async fn queue(redis: &RedisServer) -> JobQueue {
    JobQueue::connect_redis(&RedisQueueConfig {
        endpoint: issue_tracker_queue::RedisEndpoint::Url(redis.url()),
        stream: "test:notifications".into(),
        group: "workers".into(),
        block: Duration::from_millis(300),
    })
    .await
    .expect("redis")
}

#[tokio::test]
async fn urgent_jobs_overtake_a_long_bulk_lane() {
    let redis = RedisServer::start();
    let queue = queue(&redis).await;
    let bulk: Vec<(i64, Lane)> = (1..=500).map(|id| (id, Lane::Bulk)).collect();
    queue.enqueue(&bulk).await.unwrap();
    let first = queue.receive("a", 10).await.unwrap();
    assert_eq!(first.len(), 10);
    queue.enqueue(&[(9001, Lane::Urgent)]).await.unwrap();
    // 490 bulk jobs wait; the urgent one is handed out first.
    let next = queue.receive("a", 10).await.unwrap();
    assert_eq!(next[0].notification_id, 9001, "{next:?}");
    assert_eq!(next.len(), 10, "topped up with bulk jobs");
    assert_eq!(
        next[1..]
            .iter()
            .map(|j| j.notification_id)
            .collect::<Vec<_>>(),
        (11..=19).collect::<Vec<_>>(),
        "the bulk lane keeps its order"
    );
}

#[tokio::test]
async fn every_job_once_and_never_more_than_asked() {
    let redis = RedisServer::start();
    let queue = queue(&redis).await;
    let reader = {
        let queue = queue.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut quiet = 0;
            while quiet < 3 {
                let jobs = queue.receive("a", 3).await.unwrap();
                assert!(jobs.len() <= 3, "asked for 3, got {}", jobs.len());
                if jobs.is_empty() {
                    quiet += 1;
                }
                for job in jobs {
                    queue.ack(&job).await.unwrap();
                    seen.push(job.notification_id);
                }
            }
            seen
        })
    };
    // Both lanes fill while the reader waits on them.
    for round in 0..20_i64 {
        let mut jobs = vec![(round * 10, Lane::Urgent)];
        jobs.extend((1..6).map(|n| (round * 10 + n, Lane::Bulk)));
        queue.enqueue(&jobs).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = reader.await.unwrap();
    let unique: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "a job handed out twice: {seen:?}");
    let expected: BTreeSet<i64> = (0..20_i64)
        .flat_map(|round| (0..6).map(move |n| round * 10 + n))
        .collect();
    assert_eq!(unique, expected);
}

#[tokio::test]
async fn a_dead_consumers_jobs_of_both_lanes_are_taken_over() {
    let redis = RedisServer::start();
    let queue = queue(&redis).await;
    queue
        .enqueue(&[(1, Lane::Bulk), (2, Lane::Urgent)])
        .await
        .unwrap();
    let held = queue.receive("dead", 10).await.unwrap();
    assert_eq!(
        held.iter().map(|j| j.notification_id).collect::<Vec<_>>(),
        [2, 1]
    );
    assert!(queue.receive("alive", 10).await.unwrap().is_empty());
    let taken = queue.reclaim("alive", Duration::ZERO, 10).await.unwrap();
    assert_eq!(
        taken.iter().map(|j| j.notification_id).collect::<Vec<_>>(),
        [2, 1],
        "urgent lane first"
    );
    for job in &taken {
        queue.ack(job).await.unwrap();
    }
    assert!(queue
        .reclaim("alive", Duration::ZERO, 10)
        .await
        .unwrap()
        .is_empty());
}
