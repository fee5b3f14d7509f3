//! RFC 6455 conformance of port 8082, Autobahn-style: frames built by hand and written to a raw
//! `TcpStream`, so a case can send what no WebSocket library would (reserved bits, unmasked frames,
//! lying length fields, broken UTF-8). Each case names what the server must answer; a close code is
//! read from the server's close frame.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Api, TestApp, spawn_app};

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;
/// The server's message limit (`chat::socket::MAX_MESSAGE_BYTES`).
const MAX_MESSAGE: usize = 64 * 1024;
/// The key of RFC 6455 §1.3 and the accept value it must produce.
const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const PING_MESSAGE: &[u8] = br#"{"type":"ping"}"#;

/// A client frame: FIN, opcode, then the length in the shortest form, a mask and the masked payload.
fn frame(op: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | op];
    push_length(&mut out, 0x80, payload.len() as u64);
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

fn push_length(out: &mut Vec<u8>, mask_bit: u8, len: u64) {
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
}

/// Just the header of a masked frame that declares `len` bytes.
fn header(op: u8, len: u64) -> Vec<u8> {
    let mut out = vec![0x80 | op];
    push_length(&mut out, 0x80, len);
    out.extend_from_slice(&[1, 2, 3, 4]);
    out
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    payload
}

/// A JSON `ping` message padded with spaces to `len` bytes.
fn padded_ping(len: usize) -> Vec<u8> {
    let mut text = PING_MESSAGE.to_vec();
    text.resize(len, b' ');
    text
}

/// A server frame as read off the wire.
#[derive(Debug)]
struct Frame {
    fin: bool,
    op: u8,
    masked: bool,
    payload: Vec<u8>,
}

struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// The reply to a handshake: status, the head's text, and the connection.
struct Handshake {
    status: u16,
    head: String,
    raw: Raw,
}

impl Handshake {
    fn header(&self, name: &str) -> Vec<String> {
        self.head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }
}

/// Sends a handshake with the request line `GET {target}` and `headers` (one per line, no CRLF).
async fn handshake(app: &TestApp, method: &str, target: &str, headers: &[&str]) -> Handshake {
    let port = app.port(Api::Ws);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Raw {
        stream,
        buf: Vec::new(),
    };
    let end = loop {
        if let Some(at) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        assert!(
            raw.fill().await,
            "connection closed before the response head"
        );
    };
    let head = String::from_utf8(raw.buf.drain(..end).collect()).unwrap();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    Handshake { status, head, raw }
}

const UPGRADE: [&str; 3] = [
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Version: 13",
];

/// An open socket on `/ws` for `token`.
async fn open(app: &TestApp, token: &str) -> Raw {
    let key = format!("Sec-WebSocket-Key: {SAMPLE_KEY}");
    let mut headers = UPGRADE.to_vec();
    headers.push(&key);
    let reply = handshake(app, "GET", &format!("/ws?token={token}"), &headers).await;
    assert_eq!(reply.status, 101, "{}", reply.head);
    reply.raw
}

impl Raw {
    /// Reads more; false at end of stream (or a reset).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0; 16 * 1024];
        let read = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
            .await
            .expect("the server answers in time");
        match read {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next frame from the server; `None` once the connection is closed.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.parse() {
                return Some(frame);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    fn parse(&mut self) -> Option<Frame> {
        let b = &self.buf;
        if b.len() < 2 {
            return None;
        }
        let (mut at, len) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (4, u16::from_be_bytes([b[2], b[3]]) as usize),
            127 if b.len() >= 10 => (
                10,
                u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
            ),
            126 | 127 => return None,
            n => (2, n as usize),
        };
        let masked = b[1] & 0x80 != 0;
        if masked {
            at += 4;
        }
        if b.len() < at + len {
            return None;
        }
        let frame = Frame {
            fin: b[0] & 0x80 != 0,
            op: b[0] & 0x0f,
            masked,
            payload: b[at..at + len].to_vec(),
        };
        self.buf.drain(..at + len);
        Some(frame)
    }

    /// The next frame other than a server ping.
    async fn next_not_ping(&mut self) -> Frame {
        loop {
            let frame = self.next().await.expect("a frame before the end");
            if frame.op != PING {
                return frame;
            }
        }
    }

    /// The next JSON text message.
    async fn json(&mut self) -> Value {
        let frame = self.next_not_ping().await;
        assert_eq!(frame.op, TEXT, "expected a text frame, got {frame:?}");
        serde_json::from_slice(&frame.payload).unwrap()
    }

    /// Reads up to the server's close frame and returns its code (`None`: an empty close frame).
    async fn close_code(&mut self) -> Option<u16> {
        loop {
            let frame = self
                .next()
                .await
                .expect("a close frame before the connection ends");
            if frame.op == CLOSE {
                assert!(frame.fin && !frame.masked);
                if frame.payload.len() > 2 {
                    std::str::from_utf8(&frame.payload[2..]).expect("a UTF-8 close reason");
                }
                return (frame.payload.len() >= 2)
                    .then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
            }
        }
    }

    /// Sends `bytes` and expects the connection to fail with `code`.
    async fn fails_with(app: &TestApp, token: &str, bytes: &[u8], code: u16, case: &str) {
        let mut raw = open(app, token).await;
        raw.send(bytes).await;
        assert_eq!(raw.close_code().await, Some(code), "case: {case}");
        assert!(
            raw.next().await.is_none(),
            "nothing after the close frame: {case}"
        );
    }
}

async fn app_and_token() -> (TestApp, String) {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("conformance").await;
    (app, token)
}

#[tokio::test]
async fn framing_fragmentation_and_control_frames() {
    let (app, token) = app_and_token().await;
    let mut raw = open(&app, &token).await;

    // Payload lengths in each of the three encodings, up to the limit itself.
    for len in [PING_MESSAGE.len(), 125, 126, 0xffff, 0x10000, MAX_MESSAGE] {
        raw.send(&frame(TEXT, true, &padded_ping(len))).await;
        assert_eq!(raw.json().await["type"], "pong", "length {len}");
    }
    // Server frames are never masked.
    raw.send(&frame(TEXT, true, PING_MESSAGE)).await;
    let reply = raw.next_not_ping().await;
    assert!(reply.fin && !reply.masked && reply.op == TEXT);

    // A ping's payload comes back in the pong, up to the 125 bytes a control frame may carry.
    for payload in [&b""[..], b"hello", &[0xfe; 125]] {
        raw.send(&frame(PING, true, payload)).await;
        let pong = raw.next_not_ping().await;
        assert_eq!((pong.op, pong.payload.as_slice()), (PONG, payload));
    }
    // Unsolicited pongs are ignored.
    raw.send(&frame(PONG, true, b"unasked")).await;

    // A message in three fragments, with control frames between them, in one write and byte by byte.
    let mut wire = frame(TEXT, false, &PING_MESSAGE[..4]);
    wire.extend(frame(PING, true, b"between"));
    wire.extend(frame(CONTINUATION, false, &PING_MESSAGE[4..9]));
    wire.extend(frame(PONG, true, b""));
    wire.extend(frame(CONTINUATION, true, &PING_MESSAGE[9..]));
    for split in [false, true] {
        if split {
            for byte in &wire {
                raw.send(std::slice::from_ref(byte)).await;
            }
        } else {
            raw.send(&wire).await;
        }
        let pong = raw.next_not_ping().await;
        assert_eq!((pong.op, pong.payload.as_slice()), (PONG, &b"between"[..]));
        assert_eq!(raw.json().await["type"], "pong");
    }
    // Empty fragments are fragments too.
    let mut wire = frame(TEXT, false, b"");
    wire.extend(frame(CONTINUATION, false, PING_MESSAGE));
    wire.extend(frame(CONTINUATION, true, b""));
    raw.send(&wire).await;
    assert_eq!(raw.json().await["type"], "pong");

    // Binary messages, whole or fragmented, are answered with the error frame.
    raw.send(&frame(BINARY, true, &[0, 1, 2])).await;
    assert_eq!(raw.json().await["data"]["error"], "不支持二进制消息");
    let mut wire = frame(BINARY, false, &[0]);
    wire.extend(frame(CONTINUATION, true, &[1]));
    raw.send(&wire).await;
    assert_eq!(raw.json().await["data"]["error"], "不支持二进制消息");

    // A clean close is answered with the peer's code.
    raw.send(&frame(CLOSE, true, &close_payload(1000, b"bye")))
        .await;
    assert_eq!(raw.close_code().await, Some(1000));
    assert!(raw.next().await.is_none());
}

#[tokio::test]
async fn protocol_violations_fail_the_connection_with_1002() {
    let (app, token) = app_and_token().await;
    let mut reserved = frame(TEXT, true, PING_MESSAGE);
    reserved[0] |= 0x40;
    let mut reserved_on_ping = frame(PING, true, b"");
    reserved_on_ping[0] |= 0x10;
    let mut unmasked = vec![0x81, PING_MESSAGE.len() as u8];
    unmasked.extend_from_slice(PING_MESSAGE);
    let mut restarted = frame(TEXT, false, b"{");
    restarted.extend(frame(TEXT, true, b"}"));
    let mut long_ping = frame(PING, true, &[0; 126]);
    long_ping.truncate(long_ping.len() - 1);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("reserved bit on a text frame", reserved),
        ("reserved bit on a ping", reserved_on_ping),
        ("an unmasked client frame", unmasked),
        ("reserved data opcode 3", frame(0x3, true, b"")),
        ("reserved control opcode 11", frame(0xB, true, b"")),
        (
            "a continuation with nothing to continue",
            frame(CONTINUATION, true, b"x"),
        ),
        ("a new message inside a fragmented one", restarted),
        ("a fragmented ping", frame(PING, false, b"x")),
        (
            "a fragmented close",
            frame(CLOSE, false, &close_payload(1000, b"")),
        ),
        ("a ping over 125 bytes (refused at its header)", long_ping),
        ("a close frame of one byte", frame(CLOSE, true, &[0x03])),
    ];
    for (case, bytes) in &cases {
        Raw::fails_with(&app, &token, bytes, 1002, case).await;
    }
    // Close codes that must not be sent (RFC 6455 §7.4.1) or that are not defined.
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        let bytes = frame(CLOSE, true, &close_payload(code, b""));
        Raw::fails_with(&app, &token, &bytes, 1002, &format!("close code {code}")).await;
    }
    // Allowed ones are echoed.
    for code in [1000, 1001, 1003, 1007, 1011, 3000, 4999] {
        let mut raw = open(&app, &token).await;
        raw.send(&frame(CLOSE, true, &close_payload(code, b"ok")))
            .await;
        assert_eq!(raw.close_code().await, Some(code), "close code {code}");
    }
    // An empty close frame is answered with an empty one.
    let mut raw = open(&app, &token).await;
    raw.send(&frame(CLOSE, true, b"")).await;
    assert_eq!(raw.close_code().await, None);
}

#[tokio::test]
async fn utf8_is_checked_per_message_and_broken_utf8_fails_with_1007() {
    let (app, token) = app_and_token().await;
    let mut raw = open(&app, &token).await;
    // "κόσμε" and a four-byte character split across fragments in the middle of their code points.
    let message = r#"{"type":"ping","data":"κόσμε 𝄞"}"#.as_bytes();
    let cut = message.iter().position(|b| *b == 0xce).unwrap() + 1;
    let cut2 = message.iter().position(|b| *b == 0xf0).unwrap() + 2;
    let mut wire = frame(TEXT, false, &message[..cut]);
    wire.extend(frame(CONTINUATION, false, &message[cut..cut2]));
    wire.extend(frame(CONTINUATION, true, &message[cut2..]));
    raw.send(&wire).await;
    assert_eq!(raw.json().await["type"], "pong");
    // A close reason in UTF-8 is fine.
    raw.send(&frame(CLOSE, true, &close_payload(1000, "再见".as_bytes())))
        .await;
    assert_eq!(raw.close_code().await, Some(1000));

    let mut split_bad = frame(TEXT, false, b"{\"a\":\"\xce");
    split_bad.extend(frame(CONTINUATION, true, b"\xff\"}"));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("invalid bytes", frame(TEXT, true, b"\xff\xfe")),
        ("an overlong encoding", frame(TEXT, true, b"\xc0\xaf")),
        ("a surrogate", frame(TEXT, true, b"\xed\xa0\x80")),
        ("above U+10FFFF", frame(TEXT, true, b"\xf4\x90\x80\x80")),
        (
            "a truncated sequence at the end",
            frame(TEXT, true, b"ok\xe2\x82"),
        ),
        ("invalid across fragments", split_bad),
        (
            "an invalid close reason",
            frame(CLOSE, true, &close_payload(1000, b"\xce\xba\xff")),
        ),
    ];
    for (case, bytes) in &cases {
        Raw::fails_with(&app, &token, bytes, 1007, case).await;
    }
}

#[tokio::test]
async fn limits_fail_with_1009_at_the_header_without_buffering_the_payload() {
    let (app, token) = app_and_token().await;
    let mut over = frame(CONTINUATION, true, b"x");
    over.splice(0..0, frame(TEXT, false, &padded_ping(MAX_MESSAGE)));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "one byte over the limit",
            frame(TEXT, true, &padded_ping(MAX_MESSAGE + 1)),
        ),
        ("fragments adding up to more than the limit", over),
    ];
    for (case, bytes) in &cases {
        Raw::fails_with(&app, &token, bytes, 1009, case).await;
    }
    // Headers declaring more than the limit are refused before their payload: the server answers
    // while almost none of it has been sent.
    for len in [
        MAX_MESSAGE as u64 + 1,
        1 << 32,
        1 << 62,
        u64::MAX >> 1,
        u64::MAX,
    ] {
        let mut bytes = header(BINARY, len);
        bytes.extend_from_slice(&[0x55; 100]);
        Raw::fails_with(
            &app,
            &token,
            &bytes,
            1009,
            &format!("a header of {len} bytes"),
        )
        .await;
    }
    // The same for a continuation whose header alone takes the message over the limit.
    let mut bytes = frame(TEXT, false, &padded_ping(MAX_MESSAGE - 10));
    bytes.extend(header(CONTINUATION, 11));
    Raw::fails_with(&app, &token, &bytes, 1009, "a continuation header").await;

    // A peer that keeps streaming after such a header is cut off, not buffered: the close frame
    // comes while the client still writes.
    let mut raw = open(&app, &token).await;
    raw.send(&header(TEXT, 1 << 62)).await;
    let (mut read, mut write) = raw.stream.into_split();
    let writer = tokio::spawn(async move {
        let chunk = vec![0x55; 64 * 1024];
        // Up to 1 GiB; the server's close ends it much earlier with an error.
        for _ in 0..16 * 1024 {
            if write.write_all(&chunk).await.is_err() {
                return true;
            }
        }
        false
    });
    let mut first = [0; 2];
    let got = tokio::time::timeout(Duration::from_secs(20), read.read_exact(&mut first)).await;
    // The close frame may be lost to the reset that drops the unread stream; either ends it.
    if let Ok(Ok(_)) = got {
        assert_eq!(first[0], 0x88, "a close frame");
    }
    assert!(
        tokio::time::timeout(Duration::from_secs(20), writer)
            .await
            .expect("the server stops the stream")
            .unwrap(),
        "the server stops taking the stream"
    );
}

#[tokio::test]
async fn frames_before_a_bad_one_in_the_same_read_are_handled() {
    let (app, token) = app_and_token().await;
    let mut raw = open(&app, &token).await;
    let mut wire = frame(TEXT, true, PING_MESSAGE);
    wire.extend(frame(PING, true, b"p"));
    wire.extend(frame(CONTINUATION, true, b"stray"));
    raw.send(&wire).await;
    assert_eq!(raw.json().await["type"], "pong");
    let pong = raw.next_not_ping().await;
    assert_eq!((pong.op, pong.payload.as_slice()), (PONG, &b"p"[..]));
    assert_eq!(raw.close_code().await, Some(1002));
}

#[tokio::test]
async fn the_handshake_follows_rfc_6455() {
    let (app, token) = app_and_token().await;
    let target = format!("/ws?token={token}");
    let key = format!("Sec-WebSocket-Key: {SAMPLE_KEY}");
    let with = |extra: &[&str]| {
        let mut headers: Vec<String> = UPGRADE.iter().map(|h| (*h).to_owned()).collect();
        headers.extend(extra.iter().map(|h| (*h).to_owned()));
        headers
    };
    let send = |method: &'static str, headers: Vec<String>| {
        let app = &app;
        let target = target.clone();
        async move {
            let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
            handshake(app, method, &target, &headers).await
        }
    };

    let ok = send("GET", with(&[&key])).await;
    assert_eq!(ok.status, 101);
    assert_eq!(ok.header("sec-websocket-accept"), vec![SAMPLE_ACCEPT]);
    assert!(
        ok.header("upgrade")
            .iter()
            .any(|v| v.eq_ignore_ascii_case("websocket"))
    );

    // Another version: 426 naming the one spoken here (RFC 6455 §4.4).
    for version in ["8", "14", "13, 8"] {
        let mut headers = vec![
            "Upgrade: websocket".to_owned(),
            "Connection: Upgrade".to_owned(),
            key.clone(),
        ];
        headers.push(format!("Sec-WebSocket-Version: {version}"));
        let reply = send("GET", headers).await;
        assert_eq!(reply.status, 426, "version {version}: {}", reply.head);
        assert_eq!(reply.header("sec-websocket-version"), vec!["13"]);
    }
    let bad_keys = [
        with(&[]),
        with(&[&key, "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw=="]),
        with(&["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"]),
        with(&["Sec-WebSocket-Key: not base64 at all!!!!!!!"]),
    ];
    for (i, headers) in bad_keys.into_iter().enumerate() {
        let reply = send("GET", headers).await;
        assert_eq!(reply.status, 400, "bad key case {i}: {}", reply.head);
    }
    let reply = send(
        "GET",
        vec![
            "Connection: Upgrade".to_owned(),
            key.clone(),
            "Sec-WebSocket-Version: 13".to_owned(),
        ],
    )
    .await;
    assert_eq!(reply.status, 400, "no Upgrade header: {}", reply.head);
    let reply = send("POST", with(&[&key])).await;
    assert_eq!(reply.status, 405, "{}", reply.head);
    assert_eq!(reply.header("allow"), vec!["GET"]);
}
