//! One upgraded WebSocket connection's transport: the TCP stream actix-http hands over after the
//! handshake, with the frame format of actix-http's `ws` module.
//!
//! Why not actix-ws: there, actix-http's connection dispatcher lives as long as the socket and keeps an
//! 8 KiB read and an 8 KiB write buffer the whole time, and every frame waits in a queue for the
//! dispatcher's task to wake up and copy it out. Here a frame is encoded once (a broadcast shares one
//! buffer between all its sockets) and written to the socket by whichever thread delivers it; only
//! what the kernel does not take at once is queued, up to [`MAX_QUEUED_BYTES`], and a peer that lets
//! the queue fill is cut off. Nothing is buffered on the read side while no frame is arriving.

use std::collections::VecDeque;
use std::io;
use std::sync::Mutex;

use actix_http::ws::{CloseCode, CloseReason, OpCode, Parser, ProtocolError};
use actix_web::web::{Bytes, BytesMut};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Largest message a client may send, whole or in fragments.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Output a socket may have waiting for its peer before it counts as too slow.
pub const MAX_QUEUED_BYTES: usize = 256 * 1024;
/// How much is read in one go before the frames so far are handled.
const READ_CHUNK: usize = 4 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// A close frame is queued: nothing more is sent, and the task ends once it is out.
    Closing,
    /// The peer is gone or too slow: the task ends without writing more.
    Dead,
}

struct Outbox {
    queued: VecDeque<Bytes>,
    queued_bytes: usize,
    phase: Phase,
}

/// The write side is shared (the hub writes from any thread); the read side belongs to the connection's
/// task.
pub struct Socket {
    stream: TcpStream,
    outbox: Mutex<Outbox>,
    /// Tells the connection's task that output waits for the peer, or that the socket must go.
    wake: Notify,
}

/// Why the peer is being cut off, as the log tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The socket is closing or gone already.
    Gone,
    /// This frame overflowed the queue: the socket is now gone.
    TooSlow,
}

impl Socket {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            outbox: Mutex::new(Outbox {
                queued: VecDeque::new(),
                queued_bytes: 0,
                phase: Phase::Open,
            }),
            wake: Notify::new(),
        }
    }

    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        // A panic while holding the lock leaves plain data behind, still consistent.
        self.outbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends an encoded frame without waiting: written at once when the kernel takes it, else queued.
    pub fn send(&self, frame: Bytes) -> Result<(), Refused> {
        let mut out = self.outbox();
        if out.phase != Phase::Open {
            return Err(Refused::Gone);
        }
        self.enqueue(&mut out, frame)
    }

    fn enqueue(&self, out: &mut Outbox, frame: Bytes) -> Result<(), Refused> {
        if out.queued.is_empty() {
            match self.stream.try_write(&frame) {
                Ok(n) if n == frame.len() => return Ok(()),
                Ok(n) => return self.queue(out, frame.slice(n..)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    out.phase = Phase::Dead;
                    self.wake.notify_one();
                    return Err(Refused::Gone);
                }
            }
        }
        self.queue(out, frame)
    }

    fn queue(&self, out: &mut Outbox, rest: Bytes) -> Result<(), Refused> {
        if out.queued_bytes + rest.len() > MAX_QUEUED_BYTES {
            out.phase = Phase::Dead;
            out.queued.clear();
            out.queued_bytes = 0;
            self.wake.notify_one();
            return Err(Refused::TooSlow);
        }
        out.queued_bytes += rest.len();
        out.queued.push_back(rest);
        self.wake.notify_one();
        Ok(())
    }

    /// Sends a text message.
    pub fn send_text(&self, text: &str) -> Result<(), Refused> {
        self.send(encode(OpCode::Text, text.as_bytes()))
    }

    /// Queues a close frame after what is already queued; the socket sends nothing after it.
    pub fn close(&self, reason: Option<CloseReason>) {
        let mut out = self.outbox();
        if out.phase != Phase::Open {
            return;
        }
        let mut frame = BytesMut::new();
        Parser::write_close(&mut frame, reason, false);
        // Best effort: a peer too slow to take it is cut off all the same.
        let _ = self.enqueue(&mut out, frame.freeze());
        if out.phase == Phase::Open {
            out.phase = Phase::Closing;
        }
        self.wake.notify_one();
    }

    /// Resolves when the hub or a send asks the task to act: queued output, a close or a kill.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Writes out what is queued, waiting for the peer as needed. `Ok(true)`: the socket is finished
    /// (closed after its close frame, or dead) and the task should end.
    pub async fn flush(&self) -> io::Result<bool> {
        loop {
            {
                let mut out = self.outbox();
                loop {
                    if out.phase == Phase::Dead {
                        return Ok(true);
                    }
                    let out = &mut *out;
                    let Some(front) = out.queued.front_mut() else {
                        return Ok(out.phase == Phase::Closing);
                    };
                    match self.stream.try_write(front) {
                        Ok(n) => {
                            out.queued_bytes -= n;
                            if n == front.len() {
                                out.queued.pop_front();
                            } else {
                                let _ = front.split_to(n);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            out.phase = Phase::Dead;
                            return Err(e);
                        }
                    }
                }
            }
            // A kill while waiting ends the wait: the loop sees it at the top.
            tokio::select! {
                writable = std::future::poll_fn(|cx| self.stream.poll_write_ready(cx)) => writable?,
                _ = self.wake.notified() => {}
            }
        }
    }

    /// Resolves when the peer has sent something (or hung up).
    pub async fn readable(&self) -> io::Result<()> {
        // `poll_read_ready`, not `readable()`: it takes the stream's one reader slot, where actix-http's
        // dispatcher left its waker while reading the handshake. That waker is the last reference to
        // the dispatcher's finished task (6.7 KB), which an idle socket would otherwise keep forever.
        std::future::poll_fn(|cx| self.stream.poll_read_ready(cx)).await
    }

    /// Reads what the peer sent so far, up to about [`READ_CHUNK`] past what `buf` holds. `Ok(false)`:
    /// the peer hung up.
    pub fn read_available(&self, buf: &mut BytesMut) -> io::Result<bool> {
        let limit = buf.len() + READ_CHUNK;
        while buf.len() < limit {
            buf.reserve(READ_CHUNK);
            match self.stream.try_read_buf(buf) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

/// One encoded server frame (servers do not mask).
pub fn encode(op: OpCode, payload: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(payload.len() + 10);
    Parser::write_message(&mut frame, payload, op, true, false);
    frame.freeze()
}

/// A whole message from the peer, fragments joined.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Checked UTF-8.
    Text(String),
    Binary,
    Ping(Bytes),
    Pong,
    Close(Option<CloseReason>),
}

/// How a read ended, when it ended the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The peer hung up (or the stream failed): nothing more can be said to it.
    HungUp,
    /// The peer broke the protocol: the connection fails with this close code (RFC 6455 §7.1.7),
    /// after the whole messages that came before the fault are handled.
    Failed(CloseCode),
}

/// What one read brought: the whole messages, in order, then maybe the end of the connection.
#[derive(Debug, Default)]
pub struct Batch {
    pub messages: Vec<Received>,
    pub end: Option<End>,
}

/// Decodes the peer's frames with actix-http's [`Parser`] and joins fragmented messages, keeping only
/// what an unfinished frame or message needs between reads.
///
/// The parser only checks a frame's size once all of it has arrived, so a header declaring 2^62 bytes
/// would have the rest buffered for as long as the peer keeps sending. The reader therefore looks at the
/// declared length of a frame still incomplete (the 2–10 bytes of its header) and fails the connection
/// with 1009 as soon as the frame, or the message it continues, cannot fit: what waits between reads
/// stays below one frame of [`MAX_MESSAGE_BYTES`].
#[derive(Default)]
pub struct Reader {
    /// Bytes of a frame not complete yet; empty (and unallocated) between frames.
    pending: BytesMut,
    /// A fragmented message so far: whether it is text, and its bytes.
    fragments: Option<(bool, BytesMut)>,
}

/// Largest frame header: 2 bytes, 8 of extended length, 4 of mask.
const MAX_HEADER_BYTES: usize = 14;
/// Largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: u64 = 125;

/// The opcode nibble and the payload length declared by the frame header at the start of `buf`, once
/// enough of the header is there. Only the length field is read; the frame is the parser's.
fn declared_length(buf: &[u8]) -> Option<(u8, u64)> {
    let (first, second) = (*buf.first()?, *buf.get(1)?);
    let len = match second & 0x7F {
        126 => u64::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
        127 => u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?),
        n => u64::from(n),
    };
    Some((first & 0x0F, len))
}

impl Reader {
    /// Starts with bytes that arrived before the connection was handed over.
    pub fn with_early_bytes(early: BytesMut) -> Self {
        Self {
            pending: early,
            fragments: None,
        }
    }

    /// Reads what `socket` has and decodes the whole messages in it.
    pub fn read(&mut self, socket: &Socket) -> Batch {
        let mut buf = std::mem::take(&mut self.pending);
        let hung_up = !matches!(socket.read_available(&mut buf), Ok(true));
        let mut batch = self.decode_kept(buf);
        if hung_up && batch.end.is_none() {
            batch.end = Some(End::HungUp);
        }
        batch
    }

    /// The whole messages among the bytes kept from earlier (those that came with the handshake).
    pub fn decode_pending(&mut self) -> Batch {
        let buf = std::mem::take(&mut self.pending);
        self.decode_kept(buf)
    }

    fn decode_kept(&mut self, mut buf: BytesMut) -> Batch {
        let mut batch = Batch::default();
        batch.end = self.decode(&mut buf, &mut batch.messages).err();
        if !buf.is_empty() && batch.end.is_none() {
            self.pending = buf;
        }
        batch
    }

    /// Moves the whole messages in `buf` to `messages`, leaving an incomplete frame in `buf`. An error
    /// ends the connection; the messages before it stay in `messages`.
    pub fn decode(&mut self, buf: &mut BytesMut, messages: &mut Vec<Received>) -> Result<(), End> {
        loop {
            let parsed = Parser::parse(buf, true, MAX_MESSAGE_BYTES).map_err(|e| match e {
                ProtocolError::Overflow => End::Failed(CloseCode::Size),
                _ => End::Failed(CloseCode::Protocol),
            })?;
            let Some((fin, op, payload)) = parsed else {
                return self.check_incomplete(buf);
            };
            let payload = payload.unwrap_or_default();
            if let Some(message) = self.join(fin, op, payload)? {
                messages.push(message);
            }
        }
    }

    /// Fails early a frame still arriving that could never be accepted.
    fn check_incomplete(&self, buf: &BytesMut) -> Result<(), End> {
        let Some((op, len)) = declared_length(buf) else {
            return Ok(());
        };
        if op & 0x08 != 0 && len > MAX_CONTROL_PAYLOAD {
            return Err(End::Failed(CloseCode::Protocol));
        }
        let so_far = match (&self.fragments, op) {
            (Some((_, so_far)), 0) => so_far.len() as u64,
            _ => 0,
        };
        if len.saturating_add(so_far) > MAX_MESSAGE_BYTES as u64
            // Cannot happen after the check above; a last guard on what is kept between reads.
            || buf.len() > MAX_MESSAGE_BYTES + MAX_HEADER_BYTES
        {
            return Err(End::Failed(CloseCode::Size));
        }
        Ok(())
    }

    fn join(&mut self, fin: bool, op: OpCode, payload: BytesMut) -> Result<Option<Received>, End> {
        let message = match (op, fin) {
            (OpCode::Ping, true) => Received::Ping(payload.freeze()),
            (OpCode::Pong, true) => Received::Pong,
            (OpCode::Close, true) => Received::Close(close_reason(&payload)?),
            (OpCode::Text | OpCode::Binary, _) if self.fragments.is_some() => {
                return Err(End::Failed(CloseCode::Protocol));
            }
            (OpCode::Text, true) => Received::Text(text(payload)?),
            (OpCode::Binary, true) => Received::Binary,
            (OpCode::Text | OpCode::Binary, false) => {
                self.fragments = Some((op == OpCode::Text, payload));
                return Ok(None);
            }
            (OpCode::Continue, _) => {
                let Some((_, so_far)) = self.fragments.as_mut() else {
                    return Err(End::Failed(CloseCode::Protocol));
                };
                if so_far.len() + payload.len() > MAX_MESSAGE_BYTES {
                    return Err(End::Failed(CloseCode::Size));
                }
                so_far.extend_from_slice(&payload);
                if !fin {
                    return Ok(None);
                }
                match self.fragments.take() {
                    Some((true, whole)) => Received::Text(text(whole)?),
                    _ => Received::Binary,
                }
            }
            // A fragmented control frame, or an opcode the parser lets through as `Bad`.
            _ => return Err(End::Failed(CloseCode::Protocol)),
        };
        Ok(Some(message))
    }
}

/// A text message's payload, which must be UTF-8 (else 1007, RFC 6455 §8.1).
fn text(payload: BytesMut) -> Result<String, End> {
    String::from_utf8(payload.into()).map_err(|_| End::Failed(CloseCode::Invalid))
}

/// A close frame's code and reason: an invalid reason is 1007, an invalid code 1002.
fn close_reason(payload: &[u8]) -> Result<Option<CloseReason>, End> {
    if payload.len() > 2 && std::str::from_utf8(&payload[2..]).is_err() {
        return Err(End::Failed(CloseCode::Invalid));
    }
    Parser::try_parse_close_payload(payload).map_err(|_| End::Failed(CloseCode::Protocol))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as a client sends it (masked).
    fn client_frame(op: OpCode, fin: bool, payload: &[u8]) -> BytesMut {
        let mut buf = BytesMut::new();
        Parser::write_message(&mut buf, payload, op, fin, true);
        buf
    }

    fn decode(reader: &mut Reader, buf: &mut BytesMut) -> (Vec<Received>, Result<(), End>) {
        let mut messages = Vec::new();
        let result = reader.decode(buf, &mut messages);
        (messages, result)
    }

    #[test]
    fn fragments_are_joined_and_a_partial_frame_waits_for_the_rest() {
        let mut reader = Reader::default();
        let mut wire = client_frame(OpCode::Text, false, b"hel");
        wire.extend_from_slice(&client_frame(OpCode::Ping, true, b"p"));
        wire.extend_from_slice(&client_frame(OpCode::Continue, true, b"lo"));
        let whole = wire.split();
        // Everything but the last three bytes first.
        let mut buf = BytesMut::from(&whole[..whole.len() - 3]);
        let (first, result) = decode(&mut reader, &mut buf);
        assert_eq!(result, Ok(()));
        assert_eq!(first, vec![Received::Ping(Bytes::from_static(b"p"))]);
        assert!(!buf.is_empty(), "the partial frame stays");
        buf.extend_from_slice(&whole[whole.len() - 3..]);
        let (rest, result) = decode(&mut reader, &mut buf);
        assert_eq!(result, Ok(()));
        assert_eq!(rest, vec![Received::Text("hello".into())]);
        assert!(buf.is_empty());
    }

    #[test]
    fn oversized_frames_and_messages_fail_with_1009() {
        let too_big = End::Failed(CloseCode::Size);
        let mut big = client_frame(OpCode::Text, true, &vec![b'x'; MAX_MESSAGE_BYTES + 1]);
        assert_eq!(decode(&mut Reader::default(), &mut big).1, Err(too_big));

        let mut parts = client_frame(OpCode::Text, false, &vec![b'x'; MAX_MESSAGE_BYTES]);
        parts.extend_from_slice(&client_frame(OpCode::Continue, true, b"y"));
        assert_eq!(decode(&mut Reader::default(), &mut parts).1, Err(too_big));

        // Only the header of a huge frame has arrived: refused before any of its payload.
        let header = client_frame(OpCode::Binary, true, &vec![0; 70_000]);
        let mut buf = BytesMut::from(&header[..14]);
        assert_eq!(decode(&mut Reader::default(), &mut buf).1, Err(too_big));
    }

    #[test]
    fn protocol_violations_fail_with_1002_and_bad_utf8_with_1007() {
        let protocol = Err(End::Failed(CloseCode::Protocol));
        let mut unmasked = BytesMut::new();
        Parser::write_message(&mut unmasked, b"hi", OpCode::Text, true, false);
        assert_eq!(decode(&mut Reader::default(), &mut unmasked).1, protocol);

        let mut stray = client_frame(OpCode::Continue, true, b"x");
        assert_eq!(decode(&mut Reader::default(), &mut stray).1, protocol);

        let mut reserved = client_frame(OpCode::Text, true, b"x");
        reserved[0] |= 0x40;
        assert_eq!(decode(&mut Reader::default(), &mut reserved).1, protocol);

        let mut bad_text = client_frame(OpCode::Text, true, &[0xff, 0xfe]);
        assert_eq!(
            decode(&mut Reader::default(), &mut bad_text).1,
            Err(End::Failed(CloseCode::Invalid))
        );
        let mut bad_reason = client_frame(OpCode::Close, true, &[0x03, 0xe8, 0xff]);
        assert_eq!(
            decode(&mut Reader::default(), &mut bad_reason).1,
            Err(End::Failed(CloseCode::Invalid))
        );
    }

    #[test]
    fn messages_before_a_fault_are_kept() {
        let mut wire = client_frame(OpCode::Text, true, b"first");
        wire.extend_from_slice(&client_frame(OpCode::Continue, true, b"stray"));
        let (messages, result) = decode(&mut Reader::default(), &mut wire);
        assert_eq!(messages, vec![Received::Text("first".into())]);
        assert_eq!(result, Err(End::Failed(CloseCode::Protocol)));
    }
}
