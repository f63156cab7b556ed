//! `scrawl serve`: the drawing page and the JSON API.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use scrawl::serve::{ServeOptions, Server};

/// Flags of `scrawl serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// A model file written by `scrawl train` (28x28 inputs).
    #[arg(long)]
    model: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Worker threads, each with its own copy of the model.
    #[arg(long, default_value_t = 4)]
    workers: usize,
}

/// Runs `scrawl serve` until Ctrl-C or SIGTERM.
pub fn serve(a: ServeArgs) -> anyhow::Result<()> {
    if !a.model.exists() {
        super::load_model(&a.model)?;
    }
    let server = Server::start(
        &a.model,
        &ServeOptions {
            addr: a.addr,
            workers: a.workers,
        },
    )?;
    let stop = server.stop_flag();
    ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed))?;
    println!(
        "Serving {} on http://{}/ (Ctrl-C to stop)",
        a.model.display(),
        server.addr()
    );
    server.wait();
    println!("Stopped.");
    Ok(())
}
