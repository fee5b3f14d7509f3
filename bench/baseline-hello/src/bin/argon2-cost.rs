//! Raw argon2id cost of one password check, outside any server: the same crate (argon2 0.6) and the
//! same calls as mychat's `src/modules/auth/password.rs` (`Argon2::new(Argon2id, V0x13, params)`,
//! `verify_password`), single-threaded.
//!
//! Usage: argon2-cost MEMORY_KIB ITERATIONS PARALLELISM [SECONDS]
//! Prints one line: `verifies=N total_s=T mean_ms=M p50_ms=P min_ms=L max_ms=H`.

use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u32| -> u32 {
        args.get(i)
            .map(|s| s.parse().expect("numeric argument"))
            .unwrap_or(default)
    };
    let (m, t, p) = (num(0, 19456), num(1, 2), num(2, 1));
    let budget = Duration::from_secs(u64::from(num(3, 5)));
    let params = Params::new(m, t, p, None).expect("valid argon2 parameters");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let stored = argon2
        .hash_password(b"benchpass1")
        .expect("hash")
        .to_string();

    let mut samples = Vec::new();
    let start = Instant::now();
    // Bounded in time and in count.
    while start.elapsed() < budget && samples.len() < 100_000 {
        let t0 = Instant::now();
        let ok = argon2
            .verify_password(b"benchpass1", stored.as_str())
            .is_ok();
        samples.push(t0.elapsed());
        assert!(ok, "verification must succeed");
    }
    let total = start.elapsed();
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let n = samples.len();
    println!(
        "verifies={n} total_s={:.3} mean_ms={:.3} p50_ms={:.3} min_ms={:.3} max_ms={:.3}",
        total.as_secs_f64(),
        ms(total) / n as f64,
        ms(samples[n / 2]),
        ms(samples[0]),
        ms(samples[n - 1]),
    );
}
