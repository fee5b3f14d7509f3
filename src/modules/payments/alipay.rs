//! Alipay open platform with RSA2 (SHA256withRSA): signed gateway calls (precreate, refund), signed
//! page-pay URLs and APP order strings, and verification of asynchronous notifications.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::{crypto, untrusted_reply};
use crate::config::AlipaySettings;
use crate::error::{AppError, AppResult};
use crate::money;

pub fn is_configured(cfg: &AlipaySettings) -> bool {
    !cfg.app_id.trim().is_empty()
        && !cfg.private_key.trim().is_empty()
        && !cfg.alipay_public_key.trim().is_empty()
}

fn gateway(cfg: &AlipaySettings) -> &str {
    let url = cfg.gateway_url.trim();
    if url.is_empty() {
        "https://openapi.alipay.com/gateway.do"
    } else {
        url
    }
}

/// The string Alipay signs: non-empty params except `sign` (and `sign_type` for notifications),
/// sorted by key, joined as `k=v&k=v` with raw values.
pub fn signing_content(params: &BTreeMap<String, String>, skip_sign_type: bool) -> String {
    params
        .iter()
        .filter(|(k, v)| {
            !v.is_empty() && k.as_str() != "sign" && !(skip_sign_type && k.as_str() == "sign_type")
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The common request parameters for `method`, signed.
pub fn signed_params(
    cfg: &AlipaySettings,
    method: &str,
    biz_content: &Value,
    notify_url: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    params.insert("app_id".to_owned(), cfg.app_id.clone());
    params.insert("method".to_owned(), method.to_owned());
    params.insert("format".to_owned(), "JSON".to_owned());
    params.insert("charset".to_owned(), "utf-8".to_owned());
    params.insert("sign_type".to_owned(), "RSA2".to_owned());
    params.insert(
        "timestamp".to_owned(),
        chrono::Utc::now()
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
    );
    params.insert("version".to_owned(), "1.0".to_owned());
    if !notify_url.is_empty() {
        params.insert("notify_url".to_owned(), notify_url.to_owned());
    }
    if !cfg.return_url.is_empty() && method.ends_with(".pay") {
        params.insert("return_url".to_owned(), cfg.return_url.clone());
    }
    params.insert("biz_content".to_owned(), biz_content.to_string());
    let key = crypto::private_key(&cfg.private_key)?;
    let sign = crypto::rsa_sign(&key, signing_content(&params, false).as_bytes());
    params.insert("sign".to_owned(), sign);
    Ok(params)
}

fn encode(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", urlencoding::encode(k), urlencoding::encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Checks Alipay's `sign` over the exact text of the `<method>_response` member and returns that
/// member. A success must be signed; an unsigned refusal is taken as a refusal (Alipay does not sign
/// every gateway error), a signed one must verify like a success.
fn verified_response(cfg: &AlipaySettings, method: &str, raw: &str) -> AppResult<Value> {
    let members: BTreeMap<String, Box<RawValue>> = serde_json::from_str(raw).map_err(|e| {
        tracing::warn!(error = %e, method, "alipay reply is not a JSON object");
        untrusted_reply()
    })?;
    let key = format!("{}_response", method.replace('.', "_"));
    let Some(member) = members.get(&key) else {
        tracing::warn!(method, "alipay reply lacks its response member");
        return Err(untrusted_reply());
    };
    let response: Value = serde_json::from_str(member.get()).unwrap_or(Value::Null);
    let success = response["code"].as_str() == Some("10000");
    let sign = members
        .get("sign")
        .and_then(|s| serde_json::from_str::<String>(s.get()).ok())
        .filter(|s| !s.is_empty());
    let verified = match &sign {
        Some(sign) => {
            let key = crypto::public_key(&cfg.alipay_public_key).map_err(|e| {
                tracing::error!(error = %e, "alipay public key unreadable");
                untrusted_reply()
            })?;
            crypto::rsa_verify(&key, member.get().as_bytes(), sign)
        }
        None => !success,
    };
    if !verified {
        tracing::warn!(
            method,
            signed = sign.is_some(),
            "alipay reply signature refused; reply ignored"
        );
        return Err(untrusted_reply());
    }
    if !success {
        tracing::warn!(body = %response, method, "alipay refused the request");
        let msg = response["sub_msg"]
            .as_str()
            .or(response["msg"].as_str())
            .unwrap_or("支付宝请求失败");
        return Err(AppError::bad_request(format!("支付宝: {msg}")));
    }
    Ok(response)
}

async fn call(
    cfg: &AlipaySettings,
    method: &str,
    biz_content: &Value,
    notify_url: &str,
) -> AppResult<Value> {
    let params = signed_params(cfg, method, biz_content, notify_url)?;
    let res = super::http_client()?
        .post(gateway(cfg))
        .header(
            "Content-Type",
            "application/x-www-form-urlencoded;charset=utf-8",
        )
        .body(encode(&params))
        .send()
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "alipay request failed");
            AppError::Unavailable("支付渠道暂不可用".into())
        })?;
    let raw = res.text().await.map_err(|e| {
        tracing::warn!(error = %e, "alipay reply unreadable");
        AppError::Unavailable("支付渠道暂不可用".into())
    })?;
    verified_response(cfg, method, &raw)
}

/// `pay_url` (and `pay_params` for APP) for a payment. NATIVE/QR → precreate (a server call returning a
/// QR code URL); APP → a signed order string; anything else → a signed page-pay URL for the browser.
pub async fn prepay(
    cfg: &AlipaySettings,
    trade_type: &str,
    payment_no: &str,
    amount: i64,
    subject: &str,
    notify_url: &str,
) -> AppResult<(String, Option<Value>)> {
    let total_amount = format!("{:.2}", money::to_yuan(amount));
    match trade_type {
        "NATIVE" | "QR" | "PRECREATE" => {
            let biz = json!({ "out_trade_no": payment_no, "total_amount": total_amount, "subject": subject });
            let res = call(cfg, "alipay.trade.precreate", &biz, notify_url).await?;
            Ok((res["qr_code"].as_str().unwrap_or_default().to_owned(), None))
        }
        "APP" => {
            let biz = json!({ "out_trade_no": payment_no, "total_amount": total_amount, "subject": subject, "product_code": "QUICK_MSECURITY_PAY" });
            let params = signed_params(cfg, "alipay.trade.app.pay", &biz, notify_url)?;
            Ok((
                String::new(),
                Some(json!({ "order_string": encode(&params) })),
            ))
        }
        _ => {
            let (method, product) = if trade_type == "H5" || trade_type == "WAP" {
                ("alipay.trade.wap.pay", "QUICK_WAP_WAY")
            } else {
                ("alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY")
            };
            let biz = json!({ "out_trade_no": payment_no, "total_amount": total_amount, "subject": subject, "product_code": product });
            let params = signed_params(cfg, method, &biz, notify_url)?;
            Ok((format!("{}?{}", gateway(cfg), encode(&params)), None))
        }
    }
}

/// Asks Alipay to refund `amount` of the payment; returns Alipay's trade number. Alipay answers the
/// result synchronously: a verified success means the money went back.
///
/// # Errors
/// 400 when Alipay refuses, 503 when it cannot be reached or its reply does not verify.
pub async fn refund(
    cfg: &AlipaySettings,
    payment_no: &str,
    refund_no: &str,
    amount: i64,
    reason: &str,
) -> AppResult<String> {
    let biz = json!({
        "out_trade_no": payment_no,
        "refund_amount": format!("{:.2}", money::to_yuan(amount)),
        "out_request_no": refund_no,
        "refund_reason": reason,
    });
    let res = call(cfg, "alipay.trade.refund", &biz, "").await?;
    if res["out_trade_no"]
        .as_str()
        .is_some_and(|no| no != payment_no)
    {
        tracing::warn!(payment_no, reply = %res, "alipay refund reply is for another trade");
        return Err(untrusted_reply());
    }
    Ok(res["trade_no"].as_str().unwrap_or_default().to_owned())
}

/// What Alipay says about a refund we asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum RefundQuery {
    /// `REFUND_SUCCESS`: the money went back (Alipay's trade number).
    Succeeded(String),
    /// No `refund_status`: Alipay never received the refund or did not make it.
    NotRefunded,
}

/// Asks Alipay how a refund ended (`alipay.trade.fastpay.refund.query`), for refunds whose reply could
/// not be verified.
///
/// # Errors
/// 400 when Alipay refuses the query, 503 when it cannot be reached or its reply does not verify.
pub async fn query_refund(
    cfg: &AlipaySettings,
    payment_no: &str,
    refund_no: &str,
) -> AppResult<RefundQuery> {
    let biz = json!({ "out_trade_no": payment_no, "out_request_no": refund_no });
    let res = call(cfg, "alipay.trade.fastpay.refund.query", &biz, "").await?;
    let ours = res["out_request_no"]
        .as_str()
        .is_none_or(|no| no == refund_no)
        && res["out_trade_no"]
            .as_str()
            .is_none_or(|no| no == payment_no);
    if !ours {
        tracing::warn!(refund_no, reply = %res, "alipay refund query reply is for another refund");
        return Err(untrusted_reply());
    }
    Ok(match res["refund_status"].as_str() {
        Some("REFUND_SUCCESS") => {
            RefundQuery::Succeeded(res["trade_no"].as_str().unwrap_or_default().to_owned())
        }
        _ => RefundQuery::NotRefunded,
    })
}

/// Why a notification was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum NotifyError {
    BadSignature,
    WrongApp,
    Malformed,
}

/// A verified payment notification.
pub struct Notification {
    pub out_trade_no: String,
    pub trade_no: String,
    pub trade_status: String,
    /// Fen.
    pub total_amount: i64,
}

/// Verifies the RSA2 signature over the sorted parameters (without `sign` and `sign_type`) with the
/// Alipay public key, and that the notification is for our app.
pub fn verify_notification(
    cfg: &AlipaySettings,
    params: &BTreeMap<String, String>,
) -> Result<Notification, NotifyError> {
    let sign = params.get("sign").ok_or(NotifyError::BadSignature)?;
    let key = crypto::public_key(&cfg.alipay_public_key).map_err(|e| {
        tracing::error!(error = %e, "alipay public key unreadable");
        NotifyError::BadSignature
    })?;
    if !crypto::rsa_verify(&key, signing_content(params, true).as_bytes(), sign) {
        return Err(NotifyError::BadSignature);
    }
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    if get("app_id") != cfg.app_id {
        return Err(NotifyError::WrongApp);
    }
    let total_amount = get("total_amount")
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(money::from_yuan)
        .ok_or(NotifyError::Malformed)?;
    let out_trade_no = get("out_trade_no");
    if out_trade_no.is_empty() {
        return Err(NotifyError::Malformed);
    }
    Ok(Notification {
        out_trade_no,
        trade_no: get("trade_no"),
        trade_status: get("trade_status"),
        total_amount,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::RsaPrivateKey;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};

    #[test]
    fn replies_are_trusted_only_when_signed_over_the_exact_response_text() {
        let mut rng = rsa::rand_core::OsRng;
        let alipay = RsaPrivateKey::new(&mut rng, 1024).unwrap();
        let stranger = RsaPrivateKey::new(&mut rng, 1024).unwrap();
        let cfg = AlipaySettings {
            alipay_public_key: alipay
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap(),
            ..Default::default()
        };
        let method = "alipay.trade.refund";
        // Alipay's own spacing: the signature covers these bytes, not a re-serialization.
        let member =
            r#"{"code":"10000", "msg":"Success","trade_no":"2013112011001004330000121536"}"#;
        let reply = |member: &str, key: Option<&RsaPrivateKey>| match key {
            Some(k) => format!(
                r#"{{"alipay_trade_refund_response":{member},"sign":"{}"}}"#,
                crypto::rsa_sign(k, member.as_bytes())
            ),
            None => format!(r#"{{"alipay_trade_refund_response":{member}}}"#),
        };

        let ok = verified_response(&cfg, method, &reply(member, Some(&alipay))).unwrap();
        assert_eq!(ok["trade_no"], "2013112011001004330000121536");
        let untrusted = |raw: &str| {
            verified_response(&cfg, method, raw)
                .err()
                .is_some_and(|e| crate::modules::payments::is_untrusted_reply(&e))
        };
        assert!(untrusted(&reply(member, Some(&stranger))));
        assert!(untrusted(&reply(member, None)));
        let tampered = reply(member, Some(&alipay)).replace("Success", "Succesz");
        assert!(untrusted(&tampered));
        assert!(untrusted("not json"));
        assert!(untrusted(
            &reply(member, Some(&alipay)).replace("trade_refund", "trade_query")
        ));

        let refusal = r#"{"code":"40004","msg":"Business Failed","sub_msg":"退款金额超限"}"#;
        let refused = verified_response(&cfg, method, &reply(refusal, None)).unwrap_err();
        assert!(matches!(refused, AppError::BadRequest(m) if m.contains("退款金额超限")));
        assert!(untrusted(&reply(refusal, Some(&stranger))));
    }

    #[test]
    fn signing_content_sorts_and_skips_sign_and_empty_values() {
        let params: BTreeMap<String, String> = [
            ("sign", "xxx"),
            ("sign_type", "RSA2"),
            ("b", "2"),
            ("a", "1"),
            ("empty", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(signing_content(&params, false), "a=1&b=2&sign_type=RSA2");
        assert_eq!(signing_content(&params, true), "a=1&b=2");
    }
}
