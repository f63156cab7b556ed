//! `scrawl serve`: a page to draw a digit on and a JSON API over one model.
//!
//! ```text
//!  browser ──GET /──────────────▶ page.html (built in: canvas, bars, the 28x28 input)
//!          ──POST /api/predict──▶ worker: PNG ─ drawing::mnistify ─┐
//!                                         JSON pixels ─────────────┴▶ Sequential ─▶ JSON
//!          ──GET /api/model, /healthz
//! ```
//!
//! tiny_http accepts connections; a few worker threads each own a copy of the model
//! (a forward pass needs its own activation buffers) and take requests from it in
//! turn. Routing and every answer are in [`api`], apart from the socket.

pub mod api;

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};
use tiny_http::{Header, Method, Request, Response};

use crate::error::{Error, Result};
use crate::model::Sequential;
use api::{MAX_BODY, Reply};

/// The page, its script and style inline: no CDN, works offline.
const PAGE: &str = include_str!("page.html");

/// How `scrawl serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (`127.0.0.1:8080`; port 0 picks a free one).
    pub addr: String,
    /// Worker threads, each with its own copy of the model.
    pub workers: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            addr: "127.0.0.1:8080".into(),
            workers: 4,
        }
    }
}

/// A running server: its address, and a way to stop it.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

impl Server {
    /// Loads the model file and starts serving in background threads.
    pub fn start(model_file: &Path, options: &ServeOptions) -> Result<Server> {
        let (model, info) = Sequential::load_with_info(model_file)?;
        if model.input_len() != 784 {
            return Err(Error::config(format!(
                "{}: this model takes inputs of shape {:?}; the page and the API send 28x28 images",
                model_file.display(),
                model.config().input_shape
            )));
        }
        if options.workers == 0 || options.workers > 256 {
            return Err(Error::config(format!(
                "--workers {} is not reasonable: give 1 to 256",
                options.workers
            )));
        }
        let described = Arc::new(api::model_info(&model, &info, model_file));
        let cannot = |e: &dyn std::fmt::Display| {
            Error::config(format!("cannot listen on {}: {e}", options.addr))
        };
        let listener = std::net::TcpListener::bind(&options.addr).map_err(|e| cannot(&e))?;
        no_delay(&listener);
        let http = tiny_http::Server::from_listener(listener, None).map_err(|e| cannot(&e))?;
        let addr = http
            .server_addr()
            .to_ip()
            .ok_or_else(|| Error::config("the server is not on an IP address"))?;
        let http = Arc::new(http);
        let stop = Arc::new(AtomicBool::new(false));
        // The file was just read whole; its copies come from the same bytes.
        let bytes = crate::files::read_limited(
            model_file,
            crate::model::io::MAX_MODEL_FILE_BYTES,
            "a model file",
        )?;
        let mut models = vec![model];
        for _ in 1..options.workers {
            models.push(Sequential::from_bytes(&bytes)?.0);
        }
        let workers = models
            .into_iter()
            .map(|mut model| {
                let (http, stop, described) = (http.clone(), stop.clone(), described.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        // A short timeout so a stop request is seen promptly.
                        match http.recv_timeout(Duration::from_millis(100)) {
                            Ok(Some(request)) => handle(request, &mut model, &described),
                            Ok(None) => {}
                            Err(_) => std::thread::sleep(Duration::from_millis(10)),
                        }
                    }
                })
            })
            .collect();
        Ok(Server {
            addr,
            stop,
            workers,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A flag that stops the server when set (for a signal handler).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Blocks until the stop flag is set and every worker has finished its request.
    pub fn wait(self) {
        for w in self.workers {
            let _ = w.join();
        }
    }

    /// Stops taking requests, lets the ones in progress finish, and returns.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wait();
    }
}

/// Answers one request; nothing here may panic the worker.
fn handle(mut request: Request, model: &mut Sequential, described: &Value) {
    let path = request.url().split('?').next().unwrap_or("").to_string();
    let method = request.method().clone();
    let reply = match (path.as_str(), &method) {
        ("/" | "/index.html", Method::Get | Method::Head) => {
            respond(
                request,
                200,
                "text/html; charset=utf-8",
                PAGE.as_bytes().to_vec(),
            );
            return;
        }
        ("/healthz", Method::Get) => Reply::ok(json!({ "status": "ok" })),
        ("/api/model", Method::Get) => Reply::ok(described.clone()),
        ("/api/predict", Method::Post) => match read_body(&mut request) {
            Ok(body) => {
                let content_type = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Content-Type"))
                    .map(|h| h.value.as_str().to_string())
                    .unwrap_or_default();
                api::predict(model, &content_type, &body)
            }
            Err(reply) => reply,
        },
        ("/" | "/index.html" | "/healthz" | "/api/model" | "/api/predict", m) => {
            Reply::error(405, format!("{m} is not allowed on {path}"))
        }
        _ => Reply::error(
            404,
            format!("no such page: {path} (try /, /api/predict, /api/model, /healthz)"),
        ),
    };
    let body = serde_json::to_vec(&reply.body).unwrap_or_default();
    respond(request, reply.status, "application/json", body);
}

fn respond(request: Request, status: u16, content_type: &str, body: Vec<u8>) {
    let response = Response::from_data(body)
        .with_status_code(status)
        .with_header(header("Content-Type", content_type));
    let _ = request.respond(response);
}

/// The body, refused when over [`MAX_BODY`]: by its declared length before reading,
/// else by reading one byte past the limit at most.
fn read_body(request: &mut Request) -> std::result::Result<Vec<u8>, Reply> {
    let too_big = |n: String| {
        Reply::error(
            413,
            format!("the body is {n} bytes; at most {MAX_BODY} (1 MiB) are accepted"),
        )
    };
    if let Some(n) = request.body_length()
        && n > MAX_BODY
    {
        return Err(too_big(n.to_string()));
    }
    let mut body = Vec::new();
    request
        .as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| Reply::error(400, format!("cannot read the body: {e}")))?;
    if body.len() > MAX_BODY {
        return Err(too_big(format!("more than {MAX_BODY}")));
    }
    Ok(body)
}

/// Turns Nagle's algorithm off for every connection: tiny_http writes a response
/// through a 1 KiB buffer, and on a keep-alive connection the delayed ACK of the
/// first piece held the rest back 40 ms. Linux hands the listener's TCP_NODELAY to
/// each accepted socket.
fn no_delay(listener: &std::net::TcpListener) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: a valid socket descriptor and a c_int option of the right size.
        unsafe {
            libc::setsockopt(
                listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = listener;
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header is valid")
}
