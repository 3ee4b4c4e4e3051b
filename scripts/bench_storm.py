"""Notification storm benchmark (called by scripts/bench): one issue watched by STORM_WATCHERS
users (default 5,000), a comment on it every second for STORM_SECONDS (default 30), and an
assignment made every 5 seconds meanwhile. Prints the time each comment took (its transaction
writes an inbox entry and joins an email for every watcher), the watchers' emails per second, and
how long each assignment email waited past its due time while the storm's emails went out.
PostgreSQL, Redis, release binaries, one server, one worker, one beat, a local SMTP sink; default
settings except NOTIFY_DEBOUNCE=5 and ASSIGN_REPORT_SCHEDULE=0 (so that a run takes a minute, not
three)."""

import json
import os
import statistics
import subprocess
import time
import urllib.request
import uuid

from bench_pipeline import ADMIN_URL, BIN, REDIS_URL, drop, free_port, fresh_database, psql

WATCHERS = int(os.environ.get("STORM_WATCHERS", "5000"))
SECONDS = int(os.environ.get("STORM_SECONDS", "30"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def call(base, method, path, token=None, body=None):
    request = urllib.request.Request(base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read() or b"null")


def storm():
    name, url = fresh_database()
    port, http = free_port(), free_port()
    sink = subprocess.Popen([os.path.join(BIN, "smtp-sink"), str(port)], stdout=subprocess.DEVNULL)
    env = dict(os.environ, DATABASE_URL=url, REDIS_URL=REDIS_URL, EMAIL_HOST="127.0.0.1",
               EMAIL_PORT=str(port), QUEUE_STREAM=f"bench:{uuid.uuid4().hex}", RUST_LOG="warn",
               BIND_ADDRESS=f"127.0.0.1:{http}", NOTIFY_DEBOUNCE="5", ASSIGN_REPORT_SCHEDULE="0",
               BCRYPT_COST="4")
    procs = []
    try:
        for who in ["ann", "bob", "carl"]:
            subprocess.run([os.path.join(BIN, "issue-tracker"), "createuser", "--username", who,
                            "--email", f"{who}@example.com", "--password-stdin"],
                           input=f"pw-{who}\n", text=True, env=env, check=True, capture_output=True)
        psql(url, f"""
            INSERT INTO users (username, email, password_hash, date_joined)
            SELECT 'watcher' || g, 'watcher' || g || '@example.com', 'x', now()
            FROM generate_series(1, {WATCHERS}) g""")
        procs = [subprocess.Popen([os.path.join(BIN, b)], env=env) for b in
                 ("issue-tracker-server", "issue-tracker-worker", "issue-tracker-beat")]
        base = f"http://127.0.0.1:{http}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        token = {who: call(base, "POST", "/api/user/get_auth_token/", body={"username": who, "password": f"pw-{who}"})["token"]
                 for who in ["ann", "carl"]}
        issue = call(base, "POST", "/api/issue/", token["ann"],
                     {"title": "The storm", "description": "d", "status": "open", "assigned_to": "ann"})["id"]
        psql(url, f"""
            INSERT INTO issue_subscriptions (issue_id, user_id, subscribed, updated_at)
            SELECT {issue}, id, true, now() FROM users WHERE username LIKE 'watcher%'""")
        took = []
        start = time.time()
        for second in range(SECONDS):
            began = time.time()
            call(base, "POST", f"/api/issue/{issue}/comments/", token["carl"], {"body": f"comment {second}"})
            took.append(time.time() - began)
            if second % 5 == 0:
                call(base, "POST", "/api/issue/", token["ann"],
                     {"title": f"urgent {second}", "description": "d", "status": "open", "assigned_to": "bob"})
            time.sleep(max(0.0, start + second + 1 - time.time()))
        deadline = time.time() + 180
        while time.time() < deadline:
            left = int(psql(url, "SELECT count(*) FROM notifications WHERE status IN ('pending', 'sending')"))
            if left == 0:
                break
            time.sleep(1)
        sent, seconds = psql(url, """SELECT count(*), extract(epoch FROM max(sent_at) - min(sent_at))
            FROM notifications WHERE kind = 'activity' AND status = 'sent'""").split("|")
        waits = [float(w) for w in psql(url, """SELECT extract(epoch FROM sent_at - send_after)
            FROM notifications WHERE kind = 'assignment' AND status = 'sent' AND recipient_id =
            (SELECT id FROM users WHERE username = 'bob')""").split()]
        rate = (int(sent) - 1) / float(seconds) if seconds and float(seconds) > 0 else float("nan")
        return took, int(sent), rate, waits, left
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
        sink.terminate()
        drop(name)


if __name__ == "__main__":
    results = [storm() for _ in range(RUNS)]
    print(f"\nstorm: one issue, {WATCHERS} watchers, a comment a second for {SECONDS} s (median of {RUNS}):")
    print(f"  comment POST, median / worst: {statistics.median(statistics.median(r[0]) for r in results):.3f} s / "
          f"{max(max(r[0]) for r in results):.3f} s")
    print(f"  watchers' emails sent per run: {[r[1] for r in results]} (left unsent: {[r[4] for r in results]})")
    print(f"  watchers' emails/s, one worker: {statistics.median(r[2] for r in results):.0f}")
    print(f"  assignment email past its due time during the storm, median / worst: "
          f"{statistics.median(w for r in results for w in r[3]):.2f} s / {max(w for r in results for w in r[3]):.2f} s")
