//! A local fake of the WeChat Pay v3 and Alipay gateways, started inside the test suite. It checks our
//! request signatures the way the providers document and answers in their formats, signing its replies
//! as the providers do (or wrongly, when a test asks it to). It also holds the test keys and builds
//! provider-signed callbacks and platform certificates.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use mychat::modules::payments::{alipay, crypto};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};

use crate::helpers::{Api, TestApp};

pub const MCH_ID: &str = "1900000109";
pub const WX_APP_ID: &str = "wxd678efh567hg6787";
pub const APIV3_KEY: &str = "0123456789abcdef0123456789ABCDEF";
pub const PLATFORM_SERIAL: &str = "PUB_KEY_ID_0114232134912410000";
pub const ALI_APP_ID: &str = "2021000117612345";

/// RSA keys (1024-bit: quick in debug builds) for the merchant, WeChat's platform, our Alipay app,
/// Alipay itself and a stranger. They are made once, before any app starts: generating a key in the
/// middle of a test can leave a pooled connection idle past the server's keep-alive.
pub struct Keys {
    pub merchant: RsaPrivateKey,
    pub platform: RsaPrivateKey,
    pub ali_app: RsaPrivateKey,
    pub ali_platform: RsaPrivateKey,
    /// Nobody's: what forgers and wrongly set-up providers sign with.
    pub stranger: RsaPrivateKey,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rsa::rand_core::OsRng;
        let mut new_key = || RsaPrivateKey::new(&mut rng, 1024).unwrap();
        Keys {
            merchant: new_key(),
            platform: new_key(),
            ali_app: new_key(),
            ali_platform: new_key(),
            stranger: new_key(),
        }
    })
}

pub fn private_pem(k: &RsaPrivateKey) -> String {
    k.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
}

pub fn public_pem(k: &RsaPrivateKey) -> String {
    RsaPublicKey::from(k)
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}

/// What the fake saw.
#[derive(Default)]
pub struct Seen {
    pub requests: Vec<(String, Value)>,
    pub bad_signatures: usize,
}

/// How the fake signs its replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplySigning {
    /// With the provider's platform key, as the real ones do.
    Genuine,
    /// With a key that is not the provider's.
    WrongKey,
    /// Not at all.
    Missing,
}

/// What the fake does; tests change it between calls.
pub struct Behaviour {
    pub signing: ReplySigning,
    /// `Wechatpay-Serial` on WeChat replies.
    pub wechat_serial: String,
    /// `status` of WeChat refund replies: `SUCCESS` or `PROCESSING`.
    pub wechat_refund_status: &'static str,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            signing: ReplySigning::Genuine,
            wechat_serial: PLATFORM_SERIAL.to_owned(),
            wechat_refund_status: "SUCCESS",
        }
    }
}

pub struct FakeProvider {
    pub base_url: String,
    pub seen: Arc<Mutex<Seen>>,
    pub behaviour: Arc<Mutex<Behaviour>>,
}

impl FakeProvider {
    pub fn set_signing(&self, signing: ReplySigning) {
        self.behaviour.lock().unwrap().signing = signing;
    }
}

/// A key nobody configured: what a forger or a wrongly set-up provider signs with.
pub fn stranger_key() -> &'static RsaPrivateKey {
    &keys().stranger
}

fn reply_signer(
    signing: ReplySigning,
    genuine: &'static RsaPrivateKey,
) -> Option<&'static RsaPrivateKey> {
    match signing {
        ReplySigning::Genuine => Some(genuine),
        ReplySigning::WrongKey => Some(stranger_key()),
        ReplySigning::Missing => None,
    }
}

/// A WeChat reply: JSON `body` with the platform's signature headers over `timestamp\nnonce\nbody\n`.
fn wechat_reply(
    status: actix_web::http::StatusCode,
    body: &Value,
    behaviour: &Behaviour,
) -> HttpResponse {
    let text = body.to_string();
    let mut res = HttpResponse::build(status);
    res.content_type("application/json");
    if let Some(key) = reply_signer(behaviour.signing, &keys().platform) {
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let nonce = crypto::nonce(32);
        let signature = crypto::rsa_sign(key, format!("{timestamp}\n{nonce}\n{text}\n").as_bytes());
        res.insert_header(("Wechatpay-Timestamp", timestamp))
            .insert_header(("Wechatpay-Nonce", nonce))
            .insert_header(("Wechatpay-Signature", signature))
            .insert_header(("Wechatpay-Serial", behaviour.wechat_serial.clone()));
    }
    res.body(text)
}

fn auth_params(header: &str) -> Option<BTreeMap<String, String>> {
    let rest = header.strip_prefix("WECHATPAY2-SHA256-RSA2048 ")?;
    Some(
        rest.split(',')
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            })
            .collect(),
    )
}

async fn wechat(
    req: HttpRequest,
    body: web::Bytes,
    seen: web::Data<Arc<Mutex<Seen>>>,
    behaviour: web::Data<Arc<Mutex<Behaviour>>>,
) -> HttpResponse {
    let behaviour = behaviour.lock().unwrap();
    let path = req.uri().path().to_owned();
    let auth = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(auth_params);
    let valid = auth.as_ref().is_some_and(|a| {
        let message = format!(
            "POST\n{path}\n{}\n{}\n{}\n",
            a.get("timestamp").cloned().unwrap_or_default(),
            a.get("nonce_str").cloned().unwrap_or_default(),
            String::from_utf8_lossy(&body)
        );
        a.get("mchid").map(String::as_str) == Some(MCH_ID)
            && crypto::rsa_verify(
                &keys().merchant.to_public_key(),
                message.as_bytes(),
                a.get("signature").map(String::as_str).unwrap_or_default(),
            )
    });
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut seen = seen.lock().unwrap();
    if !valid {
        seen.bad_signatures += 1;
        return HttpResponse::Unauthorized()
            .json(json!({ "code": "SIGN_ERROR", "message": "签名错误" }));
    }
    seen.requests.push((path.clone(), value.clone()));
    let reply = match path.as_str() {
        "/v3/pay/transactions/native" => {
            json!({ "code_url": "weixin://wxpay/bizpayurl?pr=fake123" })
        }
        "/v3/pay/transactions/h5" => {
            json!({ "h5_url": "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=fake" })
        }
        "/v3/pay/transactions/jsapi" | "/v3/pay/transactions/app" => {
            json!({ "prepay_id": "wx201410272009395522657a690389285100" })
        }
        "/v3/refund/domestic/refunds" => json!({
            "refund_id": "50000000382019052709732678859",
            "out_refund_no": value["out_refund_no"], "status": behaviour.wechat_refund_status,
            "amount": value["amount"],
        }),
        _ => {
            return HttpResponse::NotFound()
                .json(json!({ "code": "NOT_FOUND", "message": "no such api" }));
        }
    };
    wechat_reply(actix_web::http::StatusCode::OK, &reply, &behaviour)
}

/// An Alipay reply: `{"<method>_response": {...}, "sign": "..."}`, signed over the member's exact text.
fn alipay_reply(key: &str, response: &Value, signing: ReplySigning) -> HttpResponse {
    let member = response.to_string();
    let sign = reply_signer(signing, &keys().ali_platform)
        .map(|k| format!(",\"sign\":\"{}\"", crypto::rsa_sign(k, member.as_bytes())))
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("application/json;charset=utf-8")
        .body(format!("{{\"{key}\":{member}{sign}}}"))
}

async fn alipay_gateway(
    body: web::Bytes,
    seen: web::Data<Arc<Mutex<Seen>>>,
    behaviour: web::Data<Arc<Mutex<Behaviour>>>,
) -> HttpResponse {
    let signing = behaviour.lock().unwrap().signing;
    let params: BTreeMap<String, String> =
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
            .unwrap_or_default()
            .into_iter()
            .collect();
    let method = params.get("method").cloned().unwrap_or_default();
    let key = format!("{}_response", method.replace('.', "_"));
    let valid = params.get("app_id").map(String::as_str) == Some(ALI_APP_ID)
        && params.get("sign_type").map(String::as_str) == Some("RSA2")
        && crypto::rsa_verify(
            &keys().ali_app.to_public_key(),
            alipay::signing_content(&params, false).as_bytes(),
            params.get("sign").map(String::as_str).unwrap_or_default(),
        );
    let mut seen = seen.lock().unwrap();
    if !valid {
        seen.bad_signatures += 1;
        let refusal = json!({
            "code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature", "sub_msg": "验签出错"
        });
        return alipay_reply(&key, &refusal, signing);
    }
    let biz: Value = params
        .get("biz_content")
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    seen.requests.push((method.clone(), biz.clone()));
    let response = match method.as_str() {
        "alipay.trade.precreate" => json!({
            "code": "10000", "msg": "Success", "out_trade_no": biz["out_trade_no"],
            "qr_code": "https://qr.alipay.com/bax08431fake"
        }),
        "alipay.trade.refund" => json!({
            "code": "10000", "msg": "Success", "trade_no": "2013112011001004330000121536",
            "out_trade_no": biz["out_trade_no"], "fund_change": "Y", "refund_fee": biz["refund_amount"]
        }),
        "alipay.trade.fastpay.refund.query" => json!({
            "code": "10000", "msg": "Success", "trade_no": "2013112011001004330000121536",
            "out_trade_no": biz["out_trade_no"], "out_request_no": biz["out_request_no"],
            "refund_status": "REFUND_SUCCESS"
        }),
        _ => json!({ "code": "40004", "msg": "Business Failed", "sub_msg": "unknown method" }),
    };
    alipay_reply(&key, &response, signing)
}

/// Starts the fake on 127.0.0.1:0.
pub async fn start() -> FakeProvider {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let behaviour = Arc::new(Mutex::new(Behaviour::default()));
    let data = web::Data::new(seen.clone());
    let behaviour_data = web::Data::new(behaviour.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(behaviour_data.clone())
            .route("/gateway.do", web::post().to(alipay_gateway))
            .default_service(web::post().to(wechat))
    })
    .listen(listener)
    .unwrap()
    .workers(1)
    .disable_signals()
    .run();
    tokio::spawn(server);
    FakeProvider {
        base_url: format!("http://127.0.0.1:{port}"),
        seen,
        behaviour,
    }
}

/// App configuration with both real channels pointing at `fake`.
pub fn channel_config(fake: &FakeProvider, sandbox: bool) -> Vec<(&'static str, Value)> {
    let k = keys();
    vec![
        ("payments.sandbox_enabled", json!(sandbox)),
        ("payments.wechat.app_id", json!(WX_APP_ID)),
        ("payments.wechat.mch_id", json!(MCH_ID)),
        (
            "payments.wechat.mch_serial_no",
            json!("3775B6A45ACD588826D15E583A95F5DD00000000"),
        ),
        (
            "payments.wechat.private_key",
            json!(private_pem(&k.merchant)),
        ),
        ("payments.wechat.apiv3_key", json!(APIV3_KEY)),
        (
            "payments.wechat.platform_public_keys",
            json!({ PLATFORM_SERIAL: public_pem(&k.platform) }),
        ),
        ("payments.wechat.base_url", json!(fake.base_url)),
        (
            "payments.wechat.notify_url",
            json!("https://example.com/api/payment/wechat/callback"),
        ),
        ("payments.alipay.app_id", json!(ALI_APP_ID)),
        (
            "payments.alipay.private_key",
            json!(private_pem(&k.ali_app)),
        ),
        (
            "payments.alipay.alipay_public_key",
            json!(public_pem(&k.ali_platform)),
        ),
        (
            "payments.alipay.gateway_url",
            json!(format!("{}/gateway.do", fake.base_url)),
        ),
    ]
}

/// A WeChat Pay v3 notification as WeChat sends it: headers and body.
pub struct WechatNotify {
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

pub struct WechatNotifySpec<'a> {
    pub payment_no: &'a str,
    pub amount: i64,
    pub mchid: &'a str,
    pub trade_state: &'a str,
    pub timestamp: i64,
    pub transaction_id: &'a str,
    pub signer: &'a RsaPrivateKey,
    pub serial: &'a str,
}

impl<'a> WechatNotifySpec<'a> {
    pub fn valid(payment_no: &'a str, amount: i64) -> Self {
        Self {
            payment_no,
            amount,
            mchid: MCH_ID,
            trade_state: "SUCCESS",
            timestamp: chrono::Utc::now().timestamp(),
            transaction_id: "4200000000202401010000000001",
            signer: &keys().platform,
            serial: PLATFORM_SERIAL,
        }
    }

    pub fn build(&self) -> WechatNotify {
        let resource = json!({
            "mchid": self.mchid, "appid": WX_APP_ID, "out_trade_no": self.payment_no,
            "transaction_id": self.transaction_id, "trade_type": "NATIVE", "trade_state": self.trade_state,
            "trade_state_desc": "支付成功", "bank_type": "CMC", "success_time": "2024-01-01T10:00:00+08:00",
            "payer": { "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" },
            "amount": { "total": self.amount, "payer_total": self.amount, "currency": "CNY", "payer_currency": "CNY" }
        });
        signed_event(
            "TRANSACTION.SUCCESS",
            "transaction",
            &resource,
            self.timestamp,
            self.signer,
            self.serial,
        )
    }
}

/// A WeChat Pay v3 notification of `event_type` whose resource (`original_type`) is encrypted with
/// the APIv3 key, signed by `signer` under `serial`.
pub fn signed_event(
    event_type: &str,
    original_type: &str,
    resource: &Value,
    timestamp: i64,
    signer: &RsaPrivateKey,
    serial: &str,
) -> WechatNotify {
    let nonce = "fdasflkja484";
    let ciphertext = crypto::aes_gcm_encrypt(
        APIV3_KEY.as_bytes(),
        nonce.as_bytes(),
        original_type.as_bytes(),
        resource.to_string().as_bytes(),
    )
    .unwrap();
    let body = json!({
        "id": "EV-2018022511223320873", "create_time": "2024-01-01T10:00:00+08:00",
        "resource_type": "encrypt-resource", "event_type": event_type, "summary": "通知",
        "resource": { "original_type": original_type, "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": ciphertext, "associated_data": original_type, "nonce": nonce }
    })
    .to_string();
    let header_nonce = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS";
    let message = format!("{timestamp}\n{header_nonce}\n{body}\n");
    let signature = crypto::rsa_sign(signer, message.as_bytes());
    WechatNotify {
        headers: vec![
            ("Wechatpay-Timestamp", timestamp.to_string()),
            ("Wechatpay-Nonce", header_nonce.to_owned()),
            ("Wechatpay-Signature", signature),
            ("Wechatpay-Serial", serial.to_owned()),
        ],
        body,
    }
}

/// A WeChat `REFUND.*` notification as WeChat sends it.
pub struct WechatRefundSpec<'a> {
    pub payment_no: &'a str,
    pub refund_no: &'a str,
    /// `SUCCESS`, `ABNORMAL` or `CLOSED`.
    pub refund_status: &'a str,
    /// Fen refunded by this refund, and the payment's total.
    pub refund: i64,
    pub total: i64,
    pub mchid: &'a str,
    pub timestamp: i64,
    pub signer: &'a RsaPrivateKey,
    pub serial: &'a str,
}

impl<'a> WechatRefundSpec<'a> {
    pub fn valid(
        payment_no: &'a str,
        refund_no: &'a str,
        refund_status: &'a str,
        refund: i64,
        total: i64,
    ) -> Self {
        Self {
            payment_no,
            refund_no,
            refund_status,
            refund,
            total,
            mchid: MCH_ID,
            timestamp: chrono::Utc::now().timestamp(),
            signer: &keys().platform,
            serial: PLATFORM_SERIAL,
        }
    }

    pub fn build(&self) -> WechatNotify {
        let resource = json!({
            "mchid": self.mchid, "out_trade_no": self.payment_no, "transaction_id": "4200000000202401010000000001",
            "out_refund_no": self.refund_no, "refund_id": "50000000382019052709732678859",
            "refund_status": self.refund_status, "success_time": "2024-01-01T10:30:00+08:00",
            "user_received_account": "招商银行信用卡0403",
            "amount": { "total": self.total, "refund": self.refund, "payer_total": self.total, "payer_refund": self.refund }
        });
        signed_event(
            &format!("REFUND.{}", self.refund_status),
            "refund",
            &resource,
            self.timestamp,
            self.signer,
            self.serial,
        )
    }
}

/// rcgen signs through ring, which refuses the 1024-bit test keys: this signs with the `rsa` crate.
struct RsaSigner {
    key: RsaPrivateKey,
    public_der: Vec<u8>,
}

impl rcgen::PublicKeyData for RsaSigner {
    fn der_bytes(&self) -> &[u8] {
        &self.public_der
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

impl rcgen::SigningKey for RsaSigner {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        use rsa::signature::{SignatureEncoding, Signer};
        let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(self.key.clone());
        Ok(signer.sign(msg).to_vec())
    }
}

/// A self-signed X.509 certificate of WeChat's platform key with `serial` (hex), valid between the
/// two dates (`(year, month, day)`), as PEM.
pub fn platform_certificate(
    serial: &str,
    not_before: (i32, u8, u8),
    not_after: (i32, u8, u8),
) -> String {
    use rsa::pkcs1::EncodeRsaPublicKey;
    let key = keys().platform.clone();
    let public_der = key
        .to_public_key()
        .to_pkcs1_der()
        .unwrap()
        .as_bytes()
        .to_vec();
    let signer = RsaSigner { key, public_der };
    let mut params = rcgen::CertificateParams::new(vec!["wechatpay.example".to_owned()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Tenpay.com sign");
    params.serial_number = Some(rcgen::SerialNumber::from_slice(
        &hex::decode(serial).unwrap(),
    ));
    params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    params.self_signed(&signer).unwrap().pem()
}

/// An Alipay notification (form fields), signed by `signer` over the sorted fields without sign/sign_type.
pub fn alipay_notify(fields: &[(&str, &str)], signer: &RsaPrivateKey) -> String {
    let mut params: BTreeMap<String, String> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    params.insert("sign_type".into(), "RSA2".into());
    let sign = crypto::rsa_sign(signer, alipay::signing_content(&params, true).as_bytes());
    params.insert("sign".into(), sign);
    serde_urlencoded::to_string(params.into_iter().collect::<Vec<_>>()).unwrap()
}

/// Delivers a WeChat Pay notification to the app's callback as the provider would.
pub async fn post_wechat(app: &TestApp, n: &WechatNotify) -> (u16, Value) {
    let mut req = app
        .client
        .post(app.url(Api::User, "/api/payment/wechat/callback"))
        .header("content-type", "application/json")
        .body(n.body.clone());
    for (k, v) in &n.headers {
        req = req.header(*k, v);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Delivers an Alipay notification (form-encoded) to the app's callback; returns the body it answers.
pub async fn post_alipay(app: &TestApp, form: String) -> String {
    app.client
        .post(app.url(Api::User, "/api/payment/alipay/callback"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
