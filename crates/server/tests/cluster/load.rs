//! The client of these tests: posts assigned issues at a rate, over fresh connections, and keeps
//! what each request came to.

use super::*;

/// What the client saw.
#[derive(Default)]
pub(crate) struct Load {
    /// Ids of the issues answered with 201.
    pub(crate) acknowledged: Vec<i64>,
    /// Requests whose answer was lost after they were sent (the write may or may not exist).
    pub(crate) ambiguous: usize,
    /// Requests refused before anything was written (connection refused, 503), then retried.
    pub(crate) retried: usize,
    /// Any other answer: status and body.
    pub(crate) unexpected: Vec<(u16, String)>,
    /// Milliseconds per acknowledged request.
    pub(crate) latencies: Vec<f64>,
}

/// One request's fate.
enum Outcome {
    Created(i64),
    /// Refused before anything was written: retried.
    Refused,
    Unexpected(u16, String),
    /// The answer was lost after the request was sent.
    Lost,
}

/// Posts `count` assigned issues at `rate` per second from `concurrency` tasks, each request on a
/// fresh connection (spread over the servers). A request refused before it was sent is retried.
pub(crate) async fn drive(
    base: String,
    tokens: Arc<Vec<(String, String)>>,
    count: usize,
    rate: f64,
    concurrency: usize,
    done: Arc<AtomicUsize>,
) -> Load {
    let next = Arc::new(AtomicUsize::new(0));
    let load = Arc::new(Mutex::new(Load::default()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (base, tokens, next, load, done) = (
            base.clone(),
            tokens.clone(),
            next.clone(),
            load.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let client = fresh_connections();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= count {
                    break;
                }
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                let (_, token) = &tokens[i % tokens.len()];
                let (assignee, _) = &tokens[(i * 7 + 3) % tokens.len()];
                let body = json!({"title": format!("assignment {i}"), "description": "load",
                    "status": "open", "assigned_to": assignee});
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    let sent = Instant::now();
                    let result = client
                        .post(format!("{base}/api/issue/"))
                        .header("Authorization", format!("Token {token}"))
                        .json(&body)
                        .send()
                        .await;
                    let outcome = match result {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let text = response.text().await.unwrap_or_default();
                            if status == 201 {
                                let id = serde_json::from_str::<Value>(&text).unwrap()["id"]
                                    .as_i64()
                                    .unwrap();
                                Outcome::Created(id)
                            } else if status == 503 && attempts < 100 {
                                Outcome::Refused
                            } else {
                                Outcome::Unexpected(status, text)
                            }
                        }
                        Err(error) if error.is_connect() && attempts < 100 => Outcome::Refused,
                        Err(_) => Outcome::Lost,
                    };
                    let elapsed = sent.elapsed().as_secs_f64() * 1_000.0;
                    let retry = matches!(outcome, Outcome::Refused);
                    {
                        let mut load = load.lock().unwrap();
                        match outcome {
                            Outcome::Created(id) => {
                                load.acknowledged.push(id);
                                load.latencies.push(elapsed);
                            }
                            Outcome::Refused => load.retried += 1,
                            Outcome::Unexpected(status, text) => {
                                load.unexpected.push((status, text))
                            }
                            Outcome::Lost => load.ambiguous += 1,
                        }
                    }
                    if retry {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                    break;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    Arc::try_unwrap(load)
        .ok()
        .expect("every task finished")
        .into_inner()
        .unwrap()
}

/// The p-th percentile of `values` (sorted here).
pub(crate) fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    values[((values.len() - 1) as f64 * p / 100.0).round() as usize]
}
