//! WebSocket load generator for MyChat and its Node.js peer (bench/peer-node).
//!
//! Three modes, each run by a parent that spreads the sockets over `--procs` child processes (each
//! child is this binary with `--shard i`), so the client side is not bound by one process's
//! open-files limit. Children talk to the parent with one line per fact on stdout and take
//! commands on stdin.
//!
//! - `fanout`: N idle sockets; the parent triggers a broadcast over HTTP and measures the time from
//!   just before the trigger until the last socket has the `system_message` frame. Several rounds,
//!   median reported.
//! - `chat`: P sessions, two sockets each (user and counselor on `/ws/chat/{id}`); messages at a
//!   total rate R for T seconds, evenly spread, each carrying its send time; the latency is measured
//!   where the other party receives it (and, separately, the sender's own copy, the ack).
//! - `idle`: N sockets held open; with `--server-pid` the parent reads the server's VmRSS before and
//!   after and reports the bytes per connection.
//!
//! Every loop is bounded in count and time: connect attempts, rounds, the chat duration and every
//! wait have a limit.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

#[derive(Parser)]
#[command(about = "WebSocket load generator: fan-out, chat latency, idle connections")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    Fanout(FanoutArgs),
    Chat(ChatArgs),
    Idle(IdleArgs),
}

#[derive(Args, Clone)]
struct Common {
    /// Child processes holding the sockets.
    #[arg(long, default_value_t = 1)]
    procs: usize,
    /// Internal: this process is child number `shard` of `procs`.
    #[arg(long, hide = true)]
    shard: Option<usize>,
    /// Connections being opened at once (per process).
    #[arg(long, default_value_t = 128)]
    connect_concurrency: usize,
    /// Seconds allowed for opening all sockets.
    #[arg(long, default_value_t = 120)]
    connect_timeout_secs: u64,
}

#[derive(Args, Clone)]
struct FanoutArgs {
    #[command(flatten)]
    common: Common,
    /// WebSocket URL without the query, e.g. ws://127.0.0.1:28082/ws
    #[arg(long)]
    url: String,
    /// File with one token per line; connection i uses line i mod lines.
    #[arg(long)]
    tokens: String,
    #[arg(long)]
    conns: usize,
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// HTTP URL of the broadcast trigger (POST {"content": …}).
    #[arg(long)]
    trigger_url: String,
    /// Authorization header value for the trigger, e.g. "Bearer …".
    #[arg(long)]
    trigger_auth: Option<String>,
    /// Seconds to wait for one round to reach every socket.
    #[arg(long, default_value_t = 30)]
    round_timeout_secs: u64,
}

#[derive(Args, Clone)]
struct ChatArgs {
    #[command(flatten)]
    common: Common,
    /// Base URL, e.g. ws://127.0.0.1:28082 (sockets go to {base}/ws/chat/{session_id}).
    #[arg(long)]
    base: String,
    /// File with lines `session_id user_token counselor_token`.
    #[arg(long)]
    pairs: String,
    /// Sessions to use (the first lines of the file).
    #[arg(long)]
    sessions: usize,
    /// Total messages per second over all sessions.
    #[arg(long)]
    rate: f64,
    #[arg(long)]
    secs: u64,
    /// Seconds to wait for late deliveries after the last send.
    #[arg(long, default_value_t = 5)]
    drain_secs: u64,
    /// Seconds of sending before `secs` whose latencies are left out of the percentiles.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
}

#[derive(Args, Clone)]
struct IdleArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long)]
    url: String,
    #[arg(long)]
    tokens: String,
    #[arg(long)]
    conns: usize,
    /// Seconds to hold the sockets after they are all open.
    #[arg(long, default_value_t = 10)]
    hold_secs: u64,
    /// Server process whose VmRSS is read before and after (parent only).
    #[arg(long)]
    server_pid: Option<u32>,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn ws_config() -> WebSocketConfig {
    // Small buffers: the default 128 KiB read buffer per socket would dominate client memory.
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

fn host_port(url: &str) -> Result<String, String> {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or_else(|| format!("bad url {url}"))?;
    let hp = rest.split('/').next().unwrap_or(rest);
    Ok(hp.to_owned())
}

async fn open(url: &str) -> Result<Ws, String> {
    let addr = host_port(url)?;
    let stream = TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("tcp {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config()))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

/// Opens a socket, retrying a few times (listen backlog overflows show up as resets).
async fn open_retry(url: &str) -> Result<Ws, String> {
    let mut last = String::new();
    for attempt in 0..4u64 {
        match timeout(Duration::from_secs(15), open(url)).await {
            Ok(Ok(ws)) => return Ok(ws),
            Ok(Err(e)) => last = e,
            Err(_) => last = "connect timeout".into(),
        }
        sleep(Duration::from_millis(200 * (attempt + 1))).await;
    }
    Err(last)
}

fn read_lines(path: &str) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => s
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(2);
        }
    }
}

/// Indices of the items this shard owns.
fn my_share(total: usize, c: &Common) -> Vec<usize> {
    let shard = c.shard.unwrap_or(0);
    let procs = c.procs.max(1);
    (0..total).filter(|i| i % procs == shard).collect()
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median_f(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// POSTs `body` and returns the status code. Plain HTTP/1.1, one request per connection.
async fn http_post(url: &str, auth: Option<&str>, body: &str) -> Result<u16, String> {
    let addr = host_port(url)?;
    let path = url
        .split_once("://")
        .and_then(|(_, r)| r.find('/').map(|i| &r[i..]))
        .unwrap_or("/");
    let mut s = TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("trigger connect: {e}"))?;
    let _ = s.set_nodelay(true);
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("trigger write: {e}"))?;
    let mut buf = Vec::with_capacity(1024);
    timeout(Duration::from_secs(30), s.read_to_end(&mut buf))
        .await
        .map_err(|_| "trigger timeout".to_owned())?
        .map_err(|e| format!("trigger read: {e}"))?;
    let head = String::from_utf8_lossy(&buf);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            format!(
                "bad trigger reply: {}",
                head.chars().take(200).collect::<String>()
            )
        })
}

// ---------------------------------------------------------------- children and their lines

struct Child {
    proc: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
}

/// Spawns `procs` children and merges their stdout lines into one channel: (shard, line).
fn spawn_children(procs: usize) -> (Vec<Child>, mpsc::UnboundedReceiver<(usize, String)>) {
    let exe = std::env::current_exe().unwrap_or_else(|_| "ws-load".into());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut children = Vec::new();
    for shard in 0..procs {
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args(&args)
            .arg("--shard")
            .arg(shard.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut proc = match cmd.spawn() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("cannot spawn child: {e}");
                std::process::exit(2);
            }
        };
        let stdout = proc.stdout.take().expect("piped stdout");
        let stdin = proc.stdin.take().expect("piped stdin");
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send((shard, line)).is_err() {
                    break;
                }
            }
        });
        children.push(Child { proc, stdin });
    }
    (children, rx)
}

async fn tell_all(children: &mut [Child], line: &str) {
    for c in children.iter_mut() {
        let _ = c.stdin.write_all(format!("{line}\n").as_bytes()).await;
        let _ = c.stdin.flush().await;
    }
}

async fn finish(children: &mut [Child]) {
    tell_all(children, "QUIT").await;
    for c in children.iter_mut() {
        if timeout(Duration::from_secs(10), c.proc.wait())
            .await
            .is_err()
        {
            let _ = c.proc.kill().await;
        }
    }
}

/// Waits for one `READY ok failed` line per child.
async fn wait_ready(
    rx: &mut mpsc::UnboundedReceiver<(usize, String)>,
    procs: usize,
    limit: Duration,
) -> (usize, usize) {
    let deadline = Instant::now() + limit;
    let (mut ok, mut failed, mut seen) = (0, 0, 0);
    while seen < procs {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, rx.recv()).await {
            Ok(Some((_, line))) => {
                let parts: Vec<&str> = line.split_whitespace().collect();
                if parts.first() == Some(&"READY") {
                    ok += parts
                        .get(1)
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    failed += parts
                        .get(2)
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    seen += 1;
                } else if parts.first() == Some(&"ERR") {
                    eprintln!("child: {line}");
                }
            }
            _ => {
                eprintln!("only {seen}/{procs} children ready in time");
                break;
            }
        }
    }
    (ok, failed)
}

/// Reads parent commands from stdin into a channel (children only).
fn stdin_commands() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
        let _ = tx.send("QUIT".into());
    });
    rx
}

/// Opens `urls` with bounded concurrency; failures are counted and the first few printed.
async fn open_many(urls: Vec<String>, c: &Common) -> (Vec<(usize, Ws)>, usize) {
    let sem = Arc::new(Semaphore::new(c.connect_concurrency.max(1)));
    let mut tasks = Vec::with_capacity(urls.len());
    for (i, url) in urls.into_iter().enumerate() {
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.ok()?;
            match open_retry(&url).await {
                Ok(ws) => Some((i, ws)),
                Err(e) => {
                    eprintln!("connect failed: {e}");
                    None
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(c.connect_timeout_secs);
    let mut out = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, t).await {
            Ok(Ok(Some(ws))) => out.push(ws),
            _ => failed += 1,
        }
    }
    (out, failed)
}

// ---------------------------------------------------------------- fanout

async fn fanout(a: FanoutArgs) {
    if a.common.shard.is_some() {
        return fanout_child(a).await;
    }
    let procs = a.common.procs.max(1);
    let (mut children, mut rx) = spawn_children(procs);
    let (ok, failed) = wait_ready(
        &mut rx,
        procs,
        Duration::from_secs(a.common.connect_timeout_secs + 30),
    )
    .await;
    println!("fanout: {ok} sockets open, {failed} failed, {procs} processes");
    sleep(Duration::from_secs(2)).await;
    let mut times_ms = Vec::new();
    let mut incomplete = 0;
    for round in 1..=a.rounds {
        let t0 = now_us();
        let body = format!("{{\"content\":\"fanout-{round}\"}}");
        let status = http_post(&a.trigger_url, a.trigger_auth.as_deref(), &body).await;
        let t_reply = now_us();
        if !matches!(status, Ok(200)) {
            eprintln!("round {round}: trigger answered {status:?}");
        }
        // Each child prints `ROUND r first_us last_us count` once its sockets all have it
        // (or, partially, at its own timeout).
        let deadline = Instant::now() + Duration::from_secs(a.round_timeout_secs + 5);
        let (mut got, mut last, mut reports) = (0usize, 0u64, 0usize);
        while reports < procs {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, rx.recv()).await {
                Ok(Some((_, line))) => {
                    let p: Vec<&str> = line.split_whitespace().collect();
                    if p.first() == Some(&"ROUND") && p.get(1) == Some(&round.to_string().as_str())
                    {
                        last = last.max(p.get(3).and_then(|v| v.parse().ok()).unwrap_or(0));
                        got += p.get(4).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
                        reports += 1;
                    } else if p.first() == Some(&"CLOSED") {
                        eprintln!("child: {line}");
                    }
                }
                _ => break,
            }
        }
        let ms = last.saturating_sub(t0) as f64 / 1000.0;
        let complete = got == ok;
        println!(
            "round {round}: {got}/{ok} delivered, last after {ms:.1} ms (trigger reply after {:.1} ms){}",
            (t_reply - t0) as f64 / 1000.0,
            if complete { "" } else { " INCOMPLETE" }
        );
        if complete {
            times_ms.push(ms);
        } else {
            incomplete += 1;
        }
        sleep(Duration::from_secs(1)).await;
    }
    let median = median_f(&mut times_ms.clone());
    finish(&mut children).await;
    println!(
        "RESULT {{\"mode\":\"fanout\",\"conns\":{ok},\"failed\":{failed},\"rounds\":{},\"incomplete\":{incomplete},\"median_ms\":{median:.2},\"rounds_ms\":{:?}}}",
        a.rounds, times_ms
    );
}

async fn fanout_child(a: FanoutArgs) {
    let tokens = read_lines(&a.tokens);
    let urls: Vec<String> = my_share(a.conns, &a.common)
        .into_iter()
        .map(|i| format!("{}?token={}", a.url, tokens[i % tokens.len()]))
        .collect();
    let (socks, failed) = open_many(urls, &a.common).await;
    let n = socks.len();
    let (tx, mut arrivals) = mpsc::unbounded_channel::<(usize, u64)>();
    let closed = Arc::new(AtomicU64::new(0));
    for (_, mut ws) in socks {
        let tx = tx.clone();
        let closed = closed.clone();
        tokio::spawn(async move {
            while let Some(msg) = ws.next().await {
                let Ok(msg) = msg else { break };
                if let Message::Text(t) = msg {
                    let t = t.as_str();
                    if let Some(i) = t.find("fanout-") {
                        let at = now_us();
                        let round: usize = t[i + 7..]
                            .chars()
                            .take_while(char::is_ascii_digit)
                            .collect::<String>()
                            .parse()
                            .unwrap_or(0);
                        let _ = tx.send((round, at));
                    }
                }
            }
            closed.fetch_add(1, Ordering::Relaxed);
        });
    }
    drop(tx);
    println!("READY {n} {failed}");
    let mut cmds = stdin_commands();
    // round -> (first, last, count, started)
    let mut rounds: HashMap<usize, (u64, u64, usize, Instant)> = HashMap::new();
    let mut reported: std::collections::HashSet<usize> = Default::default();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            cmd = cmds.recv() => {
                if cmd.as_deref().is_none_or(|c| c == "QUIT") { break; }
            }
            got = arrivals.recv() => {
                let Some((round, at)) = got else { break };
                let e = rounds.entry(round).or_insert((at, at, 0, Instant::now()));
                e.0 = e.0.min(at);
                e.1 = e.1.max(at);
                e.2 += 1;
                if e.2 == n && reported.insert(round) {
                    println!("ROUND {round} {} {} {}", e.0, e.1, e.2);
                }
            }
            _ = tick.tick() => {
                for (round, e) in &rounds {
                    if !reported.contains(round) && e.3.elapsed() > Duration::from_secs(a.round_timeout_secs) {
                        println!("ROUND {round} {} {} {}", e.0, e.1, e.2);
                        reported.insert(*round);
                    }
                }
            }
        }
    }
    let c = closed.load(Ordering::Relaxed);
    if c > 0 {
        println!("CLOSED {c} sockets closed by the server during the run");
    }
    std::process::exit(0);
}

// ---------------------------------------------------------------- chat

async fn chat(a: ChatArgs) {
    if a.common.shard.is_some() {
        return chat_child(a).await;
    }
    let procs = a.common.procs.max(1);
    let (mut children, mut rx) = spawn_children(procs);
    let (ok, failed) = wait_ready(
        &mut rx,
        procs,
        Duration::from_secs(a.common.connect_timeout_secs + 30),
    )
    .await;
    println!(
        "chat: {ok} sockets open ({} sessions), {failed} failed; {} msg/s for {} s",
        a.sessions, a.rate, a.secs
    );
    sleep(Duration::from_secs(2)).await;
    let start = now_us() + 1_000_000;
    tell_all(&mut children, &format!("GO {start}")).await;
    let mut deliveries: Vec<u64> = Vec::new();
    let mut acks: Vec<u64> = Vec::new();
    let (mut sent, mut errors, mut closed, mut done, mut warm) = (0u64, 0u64, 0u64, 0usize, 0u64);
    let mut slow: std::collections::BTreeMap<u64, u64> = Default::default();
    let deadline = Instant::now() + Duration::from_secs(a.warmup_secs + a.secs + a.drain_secs + 60);
    while done < procs {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, rx.recv()).await {
            Ok(Some((_, line))) => {
                let mut p = line.split_whitespace();
                match p.next() {
                    Some("D") => deliveries.extend(p.filter_map(|v| v.parse::<u64>().ok())),
                    Some("A") => acks.extend(p.filter_map(|v| v.parse::<u64>().ok())),
                    Some("DONE") => {
                        let v: Vec<u64> = p.filter_map(|v| v.parse().ok()).collect();
                        sent += v.first().copied().unwrap_or(0);
                        errors += v.get(1).copied().unwrap_or(0);
                        closed += v.get(2).copied().unwrap_or(0);
                        warm += v.get(3).copied().unwrap_or(0);
                        done += 1;
                    }
                    Some("ERRFRAME") => eprintln!("child: {line}"),
                    Some("SLOW") => {
                        let v: Vec<u64> = p.filter_map(|v| v.parse().ok()).collect();
                        if let [sec, n] = v[..] {
                            *slow.entry(sec).or_insert(0u64) += n;
                        }
                    }
                    _ => {}
                }
            }
            _ => {
                eprintln!("only {done}/{procs} children finished in time");
                break;
            }
        }
    }
    finish(&mut children).await;
    deliveries.sort_unstable();
    acks.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;
    let (p50, p99, p999, max) = (
        percentile(&deliveries, 50.0),
        percentile(&deliveries, 99.0),
        percentile(&deliveries, 99.9),
        deliveries.last().copied().unwrap_or(0),
    );
    let (a50, a99) = (percentile(&acks, 50.0), percentile(&acks, 99.0));
    println!(
        "sent {sent}; measured after {} s of warm-up: delivered to peer {}, acks {}; {warm} warm-up copies; error frames {errors}, sockets closed {closed}",
        a.warmup_secs,
        deliveries.len(),
        acks.len()
    );
    if !slow.is_empty() {
        let parts: Vec<String> = slow.iter().map(|(s, n)| format!("s{s}:{n}")).collect();
        println!(
            "deliveries over 50 ms by second of the run: {}",
            parts.join(" ")
        );
    }
    println!(
        "delivery latency: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms; ack p50 {:.2} ms, p99 {:.2} ms",
        ms(p50),
        ms(p99),
        ms(p999),
        ms(max),
        ms(a50),
        ms(a99)
    );
    println!(
        "RESULT {{\"mode\":\"chat\",\"sockets\":{ok},\"failed\":{failed},\"sessions\":{},\"rate\":{},\"secs\":{},\"sent\":{sent},\"delivered\":{},\"acks\":{},\"errors\":{errors},\"closed\":{closed},\"warmup_secs\":{},\"warmup_copies\":{warm},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"p999_ms\":{:.3},\"max_ms\":{:.3},\"ack_p50_ms\":{:.3},\"ack_p99_ms\":{:.3}}}",
        a.sessions,
        a.rate,
        a.secs,
        deliveries.len(),
        acks.len(),
        a.warmup_secs,
        ms(p50),
        ms(p99),
        ms(p999),
        ms(max),
        ms(a50),
        ms(a99)
    );
}

struct Sample {
    delivery: bool,
    us: u64,
    /// When it was sent, in µs since the epoch.
    sent_us: u64,
}

async fn chat_child(a: ChatArgs) {
    let pairs = read_lines(&a.pairs);
    if pairs.len() < a.sessions {
        println!("ERR only {} pairs in {}", pairs.len(), a.pairs);
    }
    let sessions = a.sessions.min(pairs.len());
    // Socket k of the whole run: 2*session + (0 user, 1 counselor).
    let mut urls = Vec::new();
    let mut ids = Vec::new();
    for s in my_share(sessions, &a.common) {
        let f: Vec<&str> = pairs[s].split_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        for (side, tok) in [f[1], f[2]].into_iter().enumerate() {
            urls.push(format!("{}/ws/chat/{}?token={tok}", a.base, f[0]));
            ids.push((2 * s + side, f[0].parse::<i64>().unwrap_or(0)));
        }
    }
    let (socks, failed) = open_many(urls, &a.common).await;
    println!("READY {} {failed}", socks.len());
    let mut cmds = stdin_commands();
    let start_us = loop {
        match cmds.recv().await.as_deref() {
            Some(c) if c.starts_with("GO ") => {
                break c[3..].trim().parse::<u64>().unwrap_or_else(|_| now_us());
            }
            Some("QUIT") | None => std::process::exit(0),
            _ => {}
        }
    };
    // Each socket sends every `period`; socket k is offset by k/(2P) of a period, so the total
    // stream is evenly spaced at `rate`.
    let total_sockets = 2 * sessions as u64;
    let period_us = (total_sockets as f64 * 1_000_000.0 / a.rate.max(0.001)) as u64;
    let measure_from = start_us + a.warmup_secs * 1_000_000;
    let end_us = measure_from + a.secs * 1_000_000;
    let (tx, mut samples) = mpsc::unbounded_channel::<Sample>();
    let sent = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let closed = Arc::new(AtomicU64::new(0));
    let drain = Duration::from_secs(a.drain_secs);
    let mut tasks = Vec::new();
    for (i, mut ws) in socks {
        let (k, session_id) = ids[i];
        let tx = tx.clone();
        let (sent, errors, closed) = (sent.clone(), errors.clone(), closed.clone());
        tasks.push(tokio::spawn(async move {
            let tag = format!("lt:{k}:");
            let mut next_us = start_us + (k as u64 * period_us) / total_sockets.max(1);
            let hard_stop = Instant::now()
                + Duration::from_micros(end_us.saturating_sub(now_us()))
                + drain;
            let mut seq = 0u64;
            loop {
                let now = now_us();
                let sending = next_us < end_us;
                let wait = if sending {
                    Duration::from_micros(next_us.saturating_sub(now))
                } else {
                    hard_stop.saturating_duration_since(Instant::now())
                };
                tokio::select! {
                    _ = sleep(wait) => {
                        if !sending { break; }
                        seq += 1;
                        let ts = now_us();
                        let frame = format!(
                            "{{\"type\":\"message\",\"session_id\":{session_id},\"data\":{{\"content\":\"{tag}{seq}:{ts}\",\"content_type\":\"text\"}}}}"
                        );
                        if ws.send(Message::text(frame)).await.is_err() {
                            closed.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        sent.fetch_add(1, Ordering::Relaxed);
                        next_us += period_us;
                    }
                    msg = ws.next() => {
                        let at = now_us();
                        match msg {
                            Some(Ok(Message::Text(t))) => {
                                let t = t.as_str();
                                if let Some(pos) = t.find("\"content\":\"lt:") {
                                    let body = &t[pos + 11..];
                                    let body = &body[..body.find('"').unwrap_or(body.len())];
                                    let ts: u64 = body.rsplit(':').next().and_then(|v| v.parse().ok()).unwrap_or(at);
                                    let mine = body.starts_with(&tag);
                                    let _ = tx.send(Sample { delivery: !mine, us: at.saturating_sub(ts), sent_us: ts });
                                } else if t.contains("\"type\":\"error\"")
                                    && errors.fetch_add(1, Ordering::Relaxed) < 5
                                {
                                    println!("ERRFRAME {t}");
                                }
                            }
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => {
                                closed.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                }
            }
            ws
        }));
    }
    drop(tx);
    let mut d = Vec::new();
    let mut acks = Vec::new();
    // Deliveries slower than 50 ms, per second of the run (when they were sent).
    let mut slow: std::collections::BTreeMap<u64, u64> = Default::default();
    let mut warm = 0u64;
    let collector = async {
        while let Some(s) = samples.recv().await {
            if s.delivery && s.us > 50_000 {
                *slow
                    .entry(s.sent_us.saturating_sub(start_us) / 1_000_000)
                    .or_default() += 1;
            }
            if s.sent_us < measure_from {
                warm += 1;
            } else if s.delivery {
                d.push(s.us);
            } else {
                acks.push(s.us);
            }
        }
    };
    let limit = Duration::from_secs(a.warmup_secs + a.secs + a.drain_secs + 30);
    let _ = timeout(limit, collector).await;
    let mut keep = Vec::new();
    for t in tasks {
        if let Ok(Ok(ws)) = timeout(Duration::from_secs(1), t).await {
            keep.push(ws);
        }
    }
    for chunk in d.chunks(2000) {
        let line: Vec<String> = chunk.iter().map(u64::to_string).collect();
        println!("D {}", line.join(" "));
    }
    for chunk in acks.chunks(2000) {
        let line: Vec<String> = chunk.iter().map(u64::to_string).collect();
        println!("A {}", line.join(" "));
    }
    for (sec, n) in &slow {
        println!("SLOW {sec} {n}");
    }
    println!(
        "DONE {} {} {} {warm}",
        sent.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        closed.load(Ordering::Relaxed)
    );
    while let Some(c) = cmds.recv().await {
        if c == "QUIT" {
            break;
        }
    }
    drop(keep);
    std::process::exit(0);
}

// ---------------------------------------------------------------- idle

async fn idle(a: IdleArgs) {
    if a.common.shard.is_some() {
        return idle_child(a).await;
    }
    let procs = a.common.procs.max(1);
    let before = a.server_pid.and_then(vm_rss_kib);
    let (mut children, mut rx) = spawn_children(procs);
    let (ok, failed) = wait_ready(
        &mut rx,
        procs,
        Duration::from_secs(a.common.connect_timeout_secs + 30),
    )
    .await;
    println!("idle: {ok} sockets open, {failed} failed");
    // Let the server settle (allocator, first pings are 25 s away).
    sleep(Duration::from_secs(5)).await;
    let after = a.server_pid.and_then(vm_rss_kib);
    sleep(Duration::from_secs(a.hold_secs.saturating_sub(5))).await;
    let after_hold = a.server_pid.and_then(vm_rss_kib);
    finish(&mut children).await;
    let per_conn = match (before, after) {
        (Some(b), Some(x)) if ok > 0 => (x.saturating_sub(b) as f64 * 1024.0) / ok as f64,
        _ => f64::NAN,
    };
    println!(
        "server VmRSS before {} KiB, after {} KiB (after hold {} KiB): {:.0} bytes per idle connection",
        before.unwrap_or(0),
        after.unwrap_or(0),
        after_hold.unwrap_or(0),
        per_conn
    );
    println!(
        "RESULT {{\"mode\":\"idle\",\"conns\":{ok},\"failed\":{failed},\"rss_before_kib\":{},\"rss_after_kib\":{},\"rss_after_hold_kib\":{},\"bytes_per_conn\":{per_conn:.0}}}",
        before.unwrap_or(0),
        after.unwrap_or(0),
        after_hold.unwrap_or(0)
    );
}

async fn idle_child(a: IdleArgs) {
    let tokens = read_lines(&a.tokens);
    let urls: Vec<String> = my_share(a.conns, &a.common)
        .into_iter()
        .map(|i| format!("{}?token={}", a.url, tokens[i % tokens.len()]))
        .collect();
    let (socks, failed) = open_many(urls, &a.common).await;
    let n = socks.len();
    for (_, mut ws) in socks {
        // Reading answers the server's pings.
        tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
    }
    println!("READY {n} {failed}");
    let mut cmds = stdin_commands();
    let limit = Duration::from_secs(a.hold_secs + 600);
    let _ = timeout(limit, async {
        while let Some(c) = cmds.recv().await {
            if c == "QUIT" {
                break;
            }
        }
    })
    .await;
    std::process::exit(0);
}

#[tokio::main]
async fn main() {
    match Cli::parse().mode {
        Mode::Fanout(a) => fanout(a).await,
        Mode::Chat(a) => chat(a).await,
        Mode::Idle(a) => idle(a).await,
    }
}
