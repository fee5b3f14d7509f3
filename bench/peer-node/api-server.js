// Node.js (fastify) peer of MyChat's user API, for the REST benchmark (bench/api.sh).
//
// It implements, on the same PostgreSQL schema that MyChat's migrations create, the two things the
// benchmark drives, with MyChat's wire shapes (envelope {code,msg,data}, error envelope {code,msg,error}):
//
//   GET  /api/counselor/list                    public directory: keyword/specialty/min_price/max_price
//                                               filters, sort_by/sort_order, page/page_size (≤ 100),
//                                               enabled counselors only, service_count/review_count from
//                                               counselor_statistics, data.counselors + data.list + total
//   POST /api/order/create                      JWT; a pending order priced from the counselor, its
//                                               timeline event and the statistics bump, in one transaction
//   POST /api/payment/create                    JWT; a sandbox payment for the buyer's pending order
//   POST /api/payment/sandbox/pay/:payment_no   the sandbox "pay" button: a HMAC-signed notification,
//                                               verified, then payment → paid and order → paid (with its
//                                               timeline event) in one transaction, at most once
//   GET  /api/payment/:id                       JWT; the payment view (the flow's "confirm paid" step)
//
// JWTs are MyChat's user tokens (HS256, aud "mychat-user", exp/nbf checked), and every authenticated
// request reloads the account (exists, not deleted, enabled, token newer than tokens_valid_after), as
// MyChat does. The directory has a process-local cache of the serialized response per query (5 min TTL,
// only unsearched pages, as MyChat); nothing in this peer changes counselors, so it never invalidates.
// It writes no outbox events (MyChat's event bus has no counterpart here).
//
// Environment: PORT (19291), HOST (127.0.0.1), DATABASE_URL (postgres://…), USER_JWT_SECRET,
// SANDBOX_SECRET, WORKERS (one per core; node:cluster), PG_POOL (connections per worker: 16 / WORKERS).

'use strict';

const cluster = require('node:cluster');
const crypto = require('node:crypto');
const os = require('node:os');

const PORT = Number(process.env.PORT || 19291);
const HOST = process.env.HOST || '127.0.0.1';
const WORKERS = Math.max(1, Number(process.env.WORKERS || os.availableParallelism()));
const PG_POOL = Math.max(1, Number(process.env.PG_POOL || Math.ceil(16 / WORKERS)));

if (cluster.isPrimary && WORKERS > 1) {
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    console.error(`worker ${worker.process.pid} exited (${signal || code})`);
  });
  const stop = () => {
    for (const w of Object.values(cluster.workers)) w.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

// ---------------------------------------------------------------------------------------------
// Errors and envelopes
// ---------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, msg) {
    super(msg);
    this.status = status;
    this.code = code;
  }
}
const badRequest = (msg) => new ApiError(400, 'bad_request', msg);
const invalidInput = (msg) => new ApiError(400, 'invalid_input', msg);
const unauthorized = (msg) => new ApiError(401, 'unauthorized', msg);
const forbidden = (msg) => new ApiError(403, 'forbidden', msg);
const notFound = (msg) => new ApiError(404, 'not_found', msg);
const conflict = (msg) => new ApiError(409, 'conflict', msg);

const ok = (msg, data) => ({ code: 200, msg, data });

// ---------------------------------------------------------------------------------------------
// Formats shared with MyChat
// ---------------------------------------------------------------------------------------------

const toYuan = (fen) => Number(fen) / 100;

function fromYuan(yuan) {
  if (!Number.isFinite(yuan) || Math.abs(yuan) > 1e13) return null;
  const fen = Math.round(yuan * 100);
  if (Math.abs(fen - yuan * 100) > 1e-6) return null;
  return fen;
}

// UTC yyyymmddHHMMSS
function stamp(d) {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

function randomDigits(n) {
  let s = '';
  while (s.length < n) s += crypto.randomInt(0, 1e9).toString().padStart(9, '0');
  return s.slice(0, n);
}

const newOrderNo = () => `ORD${stamp(new Date())}${randomDigits(8)}`;
const newPaymentNo = () => `PAY${stamp(new Date())}${randomDigits(10)}`;

function nonce(len) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.randomBytes(len);
  let s = '';
  for (let i = 0; i < len; i++) s += alphabet[bytes[i] % alphabet.length];
  return s;
}

// RFC 3339 with an offset, YYYY-MM-DDTHH:mm:ss, YYYY-MM-DD HH:mm:ss or YYYY-MM-DD (the last three UTC).
function parseScheduleTime(raw) {
  const s = String(raw).trim();
  let m = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2}(?:\.\d+)?)([Zz]|[+-]\d{2}:\d{2})$/.exec(s);
  if (m) return validDate(`${m[1]}T${m[2]}${m[3].toUpperCase()}`);
  m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})$/.exec(s);
  if (m) return validDate(`${m[1]}T${m[2]}Z`);
  m = /^(\d{4}-\d{2}-\d{2})$/.exec(s);
  if (m) return validDate(`${m[1]}T00:00:00Z`);
  return null;
}

function validDate(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

// `%term%` with `!` escaping the wildcards, as MyChat's db::like_pattern.
function likePattern(term) {
  return `%${term.replace(/[%_!]/g, (c) => `!${c}`)}%`;
}

const STATUS_TEXT = ['待支付', '已支付', '支付失败', '已退款', '已取消'];

function escapeHtml(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function resultPage(success, message) {
  return `<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>沙箱支付</title></head><body style="font-family:sans-serif;max-width:30em;margin:3em auto;text-align:center"><h1>${success ? '支付成功' : '支付失败'}</h1><p>${escapeHtml(message)}</p><p>可以关闭此页面。</p></body></html>`;
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

async function main() {
  const Fastify = require('fastify');
  const { Pool } = require('pg');

  const userSecret = process.env.USER_JWT_SECRET || '';
  const sandboxSecret = process.env.SANDBOX_SECRET || '';
  if (userSecret.length < 16 || sandboxSecret.length < 16) {
    throw new Error('USER_JWT_SECRET and SANDBOX_SECRET must be set (at least 16 characters)');
  }
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: PG_POOL });
  const revoked = new Set(); // MyChat's in-memory revocation list; nothing revokes here

  const app = Fastify({
    logger: false,
    genReqId: () => crypto.randomUUID(),
    // MyChat's serde rejects "5" for a number: no type coercion.
    ajv: { customOptions: { coerceTypes: false } },
  });
  app.register(require('@fastify/jwt'), {
    secret: userSecret,
    verify: { algorithms: ['HS256'], allowedAud: 'mychat-user', requiredClaims: ['exp', 'nbf', 'aud'] },
  });

  // CORS as MyChat answers it with cors_origins = ["*"]: OPTIONS → 204, headers on every response.
  app.addHook('onRequest', async (req, reply) => {
    const origin = req.headers.origin || '*';
    if (req.method === 'OPTIONS') {
      reply
        .code(204)
        .headers({
          'access-control-allow-origin': origin,
          'access-control-allow-methods': 'GET, POST, PUT, DELETE, PATCH, OPTIONS',
          'access-control-allow-headers':
            'Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, Authorization, Accept, Origin, Cache-Control, X-Requested-With',
          'access-control-allow-credentials': 'true',
          'access-control-max-age': '86400',
          vary: 'Origin',
        })
        .send();
      return reply;
    }
  });
  app.addHook('onSend', async (req, reply, payload) => {
    reply.headers({
      'access-control-allow-origin': req.headers.origin || '*',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'Content-Length, Content-Type, X-Request-Id',
      vary: 'Origin',
      'x-request-id': req.id,
    });
    return payload;
  });

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof ApiError) {
      return reply.code(err.status).send({ code: err.status, msg: err.message, error: err.code });
    }
    if (err.validation) {
      return reply.code(400).send({ code: 400, msg: `参数错误: ${err.message}`, error: 'invalid_input' });
    }
    if (err.statusCode && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ code: err.statusCode, msg: `参数错误: ${err.message}`, error: 'bad_request' });
    }
    req.log.error(err);
    console.error(err);
    return reply.code(500).send({ code: 500, msg: '服务器内部错误', error: 'internal_error' });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ code: 404, msg: '接口不存在', error: 'not_found' });
  });

  // The authenticated user: token, revocation, then the account as it is now.
  async function currentUser(req) {
    const header = (req.headers.authorization || '').trim();
    if (!header) throw unauthorized('未提供认证token');
    const space = header.indexOf(' ');
    const token = space > 0 ? header.slice(space + 1).trim() : '';
    if (space <= 0 || header.slice(0, space) !== 'Bearer' || !token || token.includes(' ')) {
      throw unauthorized('token格式错误');
    }
    let claims;
    try {
      claims = app.jwt.verify(token);
    } catch {
      throw unauthorized('token无效或已过期');
    }
    if (revoked.has(claims.jti)) throw unauthorized('token无效或已过期');
    const { rows } = await pool.query(
      'SELECT username, status, tokens_valid_after FROM users WHERE id = $1 AND deleted_at IS NULL',
      [claims.user_id],
    );
    const account = rows[0];
    const issuedMs = claims.iat_ms > 0 ? claims.iat_ms : claims.iat * 1000;
    if (!account || issuedMs < Number(account.tokens_valid_after)) throw unauthorized('token无效或已过期');
    if (account.status !== 1) throw unauthorized('账户已被禁用');
    return { id: Number(claims.user_id), username: account.username };
  }

  // As a hook, so a missing or bad token answers 401 before the body is validated (as in MyChat, whose
  // handlers take the user before the body).
  app.decorateRequest('currentUser', null);
  const authenticated = {
    onRequest: async (req) => {
      req.currentUser = await currentUser(req);
    },
  };

  async function inTransaction(fn) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  // ---- GET /api/counselor/list ---------------------------------------------------------------

  const SORT_COLUMNS = {
    rating: 'c.rating',
    price: 'c.price',
    service_count: 'COALESCE(s.completed_orders, 0)',
    created_at: 'c.created_at',
    review_count: 'COALESCE(s.review_count, 0)',
    years_exp: 'c.years_exp',
  };
  const LIST_TTL_MS = 300_000;
  const listCache = new Map(); // key -> { body, expires }

  function text(v) {
    if (typeof v !== 'string') return null;
    const t = v.trim();
    return t ? [...t].slice(0, 100).join('') : null;
  }
  function price(v, name) {
    const t = typeof v === 'string' ? v.trim() : '';
    if (!t) return null;
    const y = Number(t);
    const fen = Number.isFinite(y) && y >= 0 ? fromYuan(Math.round(y * 100) / 100) : null;
    if (fen === null) throw invalidInput(`参数错误: ${name} 应为非负数字`);
    return fen;
  }
  function pageNumber(v, fallback, max) {
    const t = typeof v === 'string' ? v.trim() : '';
    if (!/^\d+$/.test(t)) return fallback;
    const n = Number(t);
    return n >= 1 && n <= max ? n : fallback;
  }

  function counselorView(r) {
    const serviceCount = Number(r.service_count);
    return {
      id: Number(r.id),
      user_id: r.user_id === null ? 0 : Number(r.user_id),
      name: r.name,
      title: r.title,
      avatar: r.avatar,
      bio: r.bio || '',
      specialty: r.specialty,
      price: toYuan(r.price),
      years_exp: r.years_exp,
      rating: r.rating / 100,
      status: r.status,
      created_at: r.created_at,
      updated_at: r.updated_at,
      service_count: serviceCount,
      review_count: Number(r.review_count),
      is_recommended: r.rating >= 450 && serviceCount >= 5,
    };
  }

  async function queryPage(f, page, pageSize) {
    const where = ['c.status = $1'];
    const params = [1];
    const add = (sql, value) => {
      params.push(value);
      where.push(sql.replace(/\?/g, `$${params.length}`));
    };
    if (f.keyword) add("(c.name LIKE ? ESCAPE '!' OR c.specialty LIKE ? ESCAPE '!' OR c.title LIKE ? ESCAPE '!')", likePattern(f.keyword));
    if (f.specialty) add("c.specialty LIKE ? ESCAPE '!'", likePattern(f.specialty));
    if (f.minPrice !== null) add('c.price >= ?', f.minPrice);
    if (f.maxPrice !== null) add('c.price <= ?', f.maxPrice);
    const whereSql = where.join(' AND ');
    const dir = f.ascending ? 'ASC' : 'DESC';
    const order = SORT_COLUMNS[f.sortBy] ? `${SORT_COLUMNS[f.sortBy]} ${dir}` : 'c.rating DESC, c.created_at DESC';
    const [count, rows] = await Promise.all([
      pool.query(`SELECT COUNT(*) AS n FROM counselors c WHERE ${whereSql}`, params),
      pool.query(
        `SELECT c.*, COALESCE(s.completed_orders, 0) AS service_count, COALESCE(s.review_count, 0) AS review_count
           FROM counselors c LEFT JOIN counselor_statistics s ON s.counselor_id = c.id
          WHERE ${whereSql} ORDER BY ${order}, c.id DESC LIMIT ${pageSize} OFFSET ${(page - 1) * pageSize}`,
        params,
      ),
    ]);
    const views = rows.rows.map(counselorView);
    return { counselors: views, list: views, total: Number(count.rows[0].n), page, page_size: pageSize };
  }

  app.get('/api/counselor/list', async (req, reply) => {
    const q = req.query;
    const f = {
      keyword: text(q.keyword),
      specialty: text(q.specialty),
      minPrice: price(q.min_price, 'min_price'),
      maxPrice: price(q.max_price, 'max_price'),
      sortBy: typeof q.sort_by === 'string' ? q.sort_by.trim() : '',
      ascending: typeof q.sort_order === 'string' && q.sort_order.trim() === 'asc',
    };
    if (!SORT_COLUMNS[f.sortBy]) f.sortBy = '';
    const page = pageNumber(q.page, 1, Number.MAX_SAFE_INTEGER);
    const pageSize = pageNumber(q.page_size ?? q.pageSize, 10, 100);
    const cacheable = !f.keyword && !f.specialty && f.minPrice === null && f.maxPrice === null;
    reply.type('application/json');
    if (!cacheable) return JSON.stringify(ok('获取成功', await queryPage(f, page, pageSize)));
    const key = `${f.sortBy}|${f.ascending}|${page}|${pageSize}`;
    const hit = listCache.get(key);
    const now = Date.now();
    if (hit && hit.expires > now) return hit.body;
    const body = JSON.stringify(ok('获取成功', await queryPage(f, page, pageSize)));
    listCache.set(key, { body, expires: now + LIST_TTL_MS });
    return body;
  });

  // ---- POST /api/order/create ----------------------------------------------------------------

  const createOrderSchema = {
    body: {
      type: 'object',
      required: ['counselor_id', 'duration', 'schedule_time'],
      properties: {
        counselor_id: { type: 'integer', minimum: 1 },
        duration: { type: 'integer', minimum: 15, maximum: 180 },
        schedule_time: { type: 'string' },
        notes: { type: 'string', maxLength: 2000, default: '' },
      },
    },
  };

  app.post('/api/order/create', { schema: createOrderSchema, ...authenticated }, async (req) => {
    const user = req.currentUser;
    const body = req.body;
    const scheduleTime = parseScheduleTime(body.schedule_time);
    if (!scheduleTime) throw invalidInput(`参数错误: 无法解析时间: ${[...body.schedule_time].slice(0, 64).join('')}`);
    const { rows } = await pool.query('SELECT id, price, status FROM counselors WHERE id = $1', [body.counselor_id]);
    const counselor = rows[0];
    if (!counselor) throw notFound('咨询师不存在');
    if (counselor.status !== 1) throw badRequest('咨询师暂不可用');
    const price = Number(counselor.price);
    const amount = body.duration * price;
    const notes = body.notes.trim();
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = new Date();
      try {
        const order = await inTransaction(async (db) => {
          const inserted = await db.query(
            `INSERT INTO orders (order_no, user_id, counselor_id, duration, price_per_minute, amount, refunded_amount,
                                 status, schedule_time, notes, pay_time, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7, $8, NULL, $9, $9) RETURNING id, order_no, amount, status, created_at`,
            [newOrderNo(), user.id, counselor.id, body.duration, price, amount, scheduleTime, notes || null, now],
          );
          const o = inserted.rows[0];
          await db.query(
            `INSERT INTO order_events (order_id, from_status, to_status, actor, actor_id, note, created_at)
             VALUES ($1, -1, 0, 'user', $2, '用户创建了订单', $3)`,
            [o.id, user.id, now],
          );
          await db.query(
            `INSERT INTO counselor_statistics (counselor_id, total_orders, completed_orders, cancelled_orders, total_duration,
                                               total_amount, review_count, sum_rating, last_order_time, updated_at)
             VALUES ($1, 0, 0, 0, 0, 0, 0, 0, NULL, $2) ON CONFLICT (counselor_id) DO NOTHING`,
            [counselor.id, now],
          );
          await db.query(
            `UPDATE counselor_statistics SET updated_at = $2, total_orders = total_orders + 1, last_order_time = $2
              WHERE counselor_id = $1`,
            [counselor.id, now],
          );
          return o;
        });
        return ok('创建订单成功', {
          order_id: Number(order.id),
          id: Number(order.id),
          order_no: order.order_no,
          amount: toYuan(order.amount),
          status: order.status,
          create_at: order.created_at,
          created_at: order.created_at,
        });
      } catch (e) {
        if (e.code === '23505' && attempt < 2) continue; // order_no taken: a new number
        throw e;
      }
    }
    throw conflict('订单号冲突，请重试');
  });

  // ---- POST /api/payment/create (sandbox) ------------------------------------------------------

  const createPaymentSchema = {
    body: {
      type: 'object',
      required: ['order_id', 'payment_method'],
      properties: {
        order_id: { type: 'integer', minimum: 1 },
        payment_method: { type: 'string', minLength: 1, maxLength: 20 },
        trade_type: { type: 'string', maxLength: 20, default: '' },
        client_ip: { type: 'string', maxLength: 64, default: '' },
        return_url: { type: 'string', maxLength: 500, default: '' },
        openid: { type: 'string', maxLength: 128, default: '' },
      },
    },
  };

  app.post('/api/payment/create', { schema: createPaymentSchema, ...authenticated }, async (req) => {
    const user = req.currentUser;
    const method = req.body.payment_method.trim();
    // Only the sandbox gateway exists here: wechat/alipay without keys are served by it, as in MyChat.
    if (!['sandbox', 'wechat', 'alipay'].includes(method)) {
      throw badRequest(method === 'balance' ? '支付方式未配置' : '不支持的支付方式');
    }
    const { rows } = await pool.query('SELECT id, order_no, user_id, amount, status FROM orders WHERE id = $1', [req.body.order_id]);
    const order = rows[0];
    if (!order) throw notFound('订单不存在');
    if (Number(order.user_id) !== user.id) throw forbidden('无权操作此订单');
    if (order.status !== 0) throw badRequest('订单状态不允许创建支付');
    const now = new Date();
    const inserted = await pool.query(
      `INSERT INTO payments (payment_no, purpose, order_id, order_no, user_id, payment_method, trade_type, transaction_id,
                             amount, refunded_amount, status, pay_time, notify_time, notify_data, failure_reason, created_at, updated_at)
       VALUES ($1, 'order', $2, $3, $4, $5, 'SANDBOX', NULL, $6, 0, 0, NULL, NULL, NULL, '', $7, $7)
       RETURNING id, payment_no, amount, trade_type, payment_method, status, created_at`,
      [newPaymentNo(), order.id, order.order_no, user.id, method, order.amount, now],
    );
    const p = inserted.rows[0];
    return ok('创建支付成功', {
      payment_id: Number(p.id),
      payment_no: p.payment_no,
      amount: toYuan(p.amount),
      pay_url: `${req.protocol}://${req.host}/api/payment/sandbox/checkout/${p.payment_no}`,
      pay_params: null,
      trade_type: p.trade_type,
      payment_method: p.payment_method,
      status: p.status,
      expired_at: new Date(p.created_at.getTime() + 2 * 3600 * 1000),
    });
  });

  // ---- POST /api/payment/sandbox/pay/:payment_no -------------------------------------------------

  const signingContent = (n) => `${n.payment_no}\n${n.transaction_id}\n${n.amount}\n${n.timestamp}\n`;
  const hmacHex = (content) => crypto.createHmac('sha256', sandboxSecret).update(content).digest('hex');

  function verifyNotification(n, nowSecs) {
    const expected = Buffer.from(hmacHex(signingContent(n)), 'hex');
    const given = Buffer.from(n.signature, 'hex');
    return expected.length === given.length && crypto.timingSafeEqual(expected, given) && Math.abs(nowSecs - n.timestamp) <= 300;
  }

  const isSandbox = (p) => p.payment_method !== 'balance' && (p.trade_type === 'SANDBOX' || p.payment_method === 'sandbox');

  // Marks the payment paid if it is still pending, and its order paid, in one transaction.
  async function applyConfirmation(n) {
    const { rows } = await pool.query('SELECT * FROM payments WHERE payment_no = $1', [n.payment_no]);
    const p = rows[0];
    if (!p) throw notFound('支付记录不存在');
    if (!isSandbox(p)) throw badRequest('支付渠道不匹配');
    if (p.status !== 0) return 'already';
    if (Number(n.amount) !== Number(p.amount)) throw badRequest('金额不一致');
    return inTransaction(async (db) => {
      const now = new Date();
      const updated = await db.query(
        `UPDATE payments SET status = 1, transaction_id = $2, pay_time = $3, notify_time = $3, notify_data = $4,
                             failure_reason = '', updated_at = $3
          WHERE id = $1 AND status = 0`,
        [p.id, n.transaction_id, now, JSON.stringify(n)],
      );
      if (updated.rowCount !== 1) return 'already';
      const order = (await db.query('SELECT * FROM orders WHERE id = $1', [p.order_id])).rows[0];
      if (!order) throw notFound('订单不存在');
      if (order.status !== 0) throw conflict('订单状态不允许此操作'); // the late-payment refund is not in this peer
      const moved = await db.query(
        'UPDATE orders SET status = 1, updated_at = $2, pay_time = $2 WHERE id = $1 AND status = 0',
        [order.id, now],
      );
      if (moved.rowCount !== 1) throw conflict('订单状态不允许此操作');
      await db.query(
        `INSERT INTO order_events (order_id, from_status, to_status, actor, actor_id, note, created_at)
         VALUES ($1, 0, 1, 'system', NULL, $2, $3)`,
        [order.id, `支付成功（${p.payment_method}），金额：${toYuan(p.amount).toFixed(2)}元`, now],
      );
      await db.query('SELECT * FROM orders WHERE id = $1', [order.id]);
      return 'applied';
    });
  }

  app.post('/api/payment/sandbox/pay/:payment_no', async (req, reply) => {
    const { rows } = await pool.query('SELECT payment_no, amount, payment_method, trade_type FROM payments WHERE payment_no = $1', [
      req.params.payment_no,
    ]);
    const p = rows[0];
    if (!p || !isSandbox(p)) throw notFound('支付记录不存在');
    const n = {
      payment_no: p.payment_no,
      transaction_id: `SBX${nonce(24)}`,
      amount: Number(p.amount),
      timestamp: Math.floor(Date.now() / 1000),
      signature: '',
    };
    n.signature = hmacHex(signingContent(n));
    let status = 200;
    let message = '成功';
    if (!verifyNotification(n, Math.floor(Date.now() / 1000))) {
      status = 401;
      message = '验签失败';
    } else {
      try {
        await applyConfirmation(n);
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        status = e.status === 404 ? 404 : e.status === 400 ? 400 : 500;
        message = e.status === 404 ? '支付记录不存在' : e.status === 400 ? '请求无效' : '处理失败';
      }
    }
    reply.code(status).type('text/html; charset=utf-8');
    return resultPage(status >= 200 && status < 300, message);
  });

  // ---- GET /api/payment/:id --------------------------------------------------------------------

  app.get('/api/payment/:id', authenticated, async (req) => {
    const user = req.currentUser;
    const raw = req.params.id;
    const id = /^\d+$/.test(raw) ? Number(raw) : 0;
    if (!(id > 0)) throw notFound('支付记录不存在');
    const { rows } = await pool.query('SELECT * FROM payments WHERE id = $1', [id]);
    const p = rows[0];
    if (!p) throw notFound('支付记录不存在');
    if (Number(p.user_id) !== user.id) throw forbidden('无权访问此支付记录');
    return ok('获取成功', {
      id: Number(p.id),
      payment_no: p.payment_no,
      purpose: p.purpose,
      order_id: p.order_id === null ? 0 : Number(p.order_id),
      order_no: p.order_no,
      user_id: Number(p.user_id),
      payment_method: p.payment_method,
      trade_type: p.trade_type,
      transaction_id: p.transaction_id || '',
      amount: toYuan(p.amount),
      refunded_amount: toYuan(p.refunded_amount),
      status: p.status,
      status_text: STATUS_TEXT[p.status] || '未知状态',
      pay_time: p.pay_time,
      notify_time: p.notify_time,
      failure_reason: p.failure_reason,
      created_at: p.created_at,
      updated_at: p.updated_at,
    });
  });

  app.get('/health', async () => ({ status: 'ok' }));

  await app.listen({ port: PORT, host: HOST });
  const shutdown = () => app.close().then(() => pool.end()).finally(() => process.exit(0));
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
