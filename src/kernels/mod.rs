//! Compute kernels: the GEMM and the small element-wise helpers around it.
//!
//! Element-wise work is split over rows in fixed-size chunks, so the result never
//! depends on which thread did what: training is bit-for-bit reproducible for a given
//! seed and thread count.

pub mod aligned;
pub mod gemm;
pub mod isa;
pub mod owned;
pub mod small_gemm;
pub mod sparse;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;

pub use aligned::CacheLineAligned;
pub use gemm::{Dims, Operand, Store, matmul, matmul_serial};
pub use small_gemm::{small_matmul, small_matmul_rows, small_matmul_transposed_b};
pub use sparse::{looks_sparse, sparse_matmul};

/// The kernels' tests' operands: values in [-0.5, 0.5) from a fixed-seed linear
/// congruential generator (the same on every machine), `zeros_in_8` draws in 8 (on
/// average) exact zeros, as in images and relu outputs.
#[cfg(test)]
pub(crate) fn test_values(mut seed: u32, zeros_in_8: u32) -> impl FnMut() -> f32 {
    move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        if seed >> 29 < zeros_in_8 {
            0.0
        } else {
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        }
    }
}

/// Below this many values a row loop runs on the calling thread.
const PARALLEL_MIN_VALUES: usize = 1 << 15;

/// Values in one block of the row helpers: large enough that a parallel task is
/// worth its scheduling, small enough to leave work for every thread.
const BLOCK_VALUES: usize = 1 << 14;

/// Rows per block for rows of `row_len` values.
fn block_rows(row_len: usize) -> usize {
    (BLOCK_VALUES / row_len.max(1)).max(1)
}

/// Runs `f(row_index, row)` over every `row_len`-long row of `data`, in parallel (by
/// blocks of rows) when the work is large enough.
pub fn for_each_row(data: &mut [f32], row_len: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if row_len == 0 {
        return;
    }
    let rows = |b: usize, block: &mut [f32], per: usize| {
        for (i, row) in block.chunks_exact_mut(row_len).enumerate() {
            f(b * per + i, row);
        }
    };
    if data.len() < PARALLEL_MIN_VALUES || rayon::current_num_threads() == 1 {
        rows(0, data, 0);
    } else {
        let per = block_rows(row_len);
        data.par_chunks_mut(per * row_len)
            .enumerate()
            .for_each(|(b, block)| rows(b, block, per));
    }
}

/// Per-column sums in f64 over `rows` rows: `f(i, acc)` adds row `i`'s terms to
/// `acc` (`out.len()` accumulators), and the result lands in `out`. Rows are grouped
/// in blocks of a fixed size whatever the thread count, and the blocks' partial
/// sums are added in order, so the result is the same on any number of threads.
/// `partials` is scratch space, kept by the caller so a step allocates nothing.
pub fn sum_rows(
    rows: usize,
    row_len: usize,
    partials: &mut Vec<f64>,
    out: &mut [f64],
    f: impl Fn(usize, &mut [f64]) + Sync,
) {
    let width = out.len();
    out.fill(0.0);
    if rows == 0 || width == 0 {
        return;
    }
    let per = block_rows(row_len);
    let blocks = rows.div_ceil(per);
    partials.clear();
    partials.resize(blocks * width, 0.0);
    let block = |b: usize, acc: &mut [f64]| {
        for i in b * per..((b + 1) * per).min(rows) {
            f(i, acc);
        }
    };
    if rows * row_len < PARALLEL_MIN_VALUES || rayon::current_num_threads() == 1 {
        partials
            .chunks_exact_mut(width)
            .enumerate()
            .for_each(|(b, acc)| block(b, acc));
    } else {
        partials
            .par_chunks_exact_mut(width)
            .enumerate()
            .for_each(|(b, acc)| block(b, acc));
    }
    for acc in partials.chunks_exact(width) {
        out.iter_mut().zip(acc).for_each(|(o, a)| *o += a);
    }
}

/// Runs `f(offset, chunk)` over `data` cut into equal chunks, in parallel when large.
pub fn for_each_chunk(data: &mut [f32], f: impl Fn(usize, &mut [f32]) + Sync) {
    const CHUNK: usize = 1 << 14;
    if data.len() < PARALLEL_MIN_VALUES || rayon::current_num_threads() == 1 {
        f(0, data);
    } else {
        data.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, c)| f(i * CHUNK, c));
    }
}

/// `acc[j] += Σ_i m[i][j]`: column sums of a row-major matrix with `acc.len()` columns
/// (the bias gradient). Rows are added in order, so the result is deterministic.
pub fn add_column_sums(acc: &mut [f32], m: &[f32]) {
    for row in m.chunks_exact(acc.len()) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
}

/// Index of the largest value (the first one on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Runs `f` on a worker of the thread pool and returns its result. A training loop
/// run this way hands each parallel section to the other workers directly, instead
/// of waking the calling thread after every one (which costs a context switch per
/// GEMM: a large share of a small-batch step).
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        rayon::join(f, || ()).0
    }
}

/// Runs `f` on a worker of the pool, as [`on_pool`], while the pool's other workers
/// keep looking for work instead of going to sleep between parallel sections: a
/// training loop's use. A rayon worker that finds nothing for a few dozen rounds
/// sleeps, and waking it costs a system call and, on a virtual machine, the host's
/// rescheduling of an idle virtual CPU; a small-batch step (`mlp-512-512` at batch
/// 32: a dozen parallel sections in 0.75 ms) paid that at nearly every section. The
/// other workers spin as OpenMP's do (`rayon::yield_now` runs any job they find) and
/// yield the CPU to other threads now and then.
///
/// A worker leaves after [`KEEP_WARM_IDLE`] without work, and `f` calls
/// [`WarmWorkers::keep`] at each step to send back any that left. Leaving is what
/// makes this safe: a rayon worker waiting on a job runs other jobs meanwhile, so a
/// keep-warm job can be taken up in the middle of a job that `f` (or another fit on
/// the same pool) waits for; a keeper that spun until `f` returned would then never
/// return. Once every waiting thread is blocked there is no work, and the keeper lets
/// go within [`KEEP_WARM_IDLE`] (a test runs two fits on one pool until it would hang).
///
/// Which thread runs which job never changes a result (every kernel's sums are fixed
/// by its operands), so the weights are the same bits as without.
pub fn on_warm_pool<R: Send>(f: impl FnOnce(&WarmWorkers) -> R + Send) -> R {
    on_pool(|| {
        let warm = WarmWorkers {
            owner: rayon::current_thread_index(),
            threads: rayon::current_num_threads(),
            done: Arc::new(AtomicBool::new(false)),
            keepers: Arc::new(AtomicUsize::new(0)),
        };
        // Set on the way out even if `f` panics, so the other workers are released.
        let _release = SetOnDrop(Arc::clone(&warm.done));
        warm.keep();
        f(&warm)
    })
}

/// The other workers of an [`on_warm_pool`] call, kept looking for work.
pub struct WarmWorkers {
    /// The worker that runs `f`; it never keeps warm itself.
    owner: Option<usize>,
    threads: usize,
    /// Set when `f` returns: every keeper leaves.
    done: Arc<AtomicBool>,
    /// Keepers sent and not yet gone.
    keepers: Arc<AtomicUsize>,
}

impl WarmWorkers {
    /// Sends the other workers back to look for work if they have all left (after
    /// [`KEEP_WARM_IDLE`] without any): a training loop calls this at every step. It
    /// costs one atomic load while they are there.
    pub fn keep(&self) {
        if self.threads < 2 || self.keepers.load(Ordering::Acquire) > 0 {
            return;
        }
        self.keepers.store(self.threads - 1, Ordering::Release);
        let (done, keepers, owner) = (
            Arc::clone(&self.done),
            Arc::clone(&self.keepers),
            self.owner,
        );
        rayon::spawn_broadcast(move |ctx| {
            // The owner runs `f`; its own copy of this job must not spin, or `f`'s
            // thread could be caught in it while waiting on a parallel section.
            if Some(ctx.index()) != owner {
                // Counted from before the loop until after `keepers` drops, so a test
                // that sees no keeper left knows `keep` will send them again.
                #[cfg(test)]
                let _counted = tests::Keeper::start();
                keep_warm(&done);
                keepers.fetch_sub(1, Ordering::AcqRel);
            }
        });
    }
}

/// How long a warm worker goes without work before it leaves (and sleeps as rayon's
/// workers do, until [`WarmWorkers::keep`] sends it back): long enough to bridge the
/// serial stretches of a step, short enough that a keeper caught inside a job another
/// thread waits for costs little.
pub const KEEP_WARM_IDLE: Duration = Duration::from_millis(2);

/// A worker's loop under [`on_warm_pool`]: run whatever job can be found until `done`
/// or until [`KEEP_WARM_IDLE`] passes without one.
fn keep_warm(done: &AtomicBool) {
    let mut idle_since: Option<Instant> = None;
    let mut looks = 0u32;
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() == Some(rayon::Yield::Executed) {
            idle_since = None;
            continue;
        }
        let since = *idle_since.get_or_insert_with(Instant::now);
        looks = looks.wrapping_add(1);
        if since.elapsed() >= KEEP_WARM_IDLE {
            return;
        } else if looks.is_multiple_of(64) {
            std::thread::yield_now(); // let other threads of the machine run
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Sets the flag when dropped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// Workers in [`keep_warm`] right now, in this test binary.
    static KEEPERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// Held by each test that starts warm workers: [`KEEPERS`] and [`STARTS`] count
    /// all of them, so two such tests at once would read each other's.
    static WARM_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Keepers started, ever, in this test binary: a keeper may leave (idle for 2 ms)
    /// before another has woken, so the tests count starts, not keepers at once.
    static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// Counts a worker in [`keep_warm`] while it lives.
    pub(super) struct Keeper;

    impl Keeper {
        pub(super) fn start() -> Keeper {
            KEEPERS.fetch_add(1, Ordering::SeqCst);
            STARTS.fetch_add(1, Ordering::SeqCst);
            Keeper
        }
    }

    impl Drop for Keeper {
        fn drop(&mut self) {
            KEEPERS.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Waits up to 5 s for every warm worker to leave its loop.
    fn keepers_released() -> bool {
        let start = Instant::now();
        while KEEPERS.load(Ordering::SeqCst) > 0 {
            if start.elapsed() > Duration::from_secs(5) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// `on_warm_pool` returns `f`'s result with parallel work inside (nested too), the
    /// other workers really spin meanwhile, leave when idle and come back on
    /// [`WarmWorkers::keep`], and they are released afterwards: after a normal return
    /// and after a panic in `f`, which reaches the caller.
    #[test]
    fn warm_pool_runs_f_and_releases_its_workers() {
        let _alone = WARM_TESTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        // Waits up to 5 s for `counter` to reach `n`; returns what it reached.
        let reach = |counter: &std::sync::atomic::AtomicUsize, n: usize| {
            let start = Instant::now();
            while counter.load(Ordering::SeqCst) != n && start.elapsed().as_secs() < 5 {
                std::hint::spin_loop();
            }
            counter.load(Ordering::SeqCst)
        };
        let before = STARTS.load(Ordering::SeqCst);
        let sum = pool.install(|| {
            on_warm_pool(|warm| {
                let spun = reach(&STARTS, before + 2) - before;
                assert_eq!(spun, 2, "the other two workers spin");
                assert_eq!(reach(&KEEPERS, 0), 0, "idle keepers leave");
                warm.keep();
                let back = reach(&STARTS, before + 4) - before;
                assert_eq!(back, 4, "keep sends them back");
                let inner: u64 = on_warm_pool(|_| (0..10_000u64).into_par_iter().sum());
                inner + (0..1000u64).into_par_iter().map(|i| i * 2).sum::<u64>()
            })
        });
        assert_eq!(sum, 49_995_000 + 999_000);
        assert!(
            keepers_released(),
            "warm workers still spinning after return"
        );
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.install(|| on_warm_pool(|_| -> u32 { panic!("inside fit") }))
        }));
        assert!(caught.is_err());
        assert!(
            keepers_released(),
            "warm workers still spinning after a panic"
        );
        assert_eq!(pool.install(|| on_warm_pool(|_| 7)), 7);
        assert!(keepers_released());
    }

    /// Two fits at once on one pool (tests run so, and so may a server's users): a
    /// warm worker can be handed the other fit's keep-warm job in the middle of a job
    /// its own fit waits for. Every step must still finish; a watchdog turns a hang
    /// into a failure.
    #[test]
    fn concurrent_warm_pools_never_hang() {
        let _alone = WARM_TESTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pool = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap(),
        );
        let (sent, got) = std::sync::mpsc::channel();
        for who in 0..2u64 {
            let (pool, sent) = (Arc::clone(&pool), sent.clone());
            std::thread::spawn(move || {
                for round in 0..2000u64 {
                    let total = pool.install(|| {
                        on_warm_pool(|warm| {
                            let mut total = 0u64;
                            for step in 0..20u64 {
                                warm.keep();
                                let parts = AtomicU64::new(0);
                                owned::for_each_owner(|o| {
                                    parts.fetch_add(o.part as u64 + 1, Ordering::SeqCst);
                                });
                                total += parts.load(Ordering::SeqCst);
                                total += (0..4096u32)
                                    .into_par_iter()
                                    .with_min_len(64)
                                    .map(|i| u64::from(i) % (step + 2))
                                    .sum::<u64>();
                            }
                            total
                        })
                    });
                    sent.send((who, round, total)).unwrap();
                }
            });
        }
        drop(sent);
        let mut seen = 0;
        loop {
            match got.recv_timeout(Duration::from_secs(60)) {
                Ok(_) => seen += 1,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(e) => panic!("two warm fits hung after {seen} rounds: {e}"),
            }
        }
        assert_eq!(seen, 4000);
    }

    /// Big enough for the parallel path; the sums must not depend on the pool size.
    #[test]
    fn sum_rows_is_exact_and_independent_of_threads() {
        let (rows, c) = (3000, 32);
        let x: Vec<f32> = (0..rows * c)
            .map(|i| ((i * 7919) % 1013) as f32 / 97.0 - 5.0)
            .collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let (mut partials, mut out) = (Vec::new(), vec![0.0; 2 * c]);
                sum_rows(rows, c, &mut partials, &mut out, |i, acc| {
                    let (s1, s2) = acc.split_at_mut(c);
                    for j in 0..c {
                        let v = x[i * c + j] as f64;
                        s1[j] += v;
                        s2[j] += v * v;
                    }
                });
                out
            })
        };
        let (one, two) = (run(1), run(2));
        assert_eq!(
            one.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            two.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        for j in 0..c {
            let s: f64 = (0..rows).map(|i| x[i * c + j] as f64).sum();
            let q: f64 = (0..rows).map(|i| (x[i * c + j] as f64).powi(2)).sum();
            assert!((one[j] - s).abs() < 1e-9 * s.abs().max(1.0), "column {j}");
            assert!((one[c + j] - q).abs() < 1e-9 * q, "column {j}");
        }
    }

    #[test]
    fn for_each_row_visits_every_row_once_with_its_index() {
        let (rows, len) = (5000, 13);
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut data = vec![0.0f32; rows * len];
            pool.install(|| {
                for_each_row(&mut data, len, |i, row| {
                    row.iter_mut().for_each(|v| *v += i as f32)
                })
            });
            for (i, row) in data.chunks_exact(len).enumerate() {
                assert!(row.iter().all(|&v| v == i as f32), "row {i}");
            }
        }
    }
}
