//! WeChat Pay API v3: signed requests (`Authorization: WECHATPAY2-SHA256-RSA2048 …`), prepay for
//! NATIVE/JSAPI/H5/APP, refunds, verification of the platform's signature on its replies, and
//! verification + decryption of payment and refund notifications.
//!
//! Platform keys are configured per `Wechatpay-Serial`, as a bare public key (WeChat's "platform
//! public key" mode) or as the platform certificate WeChat distributes; a certificate must carry that
//! serial and be within its validity.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{crypto, untrusted_reply};
use crate::config::WechatPaySettings;
use crate::error::{AppError, AppResult};

/// Callbacks whose timestamp is further than this from our clock are refused (replays).
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

pub fn is_configured(cfg: &WechatPaySettings) -> bool {
    !cfg.mch_id.trim().is_empty()
        && !cfg.private_key.trim().is_empty()
        && !cfg.apiv3_key.is_empty()
        && !cfg.platform_public_keys.is_empty()
}

fn base_url(cfg: &WechatPaySettings) -> &str {
    let base = cfg.base_url.trim().trim_end_matches('/');
    if base.is_empty() {
        "https://api.mch.weixin.qq.com"
    } else {
        base
    }
}

/// The `Authorization` header for `method url_path body`, signed with the merchant key.
pub fn authorization(
    cfg: &WechatPaySettings,
    method: &str,
    url_path: &str,
    body: &str,
    timestamp: i64,
    nonce: &str,
) -> anyhow::Result<String> {
    let key = crypto::private_key(&cfg.private_key)?;
    let message = format!("{method}\n{url_path}\n{timestamp}\n{nonce}\n{body}\n");
    let signature = crypto::rsa_sign(&key, message.as_bytes());
    Ok(format!(
        "WECHATPAY2-SHA256-RSA2048 mchid=\"{}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{}\"",
        cfg.mch_id, cfg.mch_serial_no
    ))
}

fn reply_header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn post(cfg: &WechatPaySettings, path: &str, body: &Value) -> AppResult<Value> {
    let body = body.to_string();
    let timestamp = chrono::Utc::now().timestamp();
    let nonce = crypto::nonce(32);
    let auth = authorization(cfg, "POST", path, &body, timestamp, &nonce)?;
    let res = super::http_client()?
        .post(format!("{}{path}", base_url(cfg)))
        .header("Authorization", auth)
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "wechat pay request failed");
            AppError::Unavailable("支付渠道暂不可用".into())
        })?;
    let status = res.status();
    let timestamp = reply_header(&res, "Wechatpay-Timestamp").to_owned();
    let nonce = reply_header(&res, "Wechatpay-Nonce").to_owned();
    let signature = reply_header(&res, "Wechatpay-Signature").to_owned();
    let serial = reply_header(&res, "Wechatpay-Serial").to_owned();
    let raw = res.bytes().await.map_err(|e| {
        tracing::warn!(error = %e, "wechat pay reply unreadable");
        AppError::Unavailable("支付渠道暂不可用".into())
    })?;
    let value: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    if !status.is_success() {
        // Refusals change nothing on our side but a failed attempt, so they are taken as they come
        // (WeChat does not sign every error reply).
        tracing::warn!(%status, body = %value, path, "wechat pay refused the request");
        let message = value["message"].as_str().unwrap_or("微信支付请求失败");
        return Err(AppError::bad_request(format!("微信支付: {message}")));
    }
    let headers = NotifyHeaders {
        timestamp: &timestamp,
        nonce: &nonce,
        signature: &signature,
        serial: &serial,
    };
    if let Err(reason) = verify_signature(cfg, &headers, &raw, chrono::Utc::now().timestamp()) {
        tracing::warn!(
            ?reason,
            path,
            "wechat pay reply signature refused; reply ignored"
        );
        return Err(untrusted_reply());
    }
    Ok(value)
}

/// What the client needs to pay: a URL to open or the parameters of a client-side SDK call.
pub struct PrepayResult {
    pub pay_url: String,
    pub pay_params: Option<Value>,
}

/// One order to place with WeChat.
#[derive(Clone, Copy)]
pub struct PrepayRequest<'a> {
    /// NATIVE, JSAPI, H5 or APP.
    pub trade_type: &'a str,
    pub payment_no: &'a str,
    /// Fen.
    pub amount: i64,
    pub description: &'a str,
    pub notify_url: &'a str,
    /// The payer, required for JSAPI.
    pub openid: Option<&'a str>,
    pub client_ip: &'a str,
}

/// Places the order with WeChat for its trade type.
pub async fn prepay(cfg: &WechatPaySettings, req: &PrepayRequest<'_>) -> AppResult<PrepayResult> {
    let PrepayRequest {
        trade_type,
        payment_no,
        amount,
        description,
        notify_url,
        openid,
        client_ip,
    } = *req;
    let mut body = json!({
        "appid": cfg.app_id,
        "mchid": cfg.mch_id,
        "description": description,
        "out_trade_no": payment_no,
        "notify_url": notify_url,
        "amount": { "total": amount, "currency": "CNY" },
    });
    let path = match trade_type {
        "NATIVE" => "/v3/pay/transactions/native",
        "JSAPI" => {
            let openid = openid
                .filter(|o| !o.trim().is_empty())
                .ok_or_else(|| AppError::bad_request("JSAPI支付需要openid"))?;
            body["payer"] = json!({ "openid": openid });
            "/v3/pay/transactions/jsapi"
        }
        "H5" => {
            body["scene_info"] = json!({
                "payer_client_ip": client_ip,
                "h5_info": { "type": "Wap" },
            });
            "/v3/pay/transactions/h5"
        }
        "APP" => "/v3/pay/transactions/app",
        _ => return Err(AppError::bad_request("不支持的交易类型")),
    };
    let res = post(cfg, path, &body).await?;
    let text = |key: &str| res[key].as_str().unwrap_or_default().to_owned();
    let key = crypto::private_key(&cfg.private_key)?;
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let nonce = crypto::nonce(32);
    Ok(match trade_type {
        "NATIVE" => PrepayResult {
            pay_url: text("code_url"),
            pay_params: None,
        },
        "H5" => PrepayResult {
            pay_url: text("h5_url"),
            pay_params: None,
        },
        "JSAPI" => {
            let package = format!("prepay_id={}", text("prepay_id"));
            let message = format!("{}\n{timestamp}\n{nonce}\n{package}\n", cfg.app_id);
            PrepayResult {
                pay_url: String::new(),
                pay_params: Some(json!({
                    "appId": cfg.app_id, "timeStamp": timestamp, "nonceStr": nonce,
                    "package": package, "signType": "RSA",
                    "paySign": crypto::rsa_sign(&key, message.as_bytes()),
                })),
            }
        }
        _ => {
            let prepay_id = text("prepay_id");
            let message = format!("{}\n{timestamp}\n{nonce}\n{prepay_id}\n", cfg.app_id);
            PrepayResult {
                pay_url: String::new(),
                pay_params: Some(json!({
                    "appid": cfg.app_id, "partnerid": cfg.mch_id, "prepayid": prepay_id,
                    "package": "Sign=WXPay", "noncestr": nonce, "timestamp": timestamp,
                    "sign": crypto::rsa_sign(&key, message.as_bytes()),
                })),
            }
        }
    })
}

/// What WeChat said about a refund it accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundReply {
    /// Already refunded; the `refund_id`.
    Succeeded(String),
    /// Accepted; a `REFUND.*` notification tells the result.
    Processing(String),
}

/// Asks WeChat to refund.
///
/// # Errors
/// 400 when WeChat refuses, 503 when it cannot be reached or its reply does not verify.
pub async fn refund(
    cfg: &WechatPaySettings,
    payment_no: &str,
    refund_no: &str,
    amount: i64,
    total: i64,
    reason: &str,
) -> AppResult<RefundReply> {
    let body = json!({
        "out_trade_no": payment_no,
        "out_refund_no": refund_no,
        "reason": reason,
        "amount": { "refund": amount, "total": total, "currency": "CNY" },
    });
    let res = post(cfg, "/v3/refund/domestic/refunds", &body).await?;
    if res["out_refund_no"]
        .as_str()
        .is_some_and(|no| no != refund_no)
    {
        tracing::warn!(refund_no, reply = %res, "wechat refund reply is for another refund");
        return Err(untrusted_reply());
    }
    let refund_id = res["refund_id"].as_str().unwrap_or_default().to_owned();
    match res["status"].as_str() {
        Some("SUCCESS") => Ok(RefundReply::Succeeded(refund_id)),
        Some("PROCESSING") => Ok(RefundReply::Processing(refund_id)),
        other => {
            tracing::warn!(status = ?other, "wechat refund not accepted");
            Err(AppError::bad_request("微信退款失败"))
        }
    }
}

/// Why a notification was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum NotifyError {
    MissingHeaders,
    UnknownSerial,
    BadSignature,
    StaleTimestamp,
    Malformed,
    Undecryptable,
    WrongMerchant,
}

/// The headers WeChat signs a notification with.
#[derive(Clone, Copy)]
pub struct NotifyHeaders<'a> {
    pub timestamp: &'a str,
    pub nonce: &'a str,
    pub signature: &'a str,
    pub serial: &'a str,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    event_type: String,
    resource: Resource,
}

#[derive(Deserialize)]
struct Resource {
    ciphertext: String,
    nonce: String,
    #[serde(default)]
    associated_data: String,
}

#[derive(Deserialize)]
pub struct TransactionAmount {
    pub total: i64,
}

/// The decrypted `resource` of a `TRANSACTION.*` notification.
#[derive(Deserialize)]
pub struct Transaction {
    pub mchid: String,
    #[serde(default)]
    pub appid: String,
    pub out_trade_no: String,
    #[serde(default)]
    pub transaction_id: String,
    pub trade_state: String,
    pub amount: TransactionAmount,
}

#[derive(Deserialize)]
pub struct RefundAmount {
    pub total: i64,
    pub refund: i64,
}

/// The decrypted `resource` of a `REFUND.*` notification.
#[derive(Deserialize)]
pub struct RefundNotice {
    pub mchid: String,
    pub out_trade_no: String,
    pub out_refund_no: String,
    #[serde(default)]
    pub refund_id: String,
    /// `SUCCESS`, `ABNORMAL` or `CLOSED`.
    pub refund_status: String,
    pub amount: RefundAmount,
}

/// What a verified notification reports.
pub enum Notice {
    /// `TRANSACTION.*`.
    Transaction(Transaction),
    /// `REFUND.*`.
    Refund(RefundNotice),
    /// Any other event type: acknowledged, nothing to apply.
    Other,
}

/// The key configured for `serial` from its source, or why it is unusable at `now`.
fn resolve_platform_key(source: &str, serial: &str, now: i64) -> Result<rsa::RsaPublicKey, String> {
    match crypto::certified_key(source) {
        Ok(Some(cert)) if !cert.has_serial(serial) => Err(format!(
            "the certificate's serial is {}, not {serial}",
            cert.serial
        )),
        Ok(Some(cert)) if !cert.valid_at(now) => {
            Err("the certificate is outside its validity".to_owned())
        }
        Ok(Some(cert)) => Ok(cert.key),
        Ok(None) => crypto::public_key(source).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// The platform key for `serial`: a bare public key, or the key of the certificate with that serial
/// while it is valid.
pub fn platform_key(
    cfg: &WechatPaySettings,
    serial: &str,
    now: i64,
) -> Result<rsa::RsaPublicKey, NotifyError> {
    let source = cfg
        .platform_public_keys
        .get(serial)
        .ok_or(NotifyError::UnknownSerial)?;
    resolve_platform_key(source, serial, now).map_err(|reason| {
        tracing::error!(serial, reason, "wechat platform key unusable");
        NotifyError::UnknownSerial
    })
}

/// Every configured platform key that cannot verify anything at `now`, with the reason: startup
/// reports them rather than the first refused callback.
pub fn platform_key_problems(cfg: &WechatPaySettings, now: i64) -> Vec<(String, String)> {
    let mut problems: Vec<(String, String)> = cfg
        .platform_public_keys
        .iter()
        .filter_map(|(serial, source)| {
            resolve_platform_key(source, serial, now)
                .err()
                .map(|reason| (serial.clone(), reason))
        })
        .collect();
    problems.sort();
    problems
}

/// Verifies the platform signature over `timestamp\nnonce\nbody\n` and the clock skew: the check
/// of notifications and of the replies to our calls alike.
pub fn verify_signature(
    cfg: &WechatPaySettings,
    headers: &NotifyHeaders<'_>,
    body: &[u8],
    now: i64,
) -> Result<(), NotifyError> {
    if headers.timestamp.is_empty() || headers.signature.is_empty() || headers.serial.is_empty() {
        return Err(NotifyError::MissingHeaders);
    }
    let key = platform_key(cfg, headers.serial, now)?;
    let mut message = format!("{}\n{}\n", headers.timestamp, headers.nonce).into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    if !crypto::rsa_verify(&key, &message, headers.signature) {
        return Err(NotifyError::BadSignature);
    }
    let timestamp: i64 = headers
        .timestamp
        .trim()
        .parse()
        .map_err(|_| NotifyError::StaleTimestamp)?;
    if (now - timestamp).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(NotifyError::StaleTimestamp);
    }
    Ok(())
}

/// Verifies a notification ([`verify_signature`]), decrypts the resource with the APIv3 key and
/// checks it is for our merchant (and app, when configured).
pub fn verify_notification(
    cfg: &WechatPaySettings,
    headers: &NotifyHeaders<'_>,
    body: &[u8],
    now: i64,
) -> Result<(String, Notice), NotifyError> {
    verify_signature(cfg, headers, body, now)?;
    let envelope: Envelope = serde_json::from_slice(body).map_err(|_| NotifyError::Malformed)?;
    let plain = crypto::aes_gcm_decrypt(
        cfg.apiv3_key.as_bytes(),
        envelope.resource.nonce.as_bytes(),
        envelope.resource.associated_data.as_bytes(),
        &envelope.resource.ciphertext,
    )
    .ok_or(NotifyError::Undecryptable)?;
    let notice = if envelope.event_type.starts_with("TRANSACTION.") {
        let tx: Transaction = serde_json::from_slice(&plain).map_err(|_| NotifyError::Malformed)?;
        if tx.mchid != cfg.mch_id || (!cfg.app_id.is_empty() && tx.appid != cfg.app_id) {
            return Err(NotifyError::WrongMerchant);
        }
        Notice::Transaction(tx)
    } else if envelope.event_type.starts_with("REFUND.") {
        let refund: RefundNotice =
            serde_json::from_slice(&plain).map_err(|_| NotifyError::Malformed)?;
        if refund.mchid != cfg.mch_id {
            return Err(NotifyError::WrongMerchant);
        }
        Notice::Refund(refund)
    } else {
        Notice::Other
    };
    Ok((envelope.event_type, notice))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::RsaPrivateKey;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};

    fn settings(platform: &RsaPrivateKey) -> WechatPaySettings {
        let mut keys = std::collections::HashMap::new();
        keys.insert(
            "SERIAL".to_owned(),
            platform
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap(),
        );
        WechatPaySettings {
            mch_id: "1900000109".into(),
            apiv3_key: "0123456789abcdef0123456789abcdef".into(),
            platform_public_keys: keys,
            ..Default::default()
        }
    }

    fn notification(cfg: &WechatPaySettings, mchid: &str) -> String {
        let resource = serde_json::json!({"mchid": mchid, "out_trade_no": "PAY1", "transaction_id": "42",
            "trade_state": "SUCCESS", "amount": {"total": 100}});
        let ciphertext = crypto::aes_gcm_encrypt(
            cfg.apiv3_key.as_bytes(),
            b"abcdefghijkl",
            b"transaction",
            resource.to_string().as_bytes(),
        )
        .unwrap();
        serde_json::json!({"event_type": "TRANSACTION.SUCCESS", "resource": {"ciphertext": ciphertext,
            "nonce": "abcdefghijkl", "associated_data": "transaction"}})
        .to_string()
    }

    #[test]
    fn notifications_are_verified_decrypted_and_checked() {
        let platform = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
        let cfg = settings(&platform);
        let body = notification(&cfg, "1900000109");
        let now = 1_700_000_000;
        let sign = |ts: i64, body: &str| {
            crypto::rsa_sign(&platform, format!("{ts}\nnonce\n{body}\n").as_bytes())
        };
        let ts = now.to_string();
        let sig = sign(now, &body);
        let headers = NotifyHeaders {
            timestamp: &ts,
            nonce: "nonce",
            signature: &sig,
            serial: "SERIAL",
        };
        let (event, notice) = verify_notification(&cfg, &headers, body.as_bytes(), now).unwrap();
        assert_eq!(event, "TRANSACTION.SUCCESS");
        let Notice::Transaction(tx) = notice else {
            panic!("a transaction notice")
        };
        assert_eq!((tx.out_trade_no.as_str(), tx.amount.total), ("PAY1", 100));
        assert_eq!(
            verify_notification(&cfg, &headers, body.as_bytes(), now + 301).err(),
            Some(NotifyError::StaleTimestamp)
        );
        assert_eq!(
            verify_notification(&cfg, &headers, b"{}", now).err(),
            Some(NotifyError::BadSignature)
        );
        let unknown = NotifyHeaders {
            serial: "OTHER",
            ..headers
        };
        assert_eq!(
            verify_notification(&cfg, &unknown, body.as_bytes(), now).err(),
            Some(NotifyError::UnknownSerial)
        );
        assert!(platform_key_problems(&cfg, now).is_empty());
        let mut broken = cfg.clone();
        broken.platform_public_keys.insert(
            "BROKEN".into(),
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----".into(),
        );
        let problems = platform_key_problems(&broken, now);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "BROKEN");
        let foreign = notification(&cfg, "1900000000");
        let foreign_sig = sign(now, &foreign);
        let foreign_headers = NotifyHeaders {
            signature: &foreign_sig,
            ..headers
        };
        assert_eq!(
            verify_notification(&cfg, &foreign_headers, foreign.as_bytes(), now).err(),
            Some(NotifyError::WrongMerchant)
        );
    }
}
