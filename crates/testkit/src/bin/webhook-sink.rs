//! `webhook-sink`: an HTTP receiver that answers 200 to every webhook delivery, for the
//! benchmark. Prints its port, then the count of deliveries every second while it changes.

use std::time::Duration;

fn main() {
    let sink = issue_tracker_testkit::WebhookReceiver::start(|_, _| {
        issue_tracker_testkit::WebhookReply::Status(200, String::new())
    });
    println!("listening on 127.0.0.1:{}", sink.port);
    let mut last = usize::MAX;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let count = sink.received().len();
        if count != last {
            println!("received {count}");
            last = count;
        }
    }
}
