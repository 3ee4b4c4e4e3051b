//! Our webhook signatures checked by an independent implementation: Python's `standardwebhooks`
//! package (PyPI; `scripts/test` installs it), the reference library of the specification, over
//! bodies with quotes, newlines, non-ASCII text and emoji, and random secrets.

use std::process::Command;

use issue_tracker_domain::{new_webhook_secret, sign_webhook};

#[test]
fn the_reference_library_verifies_our_signatures() {
    let bodies = [
        r#"{"type":"issue.created","timestamp":"2026-11-27T12:00:00.000000Z","data":{}}"#
            .to_owned(),
        "{\"title\":\"say \\\"hi\\\"\\nnow\"}".to_owned(),
        "{\"title\":\"Ünïcödé 🎉 \u{202e}rtl\"}".to_owned(),
        format!("{{\"description\":\"{}\"}}", "x".repeat(70_000)),
    ];
    let mut cases = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let secret = new_webhook_secret();
        let id = format!("{}", 1_000 + i);
        // Now: the reference library also checks that a delivery is fresh.
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            - i as i64;
        let signature = sign_webhook(&secret, &id, timestamp, body).unwrap();
        cases.push(serde_json::json!({
            "secret": secret, "id": id, "timestamp": timestamp, "body": body, "signature": signature,
        }));
    }
    let script = r#"
import json, sys
from datetime import datetime, timezone
try:
    from standardwebhooks.webhooks import Webhook
except ImportError:
    sys.exit("the standardwebhooks package is missing: pip install standardwebhooks (scripts/test does)")
for case in json.load(sys.stdin):
    wh = Webhook(case["secret"])
    headers = {"webhook-id": case["id"], "webhook-timestamp": str(case["timestamp"]),
               "webhook-signature": case["signature"]}
    # Its own signature must be ours, byte for byte.
    mine = wh.sign(case["id"], datetime.fromtimestamp(case["timestamp"], tz=timezone.utc), case["body"])
    assert mine == case["signature"], (mine, case["signature"])
    # And its verification accepts it...
    wh.verify(case["body"], headers)
    # ...and refuses an altered body.
    try:
        wh.verify(case["body"] + " ", headers)
        sys.exit("an altered body was accepted")
    except Exception:
        pass
print("verified")
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 must be installed for the tests");
    use std::io::Write;
    // A write error means Python already stopped (no `standardwebhooks`, say): its stderr,
    // asserted on below, says why better than "Broken pipe" would.
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&cases).unwrap().as_bytes());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
