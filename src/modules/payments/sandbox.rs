//! The sandbox gateway for development: without merchant keys, wechat/alipay payments get a checkout
//! page on our own server whose "pay" button fires a callback signed with HMAC-SHA256 under a local
//! secret. That callback goes through the same verification-then-apply-once path as the real ones.
//!
//! Paying needs proof: the checkout link carries a [`PayToken`] (HMAC under the same secret) bound to
//! the payment's number and amount and expiring with the payment; the pay endpoint refuses without it,
//! and once the payment is settled the token is spent. Only whoever created the payment got the link.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::crypto;
use crate::config::Settings;

/// The secret from `payments.sandbox_secret`, or generated once into `<data_dir>/payment_sandbox.key`.
pub fn secret(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    let configured = settings.payments.sandbox_secret.trim();
    if !configured.is_empty() {
        return Ok(configured.as_bytes().to_vec());
    }
    let path = settings.server.data_dir.join("payment_sandbox.key");
    load_or_create(&path)
}

fn load_or_create(path: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let text = text.trim();
        if text.len() >= 32 {
            return Ok(text.as_bytes().to_vec());
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let secret = crypto::nonce(48);
    std::fs::write(path, &secret).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(secret.into_bytes())
}

/// What the sandbox gateway reports, as the provider would.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxNotification {
    pub payment_no: String,
    pub transaction_id: String,
    /// Fen.
    pub amount: i64,
    pub timestamp: i64,
    /// hex HMAC-SHA256 of [`SandboxNotification::signing_content`].
    #[serde(default)]
    pub signature: String,
}

impl SandboxNotification {
    pub fn signing_content(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n",
            self.payment_no, self.transaction_id, self.amount, self.timestamp
        )
    }

    /// A notification for a payment, signed with `secret`.
    pub fn signed(secret: &[u8], payment_no: &str, amount: i64) -> Self {
        let mut n = Self {
            payment_no: payment_no.to_owned(),
            transaction_id: format!("SBX{}", crypto::nonce(24)),
            amount,
            timestamp: chrono::Utc::now().timestamp(),
            signature: String::new(),
        };
        n.signature = crypto::hmac_hex(secret, n.signing_content().as_bytes());
        n
    }

    /// Signature and freshness (the same five minutes as WeChat).
    pub fn verify(&self, secret: &[u8], now: i64) -> bool {
        crypto::hmac_verify(secret, self.signing_content().as_bytes(), &self.signature)
            && (now - self.timestamp).abs() <= super::wechat::MAX_CLOCK_SKEW_SECS
    }
}

/// The proof a checkout link carries: `<expires unix secs>.<hex HMAC>` over the payment's number, amount
/// and the expiry.
pub struct PayToken;

impl PayToken {
    fn content(payment_no: &str, amount: i64, expires: i64) -> String {
        format!("sandbox-pay\n{payment_no}\n{amount}\n{expires}\n")
    }

    pub fn issue(secret: &[u8], payment_no: &str, amount: i64, expires: i64) -> String {
        let mac = crypto::hmac_hex(
            secret,
            Self::content(payment_no, amount, expires).as_bytes(),
        );
        format!("{expires}.{mac}")
    }

    /// Whether `token` was issued for this payment and has not expired at `now`.
    pub fn verify(secret: &[u8], payment_no: &str, amount: i64, token: &str, now: i64) -> bool {
        let Some((expires, mac)) = token.split_once('.') else {
            return false;
        };
        let Ok(expires) = expires.parse::<i64>() else {
            return false;
        };
        now <= expires
            && crypto::hmac_verify(
                secret,
                Self::content(payment_no, amount, expires).as_bytes(),
                mac,
            )
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The checkout page: what is being paid, and a button that pays it (with the link's token) when
/// `pay_token` is given.
pub fn checkout_page(
    payment_no: &str,
    amount_yuan: f64,
    status_text: &str,
    pay_token: Option<&str>,
) -> String {
    let no = escape_html(payment_no);
    let action = if let Some(token) = pay_token {
        let token = escape_html(&urlencoding::encode(token));
        format!(
            r#"<form method="post" action="/api/payment/sandbox/pay/{no}?token={token}"><button type="submit" style="font-size:1.2em;padding:.5em 2em">确认支付 ¥{amount_yuan:.2}</button></form>"#
        )
    } else {
        format!("<p>{}</p>", escape_html(status_text))
    };
    format!(
        r#"<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>沙箱支付</title></head><body style="font-family:sans-serif;max-width:30em;margin:3em auto;text-align:center"><h1>沙箱支付</h1><p>开发环境模拟支付，不会产生真实扣款。</p><p>支付单号：{no}</p><p>金额：¥{amount_yuan:.2}</p>{action}</body></html>"#
    )
}

pub fn result_page(ok: bool, message: &str) -> String {
    format!(
        r#"<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>沙箱支付</title></head><body style="font-family:sans-serif;max-width:30em;margin:3em auto;text-align:center"><h1>{}</h1><p>{}</p><p>可以关闭此页面。</p></body></html>"#,
        if ok { "支付成功" } else { "支付失败" },
        escape_html(message)
    )
}

#[cfg(test)]
mod tests {
    use super::PayToken;

    #[test]
    fn a_pay_token_is_bound_to_its_payment_and_expires() {
        let token = PayToken::issue(b"secret", "PAY1", 100, 1_000);
        assert!(PayToken::verify(b"secret", "PAY1", 100, &token, 999));
        assert!(PayToken::verify(b"secret", "PAY1", 100, &token, 1_000));
        assert!(!PayToken::verify(b"secret", "PAY1", 100, &token, 1_001));
        assert!(!PayToken::verify(b"secret", "PAY2", 100, &token, 999));
        assert!(!PayToken::verify(b"secret", "PAY1", 101, &token, 999));
        assert!(!PayToken::verify(b"other", "PAY1", 100, &token, 999));
        let later = token.replacen("1000.", "9999.", 1);
        assert!(!PayToken::verify(b"secret", "PAY1", 100, &later, 999));
        assert!(!PayToken::verify(b"secret", "PAY1", 100, "", 0));
    }
}
