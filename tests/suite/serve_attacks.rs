//! `scrawl serve` as an attacker or a port scanner meets it, on loopback, through the
//! real binary in a process of its own (so its memory can be read from /proc): each
//! hostile request gets a status or a closed connection within the configured
//! timeouts, the process stays up, `/healthz` keeps answering, and resident memory
//! stays bounded. Most requests are written on raw TCP, as no client library would
//! send them.

use crate::common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The timeouts the server runs with here: short, so that stalled clients are
/// dropped within the test.
const HEADER_TIMEOUT_S: &str = "1";
const REQUEST_TIMEOUT_S: &str = "2";

fn model_file(dir: &Path) -> PathBuf {
    let pkl = common::mnist_dir()
        .parent()
        .unwrap()
        .join("dlfs/sample_weight.pkl");
    let model = scrawl::interop::dlfs::import_dlfs(&pkl).unwrap();
    let path = dir.join("dlfs.safetensors");
    model.save_with_info(&path, &BTreeMap::new()).unwrap();
    path
}

/// `scrawl serve` in a child process, killed when dropped.
struct Served {
    child: Child,
    /// Kept open: the server prints "Stopped." when it ends.
    _stdout: std::process::ChildStdout,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start() -> Served {
        let dir = tempfile::tempdir().unwrap();
        let model = model_file(dir.path());
        let mut child = Command::new(env!("CARGO_BIN_EXE_scrawl"))
            .args(["serve", "--quiet", "--addr", "127.0.0.1:0"])
            .args(["--header-timeout", HEADER_TIMEOUT_S])
            .args(["--request-timeout", REQUEST_TIMEOUT_S])
            .arg("--model")
            .arg(&model)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let addr = common::served_address(&mut stdout);
        Served {
            child,
            _stdout: stdout,
            addr,
            _dir: dir,
        }
    }

    /// A line of /proc/PID/status, in MiB (`VmRSS` now, `VmHWM` the peak).
    fn memory_mib(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with(field))
            .unwrap_or_else(|| panic!("no {field} in /proc status"));
        let kib: f64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap();
        kib / 1024.0
    }

    /// Asserts that the process is up and `/healthz` answers 200; returns how long
    /// the answer took.
    fn assert_healthy(&mut self) -> Duration {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the server process has exited"
        );
        let start = Instant::now();
        let got = exchange(
            self.addr,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            Duration::from_secs(3),
        );
        assert_eq!(got.status, Some(200), "/healthz: {got:?}");
        start.elapsed()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What came back on a connection.
#[derive(Debug)]
struct Answer {
    /// The status of the first response, if one came.
    status: Option<u16>,
    /// The server closed the connection (EOF or reset) within the wait.
    closed: bool,
    /// Everything read.
    text: String,
}

/// Writes `request` (as much as the server takes), then reads until the server
/// closes the connection or `wait` passes.
fn exchange(addr: SocketAddr, request: &[u8], wait: Duration) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_write_timeout(Some(wait)).unwrap();
    let _ = s.write_all(request);
    read_answer(s, wait)
}

fn read_answer(mut s: TcpStream, wait: Duration) -> Answer {
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    let mut closed = false;
    let mut buf = [0u8; 65536];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                closed = true;
                break;
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| text.strip_prefix("HTTP/1.0 "))
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok());
    Answer {
        status,
        closed,
        text,
    }
}

/// Opens a connection and sends `head` (headers announcing a body, say), then
/// nothing more: the connection is returned to be read later.
fn stall(addr: SocketAddr, head: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(head).unwrap();
    s
}

/// Writes one header line that never ends, 64 KiB at a time, until the server
/// stops taking it (or 64 MiB went), then reads the answer.
fn endless_header(addr: SocketAddr) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: ");
    let chunk = vec![b'a'; 65536];
    for _ in 0..1024 {
        if s.write_all(&chunk).is_err() {
            break;
        }
    }
    read_answer(s, Duration::from_secs(5))
}

/// 20 MiB of short header lines on one connection.
fn header_flood(addr: SocketAddr) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n");
    let lines = b"X-A: b\r\n".repeat(8192);
    for _ in 0..(20 << 20) / lines.len() {
        if s.write_all(&lines).is_err() {
            break;
        }
    }
    read_answer(s, Duration::from_secs(5))
}

/// A valid PNG of `width`x`height` 16-bit RGBA, each row given by `row` (8 bytes a
/// pixel), compressed by zlib as it is written: 8192x8192 of one colour is 512 MiB of
/// pixels in 0.5 MiB of file.
fn rgba16_png(width: u32, height: u32, row: impl Fn(u32, &mut [u8])) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[16, 6, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    // Each row starts with its filter type, 0 (none).
    let mut line = vec![0u8; 1 + width as usize * 8];
    for y in 0..height {
        row(y, &mut line[1..]);
        z.write_all(&line).unwrap();
    }
    chunk(&mut out, b"IDAT", &z.finish().unwrap());
    chunk(&mut out, b"IEND", &[]);
    out
}

/// 8192x8192 16-bit RGBA, all transparent: refused by its size alone.
fn huge_png() -> Vec<u8> {
    rgba16_png(8192, 8192, |_, _| {})
}

/// The largest PNG the server decodes under its default budget: 2600x2600 16-bit
/// RGBA (94 MiB to decode), white with a black bar: a "1".
fn maximal_png() -> Vec<u8> {
    let out = rgba16_png(2600, 2600, |y, row| {
        row.fill(0xff);
        if (400..2200).contains(&y) {
            for px in row.chunks_exact_mut(8).skip(1200).take(200) {
                px[..6].fill(0);
            }
        }
    });
    assert!(out.len() < 1 << 20, "{} bytes", out.len());
    out
}

fn post(path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

const WAIT: Duration = Duration::from_secs(5);

/// Headers announcing a 1000-byte body, which the client then never sends.
const BODY_THAT_NEVER_COMES: &[u8] =
    b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n";

#[test]
#[ignore = "full tier: attacks a real server process"]
fn declared_lengths_that_no_body_follows_cost_nothing() {
    let mut server = Served::start();
    let addr = server.addr;
    // 1 TiB announced to a route that reads no body: answered, then closed.
    let got = exchange(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1099511627776\r\n\r\n",
        WAIT,
    );
    assert_eq!(got.status, Some(200), "{got:?}");
    assert!(got.closed, "the connection should close: {got:?}");
    // Absurd lengths to the prediction route, more times than there used to be
    // workers: 2^64-1 and 2^64-2 are refused by hyper as 431 (it keeps the top of the
    // range for its own use), 1 TiB by scrawl as 413.
    for _ in 0..4 {
        for (length, status) in [
            ("18446744073709551615", 431),
            ("18446744073709551614", 431),
            ("1099511627776", 413),
        ] {
            let request = format!(
                "POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {length}\r\n\r\n"
            );
            let got = exchange(addr, request.as_bytes(), WAIT);
            assert_eq!(got.status, Some(status), "{got:?}");
            if status == 413 {
                assert!(got.text.contains("at most 1048576"), "{}", got.text);
            }
            assert!(got.closed, "{got:?}");
        }
    }
    server.assert_healthy();
    assert!(server.memory_mib("VmHWM") < 100.0);
}

#[test]
#[ignore = "full tier: attacks a real server process"]
fn endless_and_flooded_headers_are_refused_in_bounded_memory() {
    let mut server = Served::start();
    let addr = server.addr;
    let answers: Vec<Answer> = std::thread::scope(|s| {
        let mut all: Vec<_> = (0..4)
            .map(|_| s.spawn(move || endless_header(addr)))
            .collect();
        all.extend((0..2).map(|_| s.spawn(move || header_flood(addr))));
        all.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for got in &answers {
        // 431 when the server got to answer before closing; a reset otherwise.
        assert!(
            got.status == Some(431) || (got.status.is_none() && got.closed),
            "{got:?}"
        );
    }
    server.assert_healthy();
    let peak = server.memory_mib("VmHWM");
    assert!(peak < 100.0, "peak resident memory {peak:.0} MiB");
}

#[test]
#[ignore = "full tier: attacks a real server process"]
fn stalled_clients_neither_block_others_nor_stop_shutdown() {
    let mut server = Served::start();
    let addr = server.addr;
    // Bodies announced and never sent, and headers begun and never finished.
    let bodies: Vec<TcpStream> = (0..16)
        .map(|_| stall(addr, BODY_THAT_NEVER_COMES))
        .collect();
    let heads: Vec<TcpStream> = (0..16)
        .map(|_| stall(addr, b"GET / HTTP/1.1\r\nHost: x\r\n"))
        .collect();
    for _ in 0..5 {
        let took = server.assert_healthy();
        // A liveness bound, far above a normal answer: not a speed claim.
        assert!(took < Duration::from_secs(1), "/healthz took {took:?}");
    }
    // Each stalled body gets 408 after the request timeout; each stalled header is
    // closed after the header timeout.
    for s in bodies {
        let got = read_answer(s, WAIT);
        assert_eq!(got.status, Some(408), "{got:?}");
        assert!(got.closed, "{got:?}");
    }
    for s in heads {
        let got = read_answer(s, WAIT);
        assert!(got.closed && got.status.unwrap_or(408) == 408, "{got:?}");
    }
    // SIGTERM with clients stalled mid-body: the server stops within its grace.
    let _more: Vec<TcpStream> = (0..4).map(|_| stall(addr, BODY_THAT_NEVER_COMES)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "full tier: attacks a real server process"]
fn odd_requests_get_an_answer() {
    let mut server = Served::start();
    let addr = server.addr;
    // (request, status wanted; None: closed with no answer)
    let mut cases: Vec<(Vec<u8>, Option<u16>)> = vec![
        (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n".to_vec(), Some(400)),
        // The HTTP/2 preface: hyper closes the connection.
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), None),
        (b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(), Some(200)),
        (b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(), Some(200)),
        (b"GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n".to_vec(), Some(200)),
        (
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Name: caf\u{e9} \u{1F600}\r\nConnection: close\r\n\r\n"
                .as_bytes()
                .to_vec(),
            Some(200),
        ),
        (b"GET /healthz HTTP/1.0\r\n\r\n".to_vec(), Some(200)),
        (b"OPTIONS /api/predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(), Some(405)),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec(), Some(400)),
    ];
    // A 1 MiB URL: refused by size, never echoed back.
    let mut long = b"GET /".to_vec();
    long.extend(std::iter::repeat_n(b'a', 1 << 20));
    long.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
    cases.push((long, Some(431)));
    // A long but acceptable URL: 404, with the path clipped in the message.
    let mut path = b"GET /".to_vec();
    path.extend(std::iter::repeat_n(b'b', 8000));
    path.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    cases.push((path, Some(404)));
    for (request, want) in cases {
        let got = exchange(addr, &request, WAIT);
        let shown = String::from_utf8_lossy(&request[..request.len().min(60)]).into_owned();
        assert_eq!(got.status, want, "{shown:?}: {got:?}");
        assert!(got.closed, "{shown:?} left the connection open: {got:?}");
        assert!(
            got.text.len() < 2000,
            "{shown:?}: {} bytes back",
            got.text.len()
        );
    }
    server.assert_healthy();
}

#[test]
#[ignore = "full tier: attacks a real server process"]
fn images_are_bounded_by_pixels_and_by_a_shared_budget() {
    let mut server = Served::start();
    let addr = server.addr;
    let huge = huge_png();
    assert!(huge.len() < 1 << 20, "{} bytes", huge.len());
    let got = exchange(addr, &post("/api/predict", "image/png", &huge), WAIT);
    assert_eq!(got.status, Some(413), "{got:?}");
    assert!(got.text.contains("8192x8192"), "{}", got.text);
    // Four at once of the huge one, then four of the largest accepted.
    let max = maximal_png();
    let answers: Vec<Answer> = std::thread::scope(|s| {
        let all: Vec<_> = (0..4)
            .map(|_| s.spawn(|| exchange(addr, &post("/api/predict", "image/png", &huge), WAIT)))
            .chain((0..4).map(|_| {
                s.spawn(|| {
                    exchange(
                        addr,
                        &post("/api/predict", "image/png", &max),
                        Duration::from_secs(10),
                    )
                })
            }))
            .collect();
        all.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for got in &answers[..4] {
        assert_eq!(got.status, Some(413), "{got:?}");
    }
    let mut recognised = 0;
    for got in &answers[4..] {
        // Decoded one after another within the budget; one that waits too long for
        // its share is told to come back.
        assert!(matches!(got.status, Some(200 | 503)), "{got:?}");
        recognised += usize::from(got.text.contains("\"digit\":1"));
    }
    assert!(recognised >= 1, "{answers:?}");
    server.assert_healthy();
    let peak = server.memory_mib("VmHWM");
    assert!(peak < 300.0, "peak resident memory {peak:.0} MiB");
}

#[test]
#[ignore = "full tier: attacks a real server process"]
fn every_attack_at_once_leaves_the_server_responsive_and_small() {
    let mut server = Served::start();
    let addr = server.addr;
    let huge = huge_png();
    let max = maximal_png();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut latencies = Vec::new();
    std::thread::scope(|s| {
        // 200 slow connections: headers a byte at a time, 10 a second.
        for _ in 0..200 {
            s.spawn(|| {
                let mut c = TcpStream::connect(addr).unwrap();
                for &b in b"GET /api/model HTTP/1.1\r\nHost: x\r\nX-Slow: "
                    .iter()
                    .cycle()
                    .take(50)
                {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) || c.write_all(&[b]).is_err()
                    {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
        for _ in 0..4 {
            s.spawn(|| {
                exchange(
                    addr,
                    &post("/api/predict", "image/png", &max),
                    Duration::from_secs(10),
                )
            });
            s.spawn(|| exchange(addr, &post("/api/predict", "image/png", &huge), WAIT));
            s.spawn(|| endless_header(addr));
            s.spawn(|| {
                let c = stall(addr, BODY_THAT_NEVER_COMES);
                read_answer(c, WAIT)
            });
        }
        s.spawn(|| header_flood(addr));
        s.spawn(|| {
            for _ in 0..4 {
                exchange(
                    addr,
                    b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\n",
                    WAIT,
                );
            }
        });
        // Meanwhile, /healthz every 20 ms for 4 s.
        std::thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(4) {
            latencies.push(server.assert_healthy());
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    let worst = *latencies.last().unwrap();
    let peak = server.memory_mib("VmHWM");
    eprintln!(
        "under every attack at once: /healthz p50 {:?}, p99 {p99:?}, max {worst:?} over {} probes; peak resident memory {peak:.0} MiB",
        latencies[latencies.len() / 2],
        latencies.len()
    );
    // A liveness bound (a stalled server would miss it by seconds), not a speed claim:
    // the p99 figure is printed above and reported in docs/SECURITY.md.
    assert!(worst < Duration::from_secs(1), "/healthz took {worst:?}");
    assert!(peak < 300.0, "peak resident memory {peak:.0} MiB");
    server.assert_healthy();
}
