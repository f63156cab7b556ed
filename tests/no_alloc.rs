//! A training step allocates nothing outside the GEMM calls once its buffers have
//! grown to the batch size. (The `gemm` crate allocates packing buffers inside each
//! call; docs/PERFORMANCE.md records that and its cost.) A counting global allocator,
//! in this test binary only, watches every allocation; the pool runs one thread so
//! every GEMM runs on the thread that flags it.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use scrawl::kernels::gemm::in_gemm;
use scrawl::loss::Loss;
use scrawl::model::Sequential;
use scrawl::optim::OptimizerConfig;
use scrawl::presets::preset;

struct Counting;
static OUTSIDE_GEMM: AtomicUsize = AtomicUsize::new(0);
static ALL: AtomicUsize = AtomicUsize::new(0);

fn count() {
    ALL.fetch_add(1, Ordering::Relaxed);
    if !in_gemm() {
        OUTSIDE_GEMM.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn training_steps_allocate_nothing_outside_gemm() {
    scrawl::init_threads(Some(1)).unwrap();
    assert_eq!(rayon::current_num_threads(), 1);
    let dense = common::random_dataset(512, [28, 28, 1], 10, 0);
    // Five pixels in six zero, as in MNIST: the first Dense and Conv2D layers' sparse paths.
    let mut pixels = dense.images.clone();
    pixels
        .iter_mut()
        .enumerate()
        .for_each(|(i, p)| *p = if i % 6 == 0 { *p | 1 } else { 0 });
    let sparse = scrawl::data::Dataset::new(pixels, dense.labels.clone(), [28, 28, 1], 10).unwrap();
    for (model, opt, batch) in [
        ("mlp-512-512 sparse", OptimizerConfig::rmsprop(), 32),
        ("mlp-512 sparse", OptimizerConfig::adam(), 200),
        // Standardized pixels: the direct convolution's kernel gradient off a background.
        ("speedrun sparse", OptimizerConfig::adam(), 64),
        ("mlp-512", OptimizerConfig::adam(), 200),
        ("mlp-512-512", OptimizerConfig::rmsprop(), 32),
        (
            "dlfs",
            OptimizerConfig::Sgd {
                learning_rate: 0.1,
                momentum: 0.9,
                nesterov: true,
                decay: 0.0,
            },
            100,
        ),
        (
            "conv(8,5,same,relu) bn maxpool conv(16,3,relu) avgpool(2,1,same) gap Dropout(0.2) Dense(10,softmax)",
            OptimizerConfig::adam(),
            64,
        ),
    ] {
        let (arch, data) = match model.strip_suffix(" sparse") {
            Some(arch) => (arch, &sparse),
            None => (model, &dense),
        };
        let mut m = Sequential::new(preset(arch).unwrap(), 0).unwrap();
        m.compile(&opt, Loss::default()).unwrap();
        let batches: Vec<Vec<usize>> = (0..12)
            .map(|s| (0..batch).map(|i| (s * 37 + i * 5) % 512).collect())
            .collect();
        let (outside, per_step) = scrawl::kernels::on_pool(|| {
            for b in &batches[..4] {
                m.train_on_batch(data, b).unwrap();
            }
            let mut per_step = Vec::with_capacity(batches.len());
            let before = OUTSIDE_GEMM.load(Ordering::SeqCst);
            for b in &batches[4..] {
                let all = ALL.load(Ordering::SeqCst);
                m.train_on_batch(data, b).unwrap();
                per_step.push(ALL.load(Ordering::SeqCst) - all);
            }
            (OUTSIDE_GEMM.load(Ordering::SeqCst) - before, per_step)
        });
        assert_eq!(
            outside, 0,
            "{model}: {outside} allocations outside GEMM in 8 steady-state steps"
        );
        assert!(
            per_step.windows(2).all(|w| w[0] == w[1]),
            "{model}: allocations per step vary: {per_step:?}"
        );
    }
}
