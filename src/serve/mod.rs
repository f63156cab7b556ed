//! `scrawl serve`: a page to draw a digit on and a JSON API over one model.
//!
//! ```text
//!  browser ──GET /──────────────▶ page.html (built in: canvas, bars, the 28x28 input)
//!          ──POST /api/predict──▶ PNG ─ blocking pool: drawing::mnistify ─┐
//!                                 JSON pixels ────────────────────────────┴▶ model thread ─▶ JSON
//!          ──GET /api/model, /healthz
//! ```
//!
//! hyper reads and writes connections on a small tokio runtime, with deadlines for
//! headers and bodies and bounds on their sizes ([`ServeLimits`]); `routes` maps
//! requests to answers with axum; [`api`] holds each answer apart from HTTP (testable
//! without a socket); [`inference`] owns the one model, on a thread of its own.

pub mod api;
pub mod inference;
mod routes;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, watch};

use crate::error::{Error, Result};
use crate::model::Sequential;
use inference::Inference;

/// The bounds that keep one client from taking the server: every wait has a
/// deadline and every buffer a size.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// Time for a client to send a request's headers; also how long an idle
    /// keep-alive connection is kept.
    pub header_timeout: Duration,
    /// Time to read a request's body and answer it (408 after).
    pub request_timeout: Duration,
    /// On shutdown, how long requests in progress may take before their connections
    /// are dropped.
    pub shutdown_grace: Duration,
    /// Connections open at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Predictions in progress at once; more are answered 503.
    pub max_in_flight: usize,
    /// The largest request body, in bytes (413 over it).
    pub max_body: usize,
    /// The largest request line and headers together, in bytes (431 over it).
    pub max_header_bytes: usize,
    /// The most header lines in a request (431 over it).
    pub max_headers: usize,
    /// The most pixels an image may have to be decoded (413 over it).
    pub max_image_pixels: u64,
    /// Memory for decoding images, shared by all requests: an image waits for its
    /// share (or gets 503), and one that needs more than all of it gets 413.
    pub image_budget: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            max_connections: 1024,
            max_in_flight: 64,
            max_body: api::MAX_BODY,
            max_header_bytes: 16 << 10,
            max_headers: 64,
            max_image_pixels: 16 << 20,
            image_budget: 96 << 20,
        }
    }
}

/// How `scrawl serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (`127.0.0.1:8080`; port 0 picks a free one).
    pub addr: String,
    /// Threads that read and write connections (the model has a thread of its own).
    pub threads: usize,
    /// No request log on stderr.
    pub quiet: bool,
    /// Timeouts and sizes.
    pub limits: ServeLimits,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            addr: "127.0.0.1:8080".into(),
            threads: 2,
            quiet: false,
            limits: ServeLimits::default(),
        }
    }
}

/// Stops a running server from any thread (a signal handler's included).
#[derive(Clone)]
pub struct StopHandle(Arc<watch::Sender<bool>>);

impl StopHandle {
    /// Stops taking connections; requests in progress get [`ServeLimits::shutdown_grace`].
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// A running server: its address, and a way to stop it.
pub struct Server {
    addr: SocketAddr,
    stop: StopHandle,
    thread: JoinHandle<()>,
}

impl Server {
    /// Loads the model file and starts serving on background threads.
    pub fn start(model_file: &Path, options: &ServeOptions) -> Result<Server> {
        let (model, info) = Sequential::load_with_info(model_file)?;
        if model.input_len() != 784 {
            return Err(Error::config(format!(
                "{}: this model takes inputs of shape {:?}; the page and the API send 28x28 images",
                model_file.display(),
                model.config().input_shape
            )));
        }
        if options.threads == 0 || options.threads > 256 {
            return Err(Error::config(format!(
                "--threads {} is not reasonable: give 1 to 256",
                options.threads
            )));
        }
        let limits = options.limits.clone();
        let cannot = |e: &dyn std::fmt::Display| {
            Error::config(format!("cannot listen on {}: {e}", options.addr))
        };
        let listener = std::net::TcpListener::bind(&options.addr).map_err(|e| cannot(&e))?;
        listener.set_nonblocking(true).map_err(|e| cannot(&e))?;
        let addr = listener.local_addr().map_err(|e| cannot(&e))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.threads)
            .max_blocking_threads(4)
            .thread_name("scrawl-http")
            .enable_all()
            .build()
            .map_err(|e| Error::config(format!("cannot start the server's threads: {e}")))?;
        let described = api::model_info(&model, &info, model_file);
        let (app, model_thread) = app(model, described, options);
        let (stop_tx, stop_rx) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("scrawl-serve".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            accept_loop(listener, routes::router(app), stop_rx, &limits).await
                        }
                        Err(e) => eprintln!("error: cannot listen: {e}"),
                    }
                });
                // Connections still open past the grace period are dropped here, and
                // with them the last handles on the model thread, which then ends.
                runtime.shutdown_timeout(Duration::from_secs(1));
                let _ = model_thread.join();
            })
            .map_err(|e| Error::config(format!("cannot start the server's thread: {e}")))?;
        Ok(Server {
            addr,
            stop: StopHandle(Arc::new(stop_tx)),
            thread,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops the server (for a signal handler).
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Blocks until the server is stopped and its requests are done.
    pub fn wait(self) {
        let _ = self.thread.join();
    }

    /// Stops taking requests, lets the ones in progress finish (within the grace
    /// period), and returns.
    pub fn shutdown(self) {
        self.stop.stop();
        self.wait();
    }
}

/// The state every request shares, and the model thread it sends work to.
fn app(
    model: Sequential,
    described: serde_json::Value,
    options: &ServeOptions,
) -> (Arc<routes::App>, JoinHandle<()>) {
    let limits = options.limits.clone();
    let input_len = model.input_len();
    let (inference, model_thread) = Inference::start(model, limits.max_in_flight);
    let app = Arc::new(routes::App {
        model: inference,
        input_len,
        described: serde_json::to_vec(&described).unwrap_or_default().into(),
        images: Arc::new(Semaphore::new(limits.image_budget.div_ceil(1024))),
        limits,
        quiet: options.quiet,
    });
    (app, model_thread)
}

/// The routes over `model` with no socket, quiet: for the fuzzer, which sends
/// requests through them with `tower::ServiceExt::oneshot`.
pub(crate) fn router_for(model: Sequential) -> axum::Router {
    let options = ServeOptions {
        quiet: true,
        ..ServeOptions::default()
    };
    // The model thread lives as long as the router's handles on it.
    let (app, _model_thread) = app(model, serde_json::Value::Null, &options);
    routes::router(app)
}

/// Accepts connections until stopped, each served by hyper with the header limits
/// and timeouts; then waits for requests in progress, at most the grace period.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    mut stop: watch::Receiver<bool>,
    limits: &ServeLimits,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_headers(limits.max_headers)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size((limits.max_header_bytes + 1024).max(64 << 10))
        .keep_alive(true);
    let service = TowerToHyperService::new(router);
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of descriptors, or a connection reset before it was taken:
                // wait a moment rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = stop.wait_for(|&stopped| stopped) => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection =
            graceful.watch(http.serve_connection(TokioIo::new(stream), service.clone()));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(limits.shutdown_grace) => {}
    }
}

/// The answer to a connection over [`ServeLimits::max_connections`].
async fn refuse(mut stream: tokio::net::TcpStream) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
        retry-after: 1\r\nconnection: close\r\ncontent-length: 51\r\n\r\n\
        {\"error\":\"too many connections: try again shortly\"}";
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(BUSY)).await;
}
