//! What the profiling benches share: their positional arguments and MNIST's training
//! images from `../shared/data/mnist`.

use scrawl::data::Dataset;

/// The arguments after `cargo bench --bench NAME --`, without the `--bench` flag cargo
/// adds.
pub fn args() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect()
}

/// The `i`-th argument parsed, or `default` when it is absent; `what` names it in the
/// panic message when it does not parse.
pub fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T, what: &str) -> T {
    args.get(i).map_or(default, |s| {
        s.parse().unwrap_or_else(|_| panic!("{what}: '{s}'"))
    })
}

/// MNIST's 60,000 training images.
pub fn mnist_train() -> Dataset {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    scrawl::data::load_mnist(&dir)
        .map(|m| m.train)
        .expect("the benchmark reads MNIST from ../shared/data/mnist")
}
