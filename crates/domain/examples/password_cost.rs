//! What one login costs against each kind of imported Django hash, at Django's own parameters
//! (PBKDF2-SHA256 at Django 1.11's 36,000 and Django 5.2's 1,000,000 iterations; Argon2id at
//! Django's m=102400 KiB, t=2, p=8; bcrypt_sha256 at cost 12), next to our bcrypt at cost 12.
//! Run with `cargo run --release -p issue-tracker-domain --example password_cost`; prints the
//! median of five checks of each, in milliseconds of one core.

use std::time::Instant;

use argon2::password_hash::{PasswordHasher, SaltString};
use base64::Engine;
use issue_tracker_domain::{check_password, PasswordCheck};

fn pbkdf2(iterations: u32) -> String {
    let mut derived = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"password-1", b"somesalt", iterations, &mut derived);
    let hash = base64::engine::general_purpose::STANDARD.encode(derived);
    format!("pbkdf2_sha256${iterations}$somesalt${hash}")
}

fn argon2_django() -> String {
    let params = argon2::Params::new(102_400, 2, 8, None).unwrap();
    let hasher = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"somesalt1234").unwrap();
    let phc = hasher
        .hash_password(b"password-1", &salt)
        .unwrap()
        .to_string();
    format!("argon2{phc}")
}

fn bcrypt_sha256() -> String {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(b"password-1"));
    format!("bcrypt_sha256${}", bcrypt::hash(digest, 12).unwrap())
}

fn median_ms(stored: &str) -> f64 {
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            assert_ne!(check_password(stored, "password-1"), PasswordCheck::Wrong);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[2]
}

fn main() {
    for (name, stored) in [
        ("pbkdf2_sha256, 36,000 iterations", pbkdf2(36_000)),
        ("pbkdf2_sha256, 1,000,000 iterations", pbkdf2(1_000_000)),
        ("argon2id, m=102400 t=2 p=8", argon2_django()),
        ("bcrypt_sha256, cost 12", bcrypt_sha256()),
        (
            "bcrypt (ours), cost 12",
            bcrypt::hash("password-1", 12).unwrap(),
        ),
    ] {
        println!("{name:<40} {:>8.1} ms", median_ms(&stored));
    }
}
