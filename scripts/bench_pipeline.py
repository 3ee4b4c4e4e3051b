"""Notification pipeline benchmark (called by scripts/bench): emails per second from one worker
to a local SMTP server, and the time to create the reports of 10,000 users with 10 issues each.
PostgreSQL, release binaries, default settings except the database, Redis stream and SMTP port."""

import os
import socket
import statistics
import subprocess
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("BENCH_BIN", os.path.join(ROOT, "target", "release"))
ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
EMAILS = int(os.environ.get("BENCH_EMAILS", "5000"))
USERS = 10_000


def psql(url, sql):
    return subprocess.run(["psql", url, "-qAtc", sql], check=True, capture_output=True, text=True).stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database():
    name = f"bench_pipeline_{uuid.uuid4().hex[:12]}"
    psql(ADMIN_URL, f"CREATE DATABASE {name}")
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    subprocess.run([os.path.join(BIN, "issue-tracker"), "migrate"], env=dict(os.environ, DATABASE_URL=url),
                   check=True, capture_output=True)
    return name, url


def drop(name):
    psql(ADMIN_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def seed(url, users, issues_per_user):
    psql(url, f"""
        INSERT INTO users (username, email, password_hash, date_joined)
        SELECT 'user' || g, 'user' || g || '@example.com', 'x', now() FROM generate_series(1, {users}) g;
        INSERT INTO issues (created_by_id, title, description, status, assigned_to_id, created_at, updated_at)
        SELECT u.id, 'Issue ' || k || ' of ' || u.username, 'Please take care of this ticket', 'open', u.id, now(), now()
        FROM users u CROSS JOIN generate_series(1, {issues_per_user}) k;""")


def emails_per_second():
    name, url = fresh_database()
    port = free_port()
    sink = subprocess.Popen([os.path.join(BIN, "smtp-sink"), str(port)], stdout=subprocess.DEVNULL)
    try:
        seed(url, EMAILS, 1)
        # One due assignment notification per issue, as the API would have written them.
        psql(url, """
            INSERT INTO notifications (kind, recipient_id, issue_id, dedupe_key, status, send_after, attempts, created_at)
            SELECT 'assignment', assigned_to_id, id, 'bench:' || id, 'pending', now(), 0, now() FROM issues""")
        env = dict(os.environ, DATABASE_URL=url, REDIS_URL=REDIS_URL, EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(port),
                   QUEUE_STREAM=f"bench:{uuid.uuid4().hex}", RUST_LOG="warn")
        beat = subprocess.Popen([os.path.join(BIN, "issue-tracker-beat")], env=env)
        worker = subprocess.Popen([os.path.join(BIN, "issue-tracker-worker")], env=env)
        try:
            deadline = time.time() + 120
            while time.time() < deadline:
                if int(psql(url, "SELECT count(*) FROM notifications WHERE status = 'sent' AND kind = 'assignment'")) >= EMAILS:
                    break
                time.sleep(0.5)
            row = psql(url, "SELECT count(*), extract(epoch FROM max(sent_at) - min(sent_at)) FROM notifications WHERE status = 'sent' AND kind = 'assignment'")
            sent, seconds = row.split("|")
            sent, seconds = int(sent), float(seconds or 0)
        finally:
            for p in (beat, worker):
                p.terminate()
                p.wait(timeout=30)
        return sent, (sent - 1) / seconds if seconds > 0 else float("nan")
    finally:
        sink.terminate()
        drop(name)


def report_creation_seconds():
    name, url = fresh_database()
    try:
        seed(url, USERS, 10)
        out = subprocess.run([os.path.join(BIN, "issue-tracker"), "notifications", "create-reports"],
                             env=dict(os.environ, DATABASE_URL=url, RUST_LOG="warn"), check=True,
                             capture_output=True, text=True).stdout
        created = int(out.split("Created ")[1].split(" ")[0])
        seconds = float(out.split(" in ")[1].split(" s")[0])
        return created, seconds
    finally:
        drop(name)


if __name__ == "__main__":
    rates, sents = [], []
    for _ in range(RUNS):
        sent, rate = emails_per_second()
        sents.append(sent)
        rates.append(rate)
    print(f"\npipeline (PostgreSQL + Redis, one worker, default concurrency), median of {RUNS}:")
    print(f"  emails sent per run: {sents}")
    print(f"  emails/s, one worker to a local SMTP server: {statistics.median(rates):.0f}")
    runs = [report_creation_seconds() for _ in range(RUNS)]
    print(f"  reports for {USERS} users with 10 issues each: {runs[0][0]} created in "
          f"{statistics.median(r[1] for r in runs):.3f} s (one INSERT ... SELECT)")
