//! `Dropout` (inverted, as Keras): in training each value is kept with probability
//! `1 - rate` and scaled by `1 / (1 - rate)`, so inference is the identity.
//! The kept-and-scaled mask is cached for backward: `dx = dy ⊙ mask`.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Layer, LayerConfig, LayerScratch};
use crate::tensor::Tensor;

/// Randomly zeroes values during training.
pub struct Dropout {
    name: String,
    rate: f32,
    shape: Vec<usize>,
    rng: ChaCha8Rng,
    mask: Vec<f32>,
    /// The last forward was the identity (inference, or rate 0): backward copies.
    identity: bool,
}

impl Dropout {
    /// A dropout layer over items of `shape`, its masks drawn from a generator seeded
    /// with `seed`.
    pub fn new(name: String, shape: &[usize], rate: f32, seed: u64) -> Self {
        Dropout {
            name,
            rate,
            shape: shape.to_vec(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            mask: Vec::new(),
            identity: true,
        }
    }
}

impl Layer for Dropout {
    fn name(&self) -> &str {
        &self.name
    }

    fn config(&self) -> LayerConfig {
        LayerConfig::Dropout { rate: self.rate }
    }

    fn output_shape(&self) -> &[usize] {
        &self.shape
    }

    fn forward(&mut self, x: &Tensor, y: &mut Tensor, training: bool) {
        y.set_shape(x.shape());
        self.identity = !training || self.rate == 0.0;
        if self.identity {
            y.data_mut().copy_from_slice(x.data());
            return;
        }
        let scale = 1.0 / (1.0 - self.rate);
        // keep when a uniform u32 is at or above rate·2³²
        let threshold = (self.rate as f64 * 4_294_967_296.0) as u64;
        self.mask.resize(x.data().len(), 0.0);
        for m in self.mask.iter_mut() {
            *m = if (self.rng.next_u32() as u64) >= threshold {
                scale
            } else {
                0.0
            };
        }
        for ((o, &i), &m) in y.data_mut().iter_mut().zip(x.data()).zip(&self.mask) {
            *o = i * m;
        }
    }

    fn infer(&self, x: &Tensor, y: &mut Tensor, _scratch: &mut LayerScratch) {
        y.set_shape(x.shape());
        y.data_mut().copy_from_slice(x.data());
    }

    fn rng_state(&self) -> Option<String> {
        let seed: String = self
            .rng
            .get_seed()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Some(format!(
            "{seed}:{}:{}",
            self.rng.get_stream(),
            self.rng.get_word_pos()
        ))
    }

    fn set_rng_state(&mut self, state: &str) -> crate::error::Result<()> {
        let bad = || {
            crate::error::Error::config(format!(
                "{}: bad random-stream state '{}'",
                self.name,
                crate::files::clip(state, 100)
            ))
        };
        let parts: Vec<&str> = state.split(':').collect();
        let [seed, stream, pos] = parts.as_slice() else {
            return Err(bad());
        };
        // Checked as hex digits first: slicing by bytes a text that holds a
        // multi-byte character would panic.
        if seed.len() != 64 || !seed.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut key = [0u8; 32];
        for (i, k) in key.iter_mut().enumerate() {
            *k = u8::from_str_radix(&seed[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        self.rng = ChaCha8Rng::from_seed(key);
        self.rng.set_stream(stream.parse().map_err(|_| bad())?);
        self.rng.set_word_pos(pos.parse().map_err(|_| bad())?);
        Ok(())
    }

    fn backward(&mut self, _x: &Tensor, _y: &Tensor, dy: &mut Tensor, dx: Option<&mut Tensor>) {
        let Some(dx) = dx else { return };
        dx.set_shape(dy.shape());
        if self.identity {
            dx.data_mut().copy_from_slice(dy.data());
            return;
        }
        for ((o, &d), &m) in dx.data_mut().iter_mut().zip(dy.data()).zip(&self.mask) {
            *o = d * m;
        }
    }
}
