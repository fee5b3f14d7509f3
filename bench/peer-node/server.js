// Node.js `ws` peer of MyChat's WebSocket server, for the fan-out and chat-relay benchmark.
//
// Same wire shapes as MyChat: sockets connect to /ws?token=… or /ws/chat/{session_id}?token=…,
// frames are {type, session_id, data}. There is no database: any non-empty token is accepted and
// maps to a user id ("u123" -> 123, anything else -> a hash), and the two sockets of a
// /ws/chat/{id} path are the session's parties. Messages are kept only as a per-session seq.
//
//   POST /broadcast {content}  -> a system_message frame to every socket (like MyChat's admin broadcast)
//   "message" frame            -> a message frame to every socket of the session, sender included (the ack)
//   "ping" frame               -> pong
//
// PORT (default 28090) serves both HTTP and the WebSocket upgrade.

'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');

const PORT = Number(process.env.PORT || 28090);
const PING_MS = 25000; // MyChat's ws_ping_interval_secs

const sessions = new Map(); // session_id -> { seq, sockets: Set }
let nextMessageId = 1;

function frame(type, sessionId, data) {
  return JSON.stringify({ type, session_id: sessionId, data });
}

function userIdOf(token) {
  const m = /^u(\d+)$/.exec(token);
  if (m) return Number(m[1]);
  let h = 0;
  for (const c of token) h = (h * 31 + c.charCodeAt(0)) | 0;
  return Math.abs(h);
}

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/broadcast') {
    let body = '';
    req.on('data', (c) => { body += c; if (body.length > 65536) req.destroy(); });
    req.on('end', () => {
      let content;
      try { content = JSON.parse(body).content; } catch (_) { content = undefined; }
      if (typeof content !== 'string' || content.trim() === '') {
        res.writeHead(400, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ code: 400, msg: '参数错误', data: null }));
        return;
      }
      const out = frame('system_message', 0, { content, created_at: new Date().toISOString() });
      for (const ws of wss.clients) {
        if (ws.readyState === 1) ws.send(out);
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ code: 200, msg: '广播成功', data: null }));
    });
    return;
  }
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ connections: wss.clients.size, sessions: sessions.size }));
    return;
  }
  res.writeHead(404, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ error: 'not found' }));
});

const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });

function refuse(socket, status, msg) {
  const body = JSON.stringify({ error: msg });
  socket.write(`HTTP/1.1 ${status} Refused\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  socket.destroy();
}

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://x');
  const token = url.searchParams.get('token');
  if (!token || token === 'null') return refuse(socket, 401, '缺少token');
  let sessionId = null;
  if (url.pathname !== '/ws') {
    const m = /^\/ws\/chat\/(\d+)$/.exec(url.pathname);
    if (!m) return refuse(socket, 404, 'not found');
    sessionId = Number(m[1]);
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.userId = userIdOf(token);
    ws.sessionId = null;
    ws.alive = true;
    wss.emit('connection', ws);
    if (sessionId !== null) join(ws, sessionId);
  });
});

function join(ws, sessionId) {
  let s = sessions.get(sessionId);
  if (!s) { s = { seq: 0, sockets: new Set() }; sessions.set(sessionId, s); }
  s.sockets.add(ws);
  ws.sessionId = sessionId;
  ws.send(frame('join_success', 0, { session_id: sessionId, status: 1, last_seq: s.seq }));
}

function onMessage(ws, sessionId, data) {
  const s = sessions.get(sessionId);
  if (!s || !s.sockets.has(ws)) {
    ws.send(frame('error', 0, { error: '会话不存在' }));
    return;
  }
  const content = data && typeof data.content === 'string' ? data.content : '';
  if (content.trim() === '') {
    ws.send(frame('error', 0, { error: '参数错误: content: 消息内容不能为空' }));
    return;
  }
  s.seq += 1;
  const id = nextMessageId++;
  const msg = {
    content,
    content_type: (data && data.content_type) || 'text',
    created_at: new Date().toISOString(),
    file_url: (data && data.file_url) || '',
    message_id: id,
    id,
    sender_id: ws.userId,
    seq: s.seq,
    client_msg_id: (data && data.client_msg_id) || null,
    session_id: sessionId,
  };
  const out = JSON.stringify({ type: 'message', session_id: sessionId, data: msg, payload: msg });
  for (const peer of s.sockets) {
    if (peer.readyState === 1) peer.send(out);
  }
}

wss.on('connection', (ws) => {
  ws.on('pong', () => { ws.alive = true; });
  ws.on('message', (raw, isBinary) => {
    ws.alive = true;
    if (isBinary) { ws.send(frame('error', 0, { error: '不支持二进制消息' })); return; }
    let f;
    try { f = JSON.parse(raw.toString()); } catch (_) { ws.send(frame('error', 0, { error: '消息格式错误' })); return; }
    const named = Number.isInteger(f.session_id) && f.session_id > 0 ? f.session_id : null;
    const sessionId = named || ws.sessionId;
    switch (f.type) {
      case 'ping': ws.send(frame('pong', 0, { timestamp: Math.floor(Date.now() / 1000) })); break;
      case 'join': if (sessionId) join(ws, sessionId); break;
      case 'message': onMessage(ws, sessionId, f.data || f.payload); break;
      default: ws.send(frame('error', 0, { error: '未知消息类型' }));
    }
  });
  ws.on('close', () => {
    if (ws.sessionId !== null) {
      const s = sessions.get(ws.sessionId);
      if (s) { s.sockets.delete(ws); if (s.sockets.size === 0) sessions.delete(ws.sessionId); }
    }
  });
  ws.on('error', () => {});
});

// Protocol pings like MyChat's, closing sockets that missed one.
const pinger = setInterval(() => {
  for (const ws of wss.clients) {
    if (!ws.alive) { ws.terminate(); continue; }
    ws.alive = false;
    ws.ping();
  }
}, PING_MS);
wss.on('close', () => clearInterval(pinger));

server.listen(PORT, '127.0.0.1', 4096, () => {
  console.log(`peer-node listening on 127.0.0.1:${PORT} (pid ${process.pid})`);
});
