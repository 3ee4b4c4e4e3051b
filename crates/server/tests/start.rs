//! The server binary refuses a database whose migrations are not applied, and says what to do.

use std::process::Command;

#[test]
fn refuses_an_unmigrated_database() {
    let dir = std::env::temp_dir().join(format!("issue-tracker-server-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_issue-tracker-server"))
        .current_dir(&dir)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/fresh.sqlite3", dir.display()),
        )
        .env("BIND_ADDRESS", "127.0.0.1:0")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("issue-tracker migrate"), "{stderr}");
}

#[test]
fn help_describes_the_settings() {
    let output = Command::new(env!("CARGO_BIN_EXE_issue-tracker-server"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("DATABASE_URL"));
}
