//! The `scrawl` command: a thin layer over the library (see `src/cli/`).

mod cli;

/// Buffers start on cache lines: every AVX-512 load of a whole vector then reads one
/// line, not two (`scrawl::kernels::aligned`).
#[global_allocator]
static ALLOCATOR: scrawl::kernels::CacheLineAligned = scrawl::kernels::CacheLineAligned;

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
