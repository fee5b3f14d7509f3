//! The cost of encryption at rest per chat message: seals and opens 100,000 messages with the chat
//! keyring (AES-256-GCM, a random nonce each, `(session_id, seq)` as associated data) and prints
//! nanoseconds per message. `bench/ws.sh` runs it (release build) and puts the line in its report.
//!
//!   cargo run --release --example chat_crypto_cost [messages]

use std::hint::black_box;
use std::time::Instant;

use mychat::modules::chat::crypto::{Keyring, message_ad};

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let keys = Keyring::from_keys(1, &[(1, [42u8; 32])])?;
    // A typical chat line (about 60 bytes of UTF-8) and a long one (the 5,000-character limit).
    for (label, text) in [
        (
            "short",
            "你好，我最近总是睡不好，想和您聊聊工作上的压力。".to_owned(),
        ),
        ("5000 chars", "情".repeat(5000)),
    ] {
        let start = Instant::now();
        let mut sealed = Vec::with_capacity(n);
        for i in 0..n {
            let seq = i as i64 + 1;
            sealed.push(keys.seal(text.as_bytes(), &message_ad(7, seq))?.text);
        }
        let seal_ns = start.elapsed().as_nanos() as f64 / n as f64;
        let start = Instant::now();
        for (i, s) in sealed.iter().enumerate() {
            let seq = i as i64 + 1;
            black_box(keys.open_text(1, s, &message_ad(7, seq))?);
        }
        let open_ns = start.elapsed().as_nanos() as f64 / n as f64;
        println!(
            "CRYPTO {{\"message\":\"{label}\",\"bytes\":{},\"stored_bytes\":{},\"messages\":{n},\"seal_ns\":{seal_ns:.0},\"open_ns\":{open_ns:.0}}}",
            text.len(),
            sealed[0].len()
        );
    }
    Ok(())
}
