//! The `scrawl` command: a thin layer over the library (see `src/cli/`).

mod cli;

fn main() -> std::process::ExitCode {
    // `scrawl data head | head -3` must end quietly when the reader closes the pipe, as
    // Unix tools do, instead of panicking on a failed print. Rust ignores SIGPIPE by
    // default; restoring the default action gives the conventional behaviour.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread starts; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    cli::main()
}
