"""Drives the release server with wrk and prints the figures. Called by scripts/bench."""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# BENCH_BIN runs the same cases against other binaries (an older build, for a before/after).
BIN = os.environ.get("BENCH_BIN", os.path.join(ROOT, "target", "release"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
DATABASES = os.environ.get("BENCH_DATABASES", "postgres,sqlite").split(",")
ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PORT = 18555
MILLION = os.environ.get("BENCH_MILLION", "1") != "0"
LARGE = os.environ.get("BENCH_LARGE", "1") != "0"
STANDARD = os.environ.get("BENCH_STANDARD", "1") != "0"
ADMIN = os.environ.get("BENCH_ADMIN", "1") != "0"
ADMIN_ISSUES = 100_000


def seed_million(database, url, count=1_000_000, with_users=True):
    """`count` issues by 100 users (created unless `with_users` is false), straight into the
    database (the API would take minutes)."""
    users = "INSERT INTO users (username, email, password_hash, is_active, is_staff, is_superuser, date_joined) " \
            "SELECT 'u' || g, 'u' || g || '@example.com', 'x', {t}, {f}, {f}, CURRENT_TIMESTAMP FROM {series}"
    issues = "INSERT INTO issues (created_by_id, title, description, status, assigned_to_id, created_at, updated_at) " \
             "SELECT (SELECT min(id) FROM users) + (g % 100), 'Issue number ' || g, 'Generated for the benchmark', " \
             "CASE WHEN g % 3 = 0 THEN 'closed' ELSE 'open' END, " \
             "(SELECT id FROM users WHERE username = 'u' || (1 + g % 100)), CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM {series}"
    if database == "postgres":
        psql = lambda sql: subprocess.run(["psql", url, "-qc", sql], check=True)
        if with_users:
            psql(users.format(t="true", f="false", series="generate_series(1, 100) g"))
        psql(issues.format(series=f"generate_series(1, {count}) g"))
        # A database that holds this many issues has been vacuumed since they came: without it,
        # the GIN (trigram) indexes would still hold every new row in their pending list.
        psql("VACUUM ANALYZE")
    else:
        import sqlite3
        path = url[len("sqlite://"):]
        conn = sqlite3.connect(path, timeout=60)
        series = "(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n}) SELECT g FROM s)"
        if with_users:
            conn.execute(users.format(t="1", f="0", series=series.format(n=100)))
        conn.execute(issues.format(series=series.format(n=count)))
        conn.execute("ANALYZE")
        conn.commit()
        conn.close()


LARGE_ISSUES = 2_000


def seed_large(database, url):
    """LARGE_ISSUES issues with the longest description allowed (65,535 characters), assigned to
    a user of their own ('large'): `?assigned_to=large` without page/per_page is then the largest
    list a client can ask for (the POST case's issues would otherwise fill LIST_CAP first)."""
    user = "INSERT INTO users (username, email, password_hash, is_active, is_staff, is_superuser, date_joined) " \
           "VALUES ('large', 'large@example.com', 'x', {t}, {f}, {f}, CURRENT_TIMESTAMP)"
    sql = "INSERT INTO issues (created_by_id, title, description, status, assigned_to_id, created_at, updated_at) " \
          "SELECT (SELECT id FROM users WHERE username = 'bench'), 'Large ' || g, {text}, 'open', " \
          "(SELECT id FROM users WHERE username = 'large'), CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM {series}"
    if database == "postgres":
        subprocess.run(["psql", url, "-qc", user.format(t="true", f="false")], check=True)
        subprocess.run(["psql", url, "-qc", sql.format(text="repeat('x', 65535)",
                                                      series=f"generate_series(1, {LARGE_ISSUES}) g")], check=True)
    else:
        import sqlite3
        conn = sqlite3.connect(url[len("sqlite://"):], timeout=60)
        series = f"(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {LARGE_ISSUES}) SELECT g FROM s)"
        conn.execute(user.format(t="1", f="0"))
        conn.execute(sql.format(text="printf('%.65535c', 'x')", series=series))
        conn.commit()
        conn.close()


LABEL_SETS = (("bug", 10), ("ui", 7), ("rare", 1000))


def seed_labels(database, url):
    """Labels over the issues already there: `bug` on every 10th, `ui` on every 7th, `rare` on
    every 1,000th (by id)."""
    statements = [
        "INSERT INTO labels (name, name_key, color, description, created_at) VALUES " +
        ", ".join(f"('{name}', '{name}', '#ededed', '', CURRENT_TIMESTAMP)" for name, _ in LABEL_SETS)
    ] + [
        f"INSERT INTO issue_labels (issue_id, label_id) SELECT id, (SELECT id FROM labels WHERE name = '{name}') "
        f"FROM issues WHERE id % {every} = 0"
        for name, every in LABEL_SETS
    ]
    if database == "postgres":
        for sql in statements + ["VACUUM ANALYZE"]:
            subprocess.run(["psql", url, "-qc", sql], check=True)
    else:
        import sqlite3
        conn = sqlite3.connect(url[len("sqlite://"):], timeout=60)
        for sql in statements + ["ANALYZE"]:
            conn.execute(sql)
        conn.commit()
        conn.close()


def request(method, path, token=None, body=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=data, method=method, headers=headers)
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read() or b"null")


def wrk(path, token, script=None, connections=32):
    args = ["-H", f"Authorization: Token {token}"] + (["-s", script] if script else [])
    rps, p50, p99, errors = run_wrk(path, args, connections)
    if errors:
        print(f"    warning: {errors} non-2xx responses", file=sys.stderr)
    return rps, p50, p99


def run_wrk(path, extra_args, connections):
    """One wrk run on `path`: requests/s, p50 and p99 in ms, and how many non-2xx/3xx answers."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{SECONDS}s", "--latency", "--timeout", "30s"]
    args += extra_args + [f"http://127.0.0.1:{PORT}{path}"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()
        lat[pct] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, lat["50"], lat["99"], int(errors.group(1)) if errors else 0


def admin_session(username, password):
    """Logs in to the staff admin as a browser does; returns the session cookie's value."""
    import http.cookiejar
    import urllib.parse
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{PORT}"
    page = opener.open(f"{base}/admin/login/").read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrf": csrf, "username": username, "password": password, "next": "/admin/"})
    opener.open(urllib.request.Request(f"{base}/admin/login/", data=form.encode(), headers={"Origin": base}))
    return next(c.value for c in jar if c.name == "admin_session")


def wrk_admin(path, session, connections=4):
    """wrk on an admin page with a session cookie; a few staff at once, as an admin is used."""
    rps, p50, p99, errors = run_wrk(path, ["-H", f"Cookie: admin_session={session}"], connections)
    if errors:
        raise RuntimeError(f"admin page {path} answered errors (a lost session?)")
    return rps, p50, p99


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench(database):
    workdir = tempfile.mkdtemp(prefix="issue-tracker-bench-")
    # Default settings, with the rate limits raised (not switched off) so that wrk is not throttled.
    env = dict(os.environ, BIND_ADDRESS=f"127.0.0.1:{PORT}", RUST_LOG=os.environ.get("RUST_LOG", "info"),
               RATE_LIMIT_PER_TOKEN="1000000000", RATE_LIMIT_PER_ADDRESS="1000000000")
    dbname = f"bench_{os.getpid()}"
    if database == "postgres":
        server = ADMIN_URL.rsplit("/", 1)[0]
        subprocess.run(["psql", ADMIN_URL, "-qc", f"CREATE DATABASE {dbname}"], check=True)
        env["DATABASE_URL"] = f"{server}/{dbname}"
    else:
        env["DATABASE_URL"] = f"sqlite://{workdir}/bench.sqlite3"
    cli = os.path.join(BIN, "issue-tracker")
    subprocess.run([cli, "migrate"], env=env, check=True, capture_output=True, cwd=workdir)
    for name in ("bench", "other"):
        subprocess.run([cli, "createuser", "--username", name, "--email", f"{name}@example.com", "--password-stdin"],
                       env=env, check=True, input=b"bench password\n", capture_output=True, cwd=workdir)
    log = open(os.path.join(workdir, "server.log"), "w")
    proc = subprocess.Popen([os.path.join(BIN, "issue-tracker-server")], env=env, cwd=workdir, stdout=log, stderr=log)
    try:
        for _ in range(100):
            try:
                request("GET", "/api/issue/")
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.1)
        token = request("POST", "/api/user/get_auth_token/", body={"username": "bench", "password": "bench password"})["token"]
        ids = [request("POST", "/api/issue/", token, {"title": f"Issue {i}", "description": "Please take care of this ticket " * 3,
                                                     "status": "open", "assigned_to": "other"})["id"] for i in range(100)]
        post_script = os.path.join(workdir, "post.lua")
        with open(post_script, "w") as f:
            f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                    'wrk.body = \'{"title":"Load test","description":"Created by wrk","status":"open","assigned_to":"other"}\'\n')
        cases = [("GET one issue", f"/api/issue/{ids[50]}/", None),
                 ("GET list of 100", "/api/issue/", None),
                 ("POST an issue", "/api/issue/", post_script)]
        results = []
        if not STANDARD:
            cases = []
        for label, path, script in cases:
            runs = [wrk(path, token, script) for _ in range(RUNS)]
            if script is None and label.startswith("GET list"):
                assert len(request("GET", path, token)) == 100
            median = lambda i: statistics.median(r[i] for r in runs)
            results.append((label, median(0), median(1), median(2)))
        rss_standard = peak_rss_mb(proc.pid)
        large = None
        if LARGE:
            # Four clients fetching the largest unpaged list there can be, at once.
            seed_large(database, env["DATABASE_URL"])
            first = request("GET", "/api/issue/?assigned_to=large", token)
            print(f"  ({database}: the largest list answers {len(first)} issues)", file=sys.stderr)
            rps, p50, p99 = wrk("/api/issue/?assigned_to=large", token, connections=4)
            large = (rps, p50, p99, peak_rss_mb(proc.pid))
        admin = []
        if ADMIN:
            # The staff admin with 100,000 issues: a page with its total, a search, the dashboard.
            subprocess.run([cli, "createuser", "--staff", "--username", "staff", "--email", "s@example.com",
                            "--password-stdin"], env=env, check=True, input=b"staff password\n",
                           capture_output=True, cwd=workdir)
            seed_million(database, env["DATABASE_URL"], count=ADMIN_ISSUES)
            session = admin_session("staff", "staff password")
            for label, path in (("issue list, page 50 with its total", "/admin/issues/?page=50"),
                                ("issue search, filtered, sorted", "/admin/issues/?q=number+77&status=open&order=-updated_at"),
                                ("dashboard", "/admin/")):
                runs = [wrk_admin(path, session) for _ in range(RUNS)]
                median = lambda i: statistics.median(r[i] for r in runs)
                admin.append((label, median(0), median(1), median(2)))
        if MILLION:
            seed_million(database, env["DATABASE_URL"], count=1_000_000 - (ADMIN_ISSUES if ADMIN else 0),
                         with_users=not ADMIN)
            path = "/api/issue/?status=open&assigned_to=u7&per_page=20&page=5&ordering=-id"
            page = request("GET", path, token)
            assert len(page) == 20, len(page)
            runs = [wrk(path, token) for _ in range(RUNS)]
            median = lambda i: statistics.median(r[i] for r in runs)
            results.append(("GET filtered page of 20, 1M issues", median(0), median(1), median(2)))
            # The label filter over the same million issues.
            seed_labels(database, env["DATABASE_URL"])
            for label, path in (("?label=bug (100,000 issues), page 5", "/api/issue/?label=bug&per_page=20&page=5"),
                                ("?label=bug&label=ui (14,285), page 1", "/api/issue/?label=bug&label=ui&per_page=20"),
                                ("?label=rare&status=open, newest", "/api/issue/?label=rare&status=open&per_page=20&ordering=-id")):
                page = request("GET", path, token)
                assert len(page) == 20 and all(set(l for l, _ in LABEL_SETS) & set(i["labels"]) for i in page), page[:1]
                runs = [wrk(path, token) for _ in range(RUNS)]
                median = lambda i: statistics.median(r[i] for r in runs)
                results.append((f"1M, {label}", median(0), median(1), median(2)))
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        if database == "postgres":
            subprocess.run(["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"], check=False)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{database}: {RUNS} run(s) of {SECONDS}s each, wrk -t2 -c32, median shown")
    print(f"  {'case':<36} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for label, rps, p50, p99 in results:
        print(f"  {label:<36} {rps:>10.0f} {p50:>8.2f} {p99:>8.2f}")
    if admin:
        print(f"  staff admin, {ADMIN_ISSUES:,} issues, wrk -t2 -c4 (a few staff at once):")
        for label, rps, p50, p99 in admin:
            print(f"    {label:<42} {rps:>8.0f} req/s  p50 {p50:>6.2f} ms  p99 {p99:>6.2f} ms")
    if large:
        rps, p50, p99, peak = large
        print(f"  largest unpaged list ({LARGE_ISSUES} issues of 65,535 characters), 4 clients, one run: "
              f"{rps:.1f} req/s, p50 {p50:.0f} ms, p99 {p99:.0f} ms, server peak RSS {peak:.1f} MB")
    print(f"  server peak RSS: {rss_standard:.1f} MB over the three standard cases, {rss:.1f} MB at the end")


if __name__ == "__main__":
    for db in DATABASES:
        bench(db.strip())
