//! `scrawl serve`: the drawing page and the JSON API.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use scrawl::serve::{ServeLimits, ServeOptions, Server};

/// Flags of `scrawl serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// A model file written by `scrawl train` (28x28 inputs), or a run folder.
    #[arg(long)]
    model: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Threads that read and write connections (the model has one of its own).
    #[arg(long, default_value_t = 2, value_parser = super::threads_arg)]
    threads: usize,
    /// Seconds a client has to send a request's headers; also how long an idle
    /// keep-alive connection stays open.
    #[arg(long, default_value_t = 5.0, value_parser = super::seconds_arg)]
    header_timeout: f64,
    /// Seconds to read a request's body and answer it (408 after).
    #[arg(long, default_value_t = 10.0, value_parser = super::seconds_arg)]
    request_timeout: f64,
    /// No request log on stderr (method, path, status, milliseconds).
    #[arg(long, short)]
    quiet: bool,
}

/// Runs `scrawl serve` until Ctrl-C or SIGTERM.
pub fn serve(a: ServeArgs) -> anyhow::Result<()> {
    // A server outlives whoever reads its output: `scrawl serve | head` closing the
    // pipe must not kill it (main restores SIGPIPE's default for the other commands).
    #[cfg(unix)]
    // SAFETY: SIG_IGN is a valid action; no other thread is running yet.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    if !a.model.exists() {
        super::load_model(&a.model)?;
    }
    let model = scrawl::run::model_file(&a.model)?;
    let server = Server::start(
        &model,
        &ServeOptions {
            addr: a.addr,
            threads: a.threads,
            quiet: a.quiet,
            limits: ServeLimits {
                header_timeout: Duration::from_secs_f64(a.header_timeout),
                request_timeout: Duration::from_secs_f64(a.request_timeout),
                ..ServeLimits::default()
            },
        },
    )?;
    let stop = server.stop_handle();
    ctrlc::set_handler(move || stop.stop())?;
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "Serving {} on http://{}/ (Ctrl-C to stop)",
        model.display(),
        server.addr()
    );
    let _ = out.flush();
    server.wait();
    let _ = writeln!(out, "Stopped.");
    Ok(())
}
