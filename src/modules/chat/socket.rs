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

use actix_codec::Decoder;
use actix_http::ws::{CloseReason, Codec, Frame, Item, OpCode, Parser, ProtocolError};
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
    Text(Bytes),
    Binary,
    Ping(Bytes),
    Pong,
    Close(Option<CloseReason>),
}

/// Decodes the peer's frames and joins fragmented messages, keeping only what an unfinished frame or
/// message needs between reads.
pub struct Reader {
    codec: Codec,
    /// Bytes of a frame not complete yet; empty (and unallocated) between frames.
    pending: BytesMut,
    /// A fragmented message so far: whether it is text, and its bytes.
    fragments: Option<(bool, BytesMut)>,
}

impl Default for Reader {
    fn default() -> Self {
        Self {
            codec: Codec::new().max_size(MAX_MESSAGE_BYTES),
            pending: BytesMut::new(),
            fragments: None,
        }
    }
}

impl Reader {
    /// Starts with bytes that arrived before the connection was handed over.
    pub fn with_early_bytes(early: BytesMut) -> Self {
        Self {
            pending: early,
            ..Self::default()
        }
    }

    /// Reads what `socket` has and returns the whole messages in it. `Ok(None)`: the peer hung up.
    pub fn read(&mut self, socket: &Socket) -> Result<Option<Vec<Received>>, ProtocolError> {
        let mut buf = std::mem::take(&mut self.pending);
        let open = socket.read_available(&mut buf)?;
        let messages = self.decode(&mut buf)?;
        if !buf.is_empty() {
            self.pending = buf;
        }
        Ok((open || !messages.is_empty()).then_some(messages))
    }

    /// The whole messages among the bytes kept from earlier (those that came with the handshake).
    pub fn decode_pending(&mut self) -> Result<Vec<Received>, ProtocolError> {
        let mut buf = std::mem::take(&mut self.pending);
        let messages = self.decode(&mut buf)?;
        if !buf.is_empty() {
            self.pending = buf;
        }
        Ok(messages)
    }

    /// The whole messages in `buf`, leaving an incomplete frame in it.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Vec<Received>, ProtocolError> {
        let mut messages = Vec::new();
        while let Some(frame) = self.codec.decode(buf)? {
            if let Some(message) = self.join(frame)? {
                messages.push(message);
            }
        }
        Ok(messages)
    }

    fn join(&mut self, frame: Frame) -> Result<Option<Received>, ProtocolError> {
        Ok(Some(match frame {
            Frame::Text(text) => Received::Text(text),
            Frame::Binary(_) => Received::Binary,
            Frame::Ping(bytes) => Received::Ping(bytes),
            Frame::Pong(_) => Received::Pong,
            Frame::Close(reason) => Received::Close(reason),
            Frame::Continuation(item) => return self.continue_message(item),
        }))
    }

    fn continue_message(&mut self, item: Item) -> Result<Option<Received>, ProtocolError> {
        let (chunk, first, last) = match item {
            Item::FirstText(b) => (b, Some(true), false),
            Item::FirstBinary(b) => (b, Some(false), false),
            Item::Continue(b) => (b, None, false),
            Item::Last(b) => (b, None, true),
        };
        match (first, self.fragments.as_mut()) {
            (Some(_), Some(_)) => return Err(ProtocolError::ContinuationStarted),
            (Some(is_text), None) => self.fragments = Some((is_text, BytesMut::from(&chunk[..]))),
            (None, None) => return Err(ProtocolError::ContinuationNotStarted),
            (None, Some((_, so_far))) => {
                if so_far.len() + chunk.len() > MAX_MESSAGE_BYTES {
                    return Err(ProtocolError::Overflow);
                }
                so_far.extend_from_slice(&chunk);
            }
        }
        if !last {
            return Ok(None);
        }
        let (is_text, whole) = self.fragments.take().expect("fragments started above");
        Ok(Some(if is_text {
            Received::Text(whole.freeze())
        } else {
            Received::Binary
        }))
    }
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

    #[test]
    fn fragments_are_joined_and_a_partial_frame_waits_for_the_rest() {
        let mut reader = Reader::default();
        let mut wire = client_frame(OpCode::Text, false, b"hel");
        wire.extend_from_slice(&client_frame(OpCode::Ping, true, b"p"));
        wire.extend_from_slice(&client_frame(OpCode::Continue, true, b"lo"));
        let whole = wire.split();
        // Everything but the last three bytes first.
        let mut buf = BytesMut::from(&whole[..whole.len() - 3]);
        let first = reader.decode(&mut buf).unwrap();
        assert_eq!(first, vec![Received::Ping(Bytes::from_static(b"p"))]);
        assert!(!buf.is_empty(), "the partial frame stays");
        buf.extend_from_slice(&whole[whole.len() - 3..]);
        let rest = reader.decode(&mut buf).unwrap();
        assert_eq!(rest, vec![Received::Text(Bytes::from_static(b"hello"))]);
        assert!(buf.is_empty());
    }

    #[test]
    fn oversized_and_unmasked_frames_are_protocol_errors() {
        let mut reader = Reader::default();
        let mut big = client_frame(OpCode::Text, true, &vec![b'x'; MAX_MESSAGE_BYTES + 1]);
        assert!(reader.decode(&mut big).is_err());

        let mut reader = Reader::default();
        let mut parts = client_frame(OpCode::Text, false, &vec![b'x'; MAX_MESSAGE_BYTES]);
        parts.extend_from_slice(&client_frame(OpCode::Continue, true, b"y"));
        assert!(matches!(
            reader.decode(&mut parts),
            Err(ProtocolError::Overflow)
        ));

        let mut reader = Reader::default();
        let mut unmasked = BytesMut::new();
        Parser::write_message(&mut unmasked, b"hi", OpCode::Text, true, false);
        assert!(reader.decode(&mut unmasked).is_err());
    }

    #[test]
    fn a_continuation_without_a_start_is_refused() {
        let mut reader = Reader::default();
        let mut stray = client_frame(OpCode::Continue, true, b"x");
        assert!(matches!(
            reader.decode(&mut stray),
            Err(ProtocolError::ContinuationNotStarted)
        ));
    }
}
