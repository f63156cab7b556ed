//! The routes of `scrawl serve` over axum, and the two things every request passes
//! through: a deadline for its body and answer, and a log line.
//!
//! `POST /api/predict` is the only route that costs anything: a concurrency limit
//! answers 503 beyond [`ServeLimits::max_in_flight`] predictions at once; an image's
//! decoding is paid for out of a server-wide memory budget (waiting for it, or 503)
//! and runs on the blocking pool; the forward pass runs on the model thread.

use std::convert::Infallible;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::error_handling::HandleErrorLayer;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use serde_json::json;
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;

use super::ServeLimits;
use super::api::{self, Input, Reply};
use super::inference::{Inference, Refused};
use crate::data::drawing;

/// The page, its script and style inline: no CDN, works offline.
const PAGE: &str = include_str!("page.html");

/// What every handler shares: one of it for the whole server.
pub(super) struct App {
    pub model: Inference,
    pub input_len: usize,
    /// `GET /api/model`'s body, serialized once.
    pub described: Bytes,
    pub limits: ServeLimits,
    /// The image-decoding budget, one permit a KiB.
    pub images: Arc<Semaphore>,
    pub quiet: bool,
}

/// The whole application: routes, fallbacks, and the deadline and log around them.
pub(super) fn router(app: Arc<App>) -> Router {
    let busy = |_: tower::BoxError| async {
        json_reply(Reply::error(
            503,
            "the server is busy with other predictions: try again in a moment",
        ))
    };
    let predict_route = post(predict).fallback(not_allowed).layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(busy))
            .layer(LoadShedLayer::new())
            .layer(GlobalConcurrencyLimitLayer::new(app.limits.max_in_flight)),
    );
    Router::new()
        .route("/", get(page).fallback(not_allowed))
        .route("/index.html", get(page).fallback(not_allowed))
        .route("/healthz", get(healthz).fallback(not_allowed))
        .route("/api/model", get(model_info).fallback(not_allowed))
        .route("/api/predict", predict_route)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// The deadline for a request's body and answer, and its log line on stderr.
async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let path = crate::files::clip(request.uri().path(), 120);
    // A body the handler does not read in full (any route but a successful
    // prediction) would otherwise be drained from the socket for as long as the
    // client cares to send it: such connections are closed after the answer.
    let announced_body = request.headers().contains_key(header::TRANSFER_ENCODING)
        || request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let reads_body = method == Method::POST && path == "/api/predict";
    let deadline = app.limits.request_timeout;
    let response = match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let mut r = json_reply(Reply::error(
                408,
                format!(
                    "the request was not read and answered within {}",
                    seconds(deadline)
                ),
            ));
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        }
    };
    let mut response = response;
    if announced_body && !(reads_body && response.status().is_success()) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if !app.quiet {
        // A closed stderr must not fail the request.
        let _ = writeln!(
            std::io::stderr().lock(),
            "{method} {path} {} {:.1} ms",
            response.status().as_u16(),
            start.elapsed().as_secs_f64() * 1e3
        );
    }
    response
}

fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// A [`Reply`] as an HTTP response with a JSON body.
fn json_reply(reply: Reply) -> Response {
    let body = reply.body;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

async fn page() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response()
}

async fn healthz() -> Response {
    json_reply(Reply::ok(&json!({ "status": "ok" })))
}

async fn model_info(State(app): State<Arc<App>>) -> Response {
    json_reply(Reply {
        status: 200,
        body: app.described.to_vec(),
    })
}

async fn not_allowed(method: Method, request: Request) -> Response {
    let path = crate::files::clip(request.uri().path(), 120);
    let allow = if path == "/api/predict" {
        "POST"
    } else {
        "GET, HEAD"
    };
    let mut r = json_reply(Reply::error(
        405,
        format!("{method} is not allowed on {path}: use {allow}"),
    ));
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

async fn not_found(request: Request) -> Response {
    // The path is clipped: a 1 MiB URL is not echoed back.
    json_reply(Reply::error(
        404,
        format!(
            "no such page: {} (try /, /api/predict, /api/model, /healthz)",
            crate::files::clip(request.uri().path(), 120)
        ),
    ))
}

async fn predict(State(app): State<Arc<App>>, request: Request) -> Response {
    json_reply(predict_reply(&app, request).await.unwrap_or_else(|e| e))
}

async fn predict_reply(app: &App, request: Request) -> Result<Reply, Reply> {
    let headers = request.headers();
    let content_type = match headers.get(header::CONTENT_TYPE) {
        None => String::new(),
        Some(v) => v
            .to_str()
            .map_err(|_| Reply::error(400, "the content-type header is not readable text"))?
            .to_string(),
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = read_body(request.into_body(), app.limits.max_body, declared).await?;
    let pixels = match api::read_input(&content_type, &body, app.input_len)? {
        Input::Pixels(pixels) => pixels,
        Input::Image(bytes) => match image_pixels(app, body.slice_ref(bytes)).await? {
            Some(pixels) => pixels,
            None => return Ok(api::blank()),
        },
        Input::Multipart(boundary) => {
            let (part_type, part) = form_file(body.clone(), boundary).await?;
            match api::read_input(&part_type, &part, app.input_len)? {
                Input::Pixels(pixels) => pixels,
                Input::Image(bytes) => match image_pixels(app, part.slice_ref(bytes)).await? {
                    Some(pixels) => pixels,
                    None => return Ok(api::blank()),
                },
                Input::Multipart(_) => {
                    return Err(Reply::error(
                        415,
                        "a multipart/form-data part is itself multipart",
                    ));
                }
            }
        }
    };
    if api::is_blank(&pixels) {
        return Ok(api::blank());
    }
    match app.model.predict(pixels.clone()).await {
        Ok(probs) => Ok(api::answer(&pixels, &probs)),
        Err(Refused::Busy) => Err(Reply::error(
            503,
            "the server is busy with other predictions: try again in a moment",
        )),
        Err(Refused::Stopped) => Err(Reply::error(503, "the server is shutting down")),
        Err(Refused::Failed(e)) => Err(Reply::error(500, format!("the model failed: {e}"))),
    }
}

/// The body, refused with 413 when over `max` bytes.
///
/// A body of up to four times the limit is read to its end and thrown away before
/// the answer, so that the client, still writing it, reads the 413 instead of a reset
/// connection; a larger one is refused at once, by its declared length before
/// anything is read, and the connection is closed.
async fn read_body(body: Body, max: usize, declared: Option<u64>) -> Result<Bytes, Reply> {
    let drain_up_to = 4 * max as u64;
    let too_big = |n: String| {
        Reply::error(
            413,
            format!(
                "the body is {n} bytes; at most {max} ({}) are accepted",
                crate::files::human_bytes(max as u64)
            ),
        )
    };
    if let Some(n) = declared
        && n > max as u64
    {
        if n <= drain_up_to {
            drain(body, drain_up_to).await;
        }
        return Err(too_big(n.to_string()));
    }
    let mut body = body;
    let mut data = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Reply::error(400, format!("cannot read the body: {e}")))?;
        if let Ok(chunk) = frame.into_data() {
            if data.len() + chunk.len() > max {
                let seen = data.len() + chunk.len();
                drop(data);
                drain(body, drain_up_to.saturating_sub(seen as u64)).await;
                return Err(too_big(format!("more than {max}")));
            }
            data.extend_from_slice(&chunk);
        }
    }
    Ok(Bytes::from(data))
}

/// Reads and discards a body until its end or `allowance` bytes.
async fn drain(mut body: Body, allowance: u64) {
    let mut seen = 0u64;
    while seen <= allowance {
        match body.frame().await {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len() as u64),
            _ => return,
        }
    }
}

/// 28x28 grey levels from an image, or `None` when it holds no ink. The image is
/// measured from its header first: too many pixels is 413 before anything is
/// decoded; then its working memory is taken from the server's budget (waiting up to
/// half the request deadline, else 503) and given back when it is done.
async fn image_pixels(app: &App, bytes: Bytes) -> Result<Option<Vec<u8>>, Reply> {
    let m = drawing::measure(&bytes, Path::new("request body"))
        .map_err(|e| Reply::error(400, e.to_string()))?;
    let limits = &app.limits;
    if m.pixels() > limits.max_image_pixels {
        return Err(Reply::error(
            413,
            format!(
                "a {}x{} image has {} pixels; the server decodes at most {}: scale it down",
                m.width,
                m.height,
                m.pixels(),
                limits.max_image_pixels
            ),
        ));
    }
    let cost = m.working_bytes();
    if cost > limits.image_budget as u64 {
        return Err(Reply::error(
            413,
            format!(
                "decoding this {}x{} image takes {}, more than the {} the server decodes at once: scale it down or send 8-bit grey",
                m.width,
                m.height,
                crate::files::human_bytes(cost),
                crate::files::human_bytes(limits.image_budget as u64)
            ),
        ));
    }
    let kib = u32::try_from(cost.div_ceil(1024)).unwrap_or(u32::MAX);
    let wait = limits.request_timeout / 2;
    let permit = match tokio::time::timeout(wait, app.images.clone().acquire_many_owned(kib)).await
    {
        Ok(Ok(permit)) => permit,
        _ => {
            return Err(Reply::error(
                503,
                "the server is busy decoding other images: try again in a moment",
            ));
        }
    };
    tokio::task::spawn_blocking(move || {
        let _held = permit;
        api::image_pixels(&bytes)
    })
    .await
    .map_err(|_| Reply::error(500, "decoding the image failed"))?
}

/// The image part of a `multipart/form-data` body: the first part that is a file or
/// has an image type, with its content type (sniffed when it has none).
async fn form_file(body: Bytes, boundary: String) -> Result<(String, Bytes), Reply> {
    let bad = |e: multer::Error| Reply::error(400, format!("multipart/form-data: {e}"));
    let stream = futures_util::stream::once(async move { Ok::<Bytes, Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let content_type = field.content_type().map(|m| m.to_string());
        let is_file = field.file_name().is_some();
        let is_image = content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("image/"));
        let data = field.bytes().await.map_err(bad)?;
        if is_file || is_image {
            let content_type = match content_type {
                Some(c) if c != "text/plain" => c,
                // curl names a file of unknown extension application/octet-stream
                // (or nothing): its bytes tell what it is.
                _ => "application/octet-stream".to_string(),
            };
            return Ok((content_type, data));
        }
    }
    Err(Reply::error(
        400,
        "multipart/form-data with no file in it: send the image as a file (curl -F file=@digit.png)",
    ))
}
