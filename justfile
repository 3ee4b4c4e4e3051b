# Recipes named after what an admin or developer does. `just --list` shows them.
# CI does not need `just`: .ci/run calls the same scripts.

# Serve the API on the embedded default (SQLite under ./data/), migrating it if needed.
run:
    cargo run --release --bin issue-tracker -- run

# The whole test suite (starts PostgreSQL if it is down).
test *ARGS:
    ./scripts/test {{ARGS}}

# Apply database migrations (DATABASE_URL selects the database).
migrate:
    cargo run --release --bin issue-tracker -- migrate

# Create a superuser interactively.
createsuperuser:
    cargo run --release --bin issue-tracker -- createsuperuser

# Format, lint and check the layering, as CI does.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    ./scripts/check-layers

# Build release binaries and measure throughput, latency and memory on both databases.
bench:
    ./scripts/bench

# Everything CI runs.
ci:
    bash .ci/run
