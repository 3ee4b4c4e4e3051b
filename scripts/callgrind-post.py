#!/usr/bin/env python3
"""Server instructions per POST, counted with valgrind's callgrind (stable on a noisy machine).

Usage: scripts/callgrind-post.py BIN_DIR [BIN_DIR ...]   (e.g. target/release and an older build)
For each build: a fresh PostgreSQL database, the release server under callgrind, 100 and then 600
sequential POSTs; the difference of the two totals divided by 500 is printed. Needs valgrind,
psql and TEST_DATABASE_URL's server (postgres://postgres@127.0.0.1:5432/postgres by default).
"""
import json, os, subprocess, sys, time, urllib.request, signal
ADMIN=os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
def req(port, method, path, token=None, body=None):
    h={"Content-Type":"application/json"}
    if token: h["Authorization"]=f"Token {token}"
    r=urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode() if body is not None else None, method=method, headers=h)
    with urllib.request.urlopen(r) as resp: return json.loads(resp.read() or b"null")
def total(path):
    for line in open(path):
        if line.startswith("totals:") or line.startswith("summary:"):
            return int(line.split()[1])
results={}
builds=[(f"build{i}", os.path.abspath(d)) for i, d in enumerate(sys.argv[1:])]
for ver, bindir in builds:
    db=f"cg_{ver}_{os.getpid()}"
    subprocess.run(["psql",ADMIN,"-qc",f"CREATE DATABASE {db}"],check=True)
    env=dict(os.environ, DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{db}", RUST_LOG="warn", HTTP_WORKERS="1", DATABASE_POOL_SIZE="2", RATE_LIMIT_PER_TOKEN="1000000000")
    subprocess.run([f"{bindir}/issue-tracker","migrate"],env=env,check=True,capture_output=True)
    for n in ("bench","other"):
        subprocess.run([f"{bindir}/issue-tracker","createuser","--username",n,"--email",f"{n}@x.com","--password-stdin"],env=env,input=b"bench password\n",check=True,capture_output=True)
    for N in (100, 600):
        port=18900+N+builds.index((ver, bindir))
        env["BIND_ADDRESS"]=f"127.0.0.1:{port}"
        out=f"/tmp/callgrind.{os.getpid()}.{ver}.{N}"
        p=subprocess.Popen(["valgrind","--tool=callgrind",f"--callgrind-out-file={out}",f"{bindir}/issue-tracker-server"],env=env,stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
        for _ in range(600):
            try: req(port,"GET","/health"); break
            except Exception: time.sleep(0.2)
        tok=req(port,"POST","/api/user/get_auth_token/",body={"username":"bench","password":"bench password"})["token"]
        for i in range(N):
            req(port,"POST","/api/issue/",tok,{"title":"Load test","description":"Created by wrk","status":"open","assigned_to":"other"})
        p.send_signal(signal.SIGTERM); p.wait(timeout=120)
        results[(ver,N)]=total(out)
        print(ver,N,results[(ver,N)],flush=True)
    subprocess.run(["psql",ADMIN,"-qc",f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"])
for ver, bindir in builds:
    print(bindir, "instructions per POST:", (results[(ver,600)]-results[(ver,100)])/500)
