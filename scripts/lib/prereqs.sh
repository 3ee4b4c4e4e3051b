# Shared by scripts/test, scripts/bench and .ci/run: make sure what the build and the tests need
# is installed and running, or stop loudly. Never skips a test because a service is missing.

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $* (install it yourself, see README)"; fi
}

apt_updated=""
apt_install() {
  command -v apt-get >/dev/null || die "missing $* and no apt-get here: install $* (see README)"
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq >/dev/null; apt_updated=1; fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# A C compiler and libpq's headers (diesel's PostgreSQL backend links libpq; SQLite is bundled).
ensure_build_prereqs() {
  command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (see README)"
  command -v cc >/dev/null || apt_install gcc libc6-dev
  if ! { [ -f /usr/include/postgresql/libpq-fe.h ] || pg_config --includedir >/dev/null 2>&1; }; then
    apt_install libpq-dev
  fi
  command -v pkg-config >/dev/null || apt_install pkg-config
}

# PostgreSQL on 127.0.0.1:5432 with trust auth for the tests (TEST_DATABASE_URL overrides).
ensure_postgres() {
  export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  if ! command -v pg_isready >/dev/null; then apt_install postgresql postgresql-client; fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "PostgreSQL is down; starting it"
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
      for version in $(ls /etc/postgresql); do
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
      done
    fi
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started"
  psql "$TEST_DATABASE_URL" -qAtc 'SELECT 1' >/dev/null 2>&1 \
    || die "cannot connect to $TEST_DATABASE_URL (the tests need a role that may CREATE DATABASE)"
}

# What the failover tests start on their own (crates/server/tests/failover.rs): PostgreSQL's server
# binaries (initdb, pg_ctl, pg_basebackup, run as the postgres user when the tests run as root)
# and redis-server in Sentinel mode.
ensure_failover_parts() {
  ls /usr/lib/postgresql/*/bin/pg_basebackup >/dev/null 2>&1 || apt_install postgresql
  ls /usr/lib/postgresql/*/bin/pg_basebackup >/dev/null 2>&1 \
    || die "PostgreSQL's server binaries (initdb, pg_ctl, pg_basebackup) are missing (apt-get install postgresql)"
  if [ "$(id -u)" = 0 ]; then
    command -v runuser >/dev/null || apt_install util-linux
    id postgres >/dev/null 2>&1 || die "the tests run as root and need a postgres user to run PostgreSQL as"
  fi
  command -v redis-server >/dev/null || apt_install redis-server
  command -v redis-cli >/dev/null || apt_install redis-tools
}

# Redis on 127.0.0.1:6379 (the job queue and the shared rate limits).
ensure_redis() {
  export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
  if ! command -v redis-server >/dev/null; then apt_install redis-server; fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "Redis is down; starting it"
    mkdir -p /tmp/issue-tracker-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp/issue-tracker-redis --logfile /tmp/issue-tracker-redis/redis.log
    for _ in $(seq 1 20); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
  fi
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || die "Redis is not reachable on 127.0.0.1:6379 and could not be started"
}

# libfaketime: the clock-skew test runs a worker and a beat whose clocks are 30 s ahead.
ensure_faketime() {
  command -v faketime >/dev/null || apt_install faketime
  command -v faketime >/dev/null || die "faketime is not installed and could not be installed (apt-get install faketime)"
}

# PgBouncer (Debian's): the tests run the notification path and the multi-process test through a
# private one in transaction pooling mode (crates/testkit/src/pgbouncer.rs).
ensure_pgbouncer() {
  export PATH="$PATH:/usr/sbin"
  command -v pgbouncer >/dev/null || apt_install pgbouncer
  # iproute2's ip: the multi-process test gives one server a network namespace of its own.
  command -v ip >/dev/null || apt_install iproute2
  command -v pgbouncer >/dev/null || die "pgbouncer is not installed and could not be installed (apt-get install pgbouncer)"
}

# Python's standardwebhooks (PyPI), the specification's reference library: a test checks our
# webhook signatures with it.
# Real Django and Django REST Framework build the original's databases that
# `issue-tracker import-django` is tested on (scripts/django-source/make_source.py), with the hashers
# a long-lived deployment holds (Argon2, bcrypt) and PostgreSQL's driver.
ensure_django() {
  local check='import django, rest_framework, argon2, bcrypt, psycopg2; assert django.VERSION[:2] == (4, 2)'
  python3 -c "$check" 2>/dev/null && return 0
  log "installing Django 4.2 LTS, Django REST Framework, argon2-cffi, bcrypt, psycopg2 (PyPI)"
  python3 -m pip install -q "django>=4.2,<4.3" "djangorestframework>=3.14,<3.18" argon2-cffi bcrypt \
    psycopg2-binary >/dev/null 2>&1 || true
  python3 -c "$check" 2>/dev/null \
    || die "Django 4.2 and Django REST Framework are missing and could not be installed (pip install 'django>=4.2,<4.3' djangorestframework argon2-cffi bcrypt psycopg2-binary)"
}

ensure_standardwebhooks() {
  python3 -c 'import standardwebhooks' 2>/dev/null && return 0
  log "installing standardwebhooks (PyPI)"
  python3 -m pip install -q standardwebhooks >/dev/null 2>&1 || true
  python3 -c 'import standardwebhooks' 2>/dev/null \
    || die "the Python package standardwebhooks is missing and could not be installed (pip install standardwebhooks)"
}
