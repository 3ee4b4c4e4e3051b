//! `smtp-sink PORT`: an SMTP server that accepts every message and counts them, for the benchmark.
//! Prints the count every second while it changes.

use std::time::Duration;

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("usage: smtp-sink PORT");
    let server = issue_tracker_testkit::SmtpServer::start_on(port).await;
    println!("listening on 127.0.0.1:{port}");
    let mut last = usize::MAX;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let count = server.received().len();
        if count != last {
            println!("received {count}");
            last = count;
        }
    }
}
