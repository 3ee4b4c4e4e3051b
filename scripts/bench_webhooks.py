"""Webhook deliveries per second from one worker to a local receiver (scripts/bench-webhooks).

For each database: N events with one delivery each are written straight into the database (the
API would be the bottleneck, not delivery), one release worker is started with default settings
(the receiver's host allowed), and the time until every delivery has succeeded is measured.
Median of BENCH_RUNS runs."""

import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("BENCH_BIN", os.path.join(ROOT, "target", "release"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
EVENTS = int(os.environ.get("BENCH_WEBHOOK_EVENTS", "20000"))
DATABASES = os.environ.get("BENCH_DATABASES", "postgres,sqlite").split(",")
ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def sql_runner(database, url):
    if database == "postgres":
        return lambda sql: subprocess.run(["psql", url, "-qAtc", sql], check=True, capture_output=True,
                                          text=True).stdout.strip()
    import sqlite3
    path = url[len("sqlite://"):]

    def run(sql):
        conn = sqlite3.connect(path, timeout=60)
        rows = conn.execute(sql).fetchall()
        conn.commit()
        conn.close()
        return "\n".join("|".join(str(c) for c in row) for row in rows)
    return run


def one_run(database, sink_port):
    workdir = tempfile.mkdtemp(prefix="bench-webhooks-")
    dbname = f"bench_webhooks_{os.getpid()}"
    env = dict(os.environ, RUST_LOG="warn", WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
               ASSIGN_REPORT_SCHEDULE="100000")
    if database == "postgres":
        subprocess.run(["psql", ADMIN_URL, "-qc", f"CREATE DATABASE {dbname}"], check=True)
        env["DATABASE_URL"] = ADMIN_URL.rsplit("/", 1)[0] + f"/{dbname}"
    else:
        env["DATABASE_URL"] = f"sqlite://{workdir}/bench.sqlite3"
    try:
        subprocess.run([os.path.join(BIN, "issue-tracker"), "migrate"], env=env, check=True,
                       capture_output=True, cwd=workdir)
        run = sql_runner(database, env["DATABASE_URL"])
        now = "CURRENT_TIMESTAMP"
        series = (f"generate_series(1, {EVENTS}) g" if database == "postgres" else
                  f"(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {EVENTS}) SELECT g FROM s)")
        run("INSERT INTO webhooks (url, events, active, secret, created_at) VALUES "
            f"('http://127.0.0.1:{sink_port}/hook', '[\"*\"]', {'true' if database == 'postgres' else 1}, "
            f"'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', {now})")
        run("INSERT INTO events (kind, created_at, via, changes) SELECT 'issue.updated', "
            f"{now}, 'cli', '[{{\"field\":\"status\",\"old\":\"open\",\"new\":\"closed\"}}]' FROM {series}")
        run("INSERT INTO webhook_deliveries (webhook_id, event_id, status, attempts, next_attempt_at, created_at) "
            f"SELECT (SELECT min(id) FROM webhooks), id, 'pending', 0, {now}, {now} FROM events "
            "WHERE kind = 'issue.updated'")
        worker = subprocess.Popen([os.path.join(BIN, "issue-tracker-worker")], env=env, cwd=workdir,
                                  stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "worker.log"), "w"))
        started = time.monotonic()
        first = None
        try:
            while True:
                done = int(run("SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'") or 0)
                # Timed from the first delivery (the worker's start-up is not delivery).
                if done and first is None:
                    first = (time.monotonic(), done)
                if done >= EVENTS:
                    break
                if time.monotonic() - started > 600:
                    sys.exit(f"only {done} of {EVENTS} delivered in 10 minutes")
                time.sleep(0.2)
            elapsed = time.monotonic() - first[0]
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        failed = int(run("SELECT count(*) FROM webhook_deliveries WHERE status <> 'succeeded'") or 0)
        assert failed == 0, failed
        return (EVENTS - first[1]) / elapsed
    finally:
        if database == "postgres":
            subprocess.run(["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"], check=False)


def main():
    sink = subprocess.Popen([os.path.join(BIN, "webhook-sink")], stdout=subprocess.PIPE, text=True)
    port = int(sink.stdout.readline().strip().rsplit(":", 1)[1])
    try:
        for database in DATABASES:
            rates = [one_run(database.strip(), port) for _ in range(RUNS)]
            print(f"{database}: {EVENTS} webhook deliveries, one worker (WEBHOOK_CONCURRENCY default), "
                  f"median of {RUNS}: {statistics.median(rates):,.0f} deliveries/s "
                  f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})")
    finally:
        sink.kill()


if __name__ == "__main__":
    main()
