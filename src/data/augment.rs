//! Data augmentation as Keras's `ImageDataGenerator` does it for digits: each training
//! image gets its own random rotation, zoom and shift every epoch.
//!
//! Every image's transform is a pure function of (seed, epoch, image index), so an
//! augmented run is reproducible and resumable whatever the thread count. The next
//! epoch's images are warped on a separate thread while the current epoch trains
//! ([`AugmentedEpochs`]), so augmentation costs almost no training time.
//!
//! The warp maps each output pixel back into the source image (`src = c + A·(dst − c)
//! − t`, with `A` the inverse rotation and zoom and `c` the image centre) and samples
//! it bilinearly; outside the source is black, the background of MNIST. Optional
//! elastic distortion (Simard, Steinkraus and Platt, 2003) adds to each source
//! position a displacement from a random field, uniform in [−1, 1] per pixel and
//! axis, smoothed by a Gaussian of σ pixels and scaled by α.

use std::sync::Arc;
use std::thread::JoinHandle;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Dataset;
use crate::error::{Error, Result};

/// Ranges of the random transforms (Keras's `ImageDataGenerator` arguments).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Augmentation {
    /// Rotations are drawn uniformly from ±this many degrees.
    pub rotation_range: f32,
    /// Each axis is scaled by a factor drawn from [1 − z, 1 + z].
    pub zoom_range: f32,
    /// Horizontal shifts are drawn from ±this fraction of the width.
    pub width_shift_range: f32,
    /// Vertical shifts are drawn from ±this fraction of the height.
    pub height_shift_range: f32,
    /// Elastic distortion strength α, in pixels (0: none). Simard et al. used 34 with
    /// σ = 4 on MNIST; milder values (8-16) suit augmentation on top of the affine
    /// transforms.
    #[serde(default)]
    pub elastic_alpha: f32,
    /// Smoothness σ of the elastic field, in pixels.
    #[serde(default = "default_elastic_sigma")]
    pub elastic_sigma: f32,
    /// The last this many epochs of a run train on the images as they are (0: every
    /// epoch is augmented). The test images are not warped; a model that ends its
    /// run, at the small learning rates a schedule ends with, on images like them
    /// fits them better (as ultralytics's `close_mosaic` ends a run without mosaics).
    #[serde(default)]
    pub clean_epochs: usize,
}

fn default_elastic_sigma() -> f32 {
    4.0
}

impl std::fmt::Display for Augmentation {
    /// `rotation ±10°, zoom ±10%, shift ±10% x ±10%, elastic α 34 σ 4`: what a
    /// picture of augmented images is titled with.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = |v: f32| (v * 100.0).round();
        write!(
            f,
            "rotation ±{}°, zoom ±{}%, shift ±{}% x ±{}%",
            self.rotation_range,
            pct(self.zoom_range),
            pct(self.width_shift_range),
            pct(self.height_shift_range)
        )?;
        if self.elastic_alpha > 0.0 {
            write!(
                f,
                ", elastic α {} σ {}",
                self.elastic_alpha, self.elastic_sigma
            )?;
        }
        Ok(())
    }
}

impl Default for Augmentation {
    /// The ranges the MNIST literature uses: 10 degrees, 10% zoom, 10% shifts.
    fn default() -> Self {
        Augmentation {
            rotation_range: 10.0,
            zoom_range: 0.1,
            width_shift_range: 0.1,
            height_shift_range: 0.1,
            elastic_alpha: 0.0,
            elastic_sigma: default_elastic_sigma(),
            clean_epochs: 0,
        }
    }
}

/// One concrete transform: what [`Augmentation`] draws for one image.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Affine {
    /// Counter-clockwise rotation in degrees.
    pub degrees: f32,
    /// Horizontal scale (above 1 enlarges the digit).
    pub zoom_x: f32,
    /// Vertical scale.
    pub zoom_y: f32,
    /// Shift right, in pixels.
    pub shift_x: f32,
    /// Shift down, in pixels.
    pub shift_y: f32,
}

impl Affine {
    /// The transform that changes nothing.
    pub fn identity() -> Self {
        Affine {
            zoom_x: 1.0,
            zoom_y: 1.0,
            ..Affine::default()
        }
    }
}

impl Augmentation {
    /// Checks that a run of `epochs` epochs augments at least one of them.
    pub fn check_epochs(&self, epochs: usize) -> Result<()> {
        if self.clean_epochs >= epochs {
            return Err(Error::config(format!(
                "{} clean epochs of {epochs} leave none augmented: give fewer clean epochs, or train without augmentation",
                self.clean_epochs
            )));
        }
        Ok(())
    }

    /// Checks that the ranges are sane (a zoom of 100% would shrink digits to nothing).
    pub fn validate(&self) -> Result<()> {
        let check = |name: &str, v: f32, max: f32| {
            if v.is_finite() && (0.0..=max).contains(&v) {
                Ok(())
            } else {
                Err(Error::config(format!(
                    "{name} must be between 0 and {max}, got {v}"
                )))
            }
        };
        check("rotation range (degrees)", self.rotation_range, 180.0)?;
        check("zoom range", self.zoom_range, 0.9)?;
        check("width shift range", self.width_shift_range, 1.0)?;
        check("height shift range", self.height_shift_range, 1.0)?;
        check("elastic alpha (pixels)", self.elastic_alpha, 100.0)?;
        if !(self.elastic_sigma.is_finite() && (0.5..=20.0).contains(&self.elastic_sigma)) {
            return Err(Error::config(format!(
                "elastic sigma must be between 0.5 and 20 pixels, got {}",
                self.elastic_sigma
            )));
        }
        Ok(())
    }

    /// The elastic displacement field of image `index` in epoch `epoch` (a pure
    /// function of the three), into `field`: `rows·cols` x-displacements, then as many
    /// y-displacements, each at most α in size. Empty when α is 0.
    pub fn elastic_field(
        &self,
        seed: u64,
        epoch: usize,
        index: usize,
        [rows, cols]: [usize; 2],
        field: &mut Vec<f32>,
    ) {
        field.clear();
        if self.elastic_alpha <= 0.0 {
            return;
        }
        let n = rows * cols;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x3C_1E_57_1C_0F_1E_1D_00);
        rng.set_stream(epoch as u64);
        // One 32-bit word per value: jump straight to this image's block.
        rng.set_word_pos((index * 2 * n) as u128);
        field.extend((0..2 * n).map(|_| rng.random_range(-1.0f32..=1.0)));
        let kernel = gaussian_kernel(self.elastic_sigma);
        let mut tmp = vec![0.0; n];
        for axis in field.chunks_exact_mut(n) {
            blur(axis, &mut tmp, rows, cols, &kernel);
            axis.iter_mut().for_each(|v| *v *= self.elastic_alpha);
        }
    }

    /// The transform of image `index` in epoch `epoch` (a pure function of the three).
    pub fn draw(&self, seed: u64, epoch: usize, index: usize, rows: usize, cols: usize) -> Affine {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xA9_6D_E4_7A_11_F0_3C_55);
        rng.set_stream(epoch as u64);
        // Five draws per image: jump straight to this image's block of words.
        rng.set_word_pos(index as u128 * 16);
        let mut sym = |r: f32| {
            if r > 0.0 {
                rng.random_range(-r..=r)
            } else {
                let _: f32 = rng.random();
                0.0
            }
        };
        Affine {
            degrees: sym(self.rotation_range),
            zoom_x: 1.0 + sym(self.zoom_range),
            zoom_y: 1.0 + sym(self.zoom_range),
            shift_x: sym(self.width_shift_range) * cols as f32,
            shift_y: sym(self.height_shift_range) * rows as f32,
        }
    }

    /// Writes epoch `epoch`'s version of every image of `source` into `out`.
    pub fn epoch_images(&self, source: &Dataset, seed: u64, epoch: usize, out: &mut Vec<u8>) {
        let [rows, cols, channels] = source.image_shape;
        out.resize(source.images.len(), 0);
        let len = source.sample_len();
        let mut field = Vec::new();
        for (i, dst) in out.chunks_exact_mut(len).enumerate() {
            let t = self.draw(seed, epoch, i, rows, cols);
            self.elastic_field(seed, epoch, i, [rows, cols], &mut field);
            warp_field(source.image(i), dst, [rows, cols, channels], &t, &field);
        }
    }
}

/// A normalized Gaussian of standard deviation `sigma`, cut at 3σ.
fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let r = (3.0 * sigma).ceil() as isize;
    let k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    k.into_iter().map(|v| v / sum).collect()
}

/// Separable Gaussian blur of a `rows × cols` field in place; outside is 0 (scipy's
/// `mode="constant"`, as Simard's recipe is usually written), so taps that fall
/// outside are simply left out.
fn blur(v: &mut [f32], tmp: &mut [f32], rows: usize, cols: usize, kernel: &[f32]) {
    let r = kernel.len() / 2;
    // Taps `lo..=hi` of a line of `len` values centred on `i`, and the first weight.
    let span = |i: usize, len: usize| (i.saturating_sub(r), (i + r).min(len - 1), r + i);
    for y in 0..rows {
        let line = &v[y * cols..(y + 1) * cols];
        for x in 0..cols {
            let (lo, hi, k0) = span(x, cols);
            tmp[y * cols + x] = (lo..=hi).map(|j| kernel[k0 - j] * line[j]).sum();
        }
    }
    for y in 0..rows {
        let (lo, hi, k0) = span(y, rows);
        for x in 0..cols {
            v[y * cols + x] = (lo..=hi).map(|j| kernel[k0 - j] * tmp[j * cols + x]).sum();
        }
    }
}

/// Warps one `rows × cols × channels` image by `t` with bilinear sampling.
pub fn warp(src: &[u8], dst: &mut [u8], shape: [usize; 3], t: &Affine) {
    warp_field(src, dst, shape, t, &[]);
}

/// [`warp`], then moves each output pixel's source position by the displacement
/// `field` gives it (`rows·cols` x-displacements then as many y-displacements, in
/// pixels; empty for none).
pub fn warp_field(src: &[u8], dst: &mut [u8], shape: [usize; 3], t: &Affine, field: &[f32]) {
    let [rows, cols, ch] = shape;
    debug_assert!(field.is_empty() || field.len() == 2 * rows * cols);
    let (fx_field, fy_field) = field.split_at(field.len() / 2);
    debug_assert_eq!(src.len(), rows * cols * ch);
    debug_assert_eq!(dst.len(), src.len());
    // Keras's centre: the middle of the pixel grid.
    let (cy, cx) = ((rows as f32 - 1.0) / 2.0, (cols as f32 - 1.0) / 2.0);
    let (sin, cos) = t.degrees.to_radians().sin_cos();
    // Inverse of "zoom, then rotate": rotate back, then divide by the zoom. In image
    // coordinates y points down, so a counter-clockwise turn uses −θ on (x, y).
    let (a, b) = (cos / t.zoom_x, -sin / t.zoom_x);
    let (c, d) = (sin / t.zoom_y, cos / t.zoom_y);
    let px = |y: isize, x: isize, k: usize| -> f32 {
        if y < 0 || x < 0 || y >= rows as isize || x >= cols as isize {
            0.0
        } else {
            src[(y as usize * cols + x as usize) * ch + k] as f32
        }
    };
    for oy in 0..rows {
        let v = oy as f32 - t.shift_y - cy;
        for ox in 0..cols {
            let u = ox as f32 - t.shift_x - cx;
            let (mut sx, mut sy) = (a * u + b * v + cx, c * u + d * v + cy);
            if !field.is_empty() {
                sx += fx_field[oy * cols + ox];
                sy += fy_field[oy * cols + ox];
            }
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            for k in 0..ch {
                let top = px(y0, x0, k) * (1.0 - fx) + px(y0, x0 + 1, k) * fx;
                let bottom = px(y0 + 1, x0, k) * (1.0 - fx) + px(y0 + 1, x0 + 1, k) * fx;
                let value = top * (1.0 - fy) + bottom * fy;
                dst[(oy * cols + ox) * ch + k] = value.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// Each epoch's augmented copy of a training set, the next one prepared on its own
/// thread while the current one trains. Two image buffers are reused throughout.
pub struct AugmentedEpochs {
    source: Arc<Dataset>,
    augmentation: Augmentation,
    seed: u64,
    current: Dataset,
    spare: Vec<u8>,
    pending: Option<(usize, JoinHandle<Vec<u8>>)>,
}

impl AugmentedEpochs {
    /// Prepares augmented epochs of `source` (copied once, to share with the thread).
    pub fn new(source: &Dataset, augmentation: Augmentation, seed: u64) -> Result<Self> {
        augmentation.validate()?;
        Ok(AugmentedEpochs {
            source: Arc::new(source.clone()),
            augmentation,
            seed,
            current: source.clone(),
            spare: Vec::new(),
            pending: None,
        })
    }

    /// Whether epoch `epoch` of a run of `last` epochs is augmented: all but the last
    /// [`Augmentation::clean_epochs`].
    pub fn augments(&self, epoch: usize, last: usize) -> bool {
        // As `epoch + clean_epochs <= last`, without overflow for any `clean_epochs`.
        last.checked_sub(epoch)
            .is_some_and(|left| self.augmentation.clean_epochs <= left)
    }

    /// The images of epoch `epoch` of a run of `last` epochs (waiting for them if they
    /// are not ready; the source itself for a clean epoch), and starts preparing epoch
    /// `epoch + 1` when that one is augmented.
    pub fn epoch(&mut self, epoch: usize, last: usize) -> &Dataset {
        if !self.augments(epoch, last) {
            return &self.source;
        }
        let images = match self.pending.take() {
            Some((e, handle)) if e == epoch => handle.join().expect("augmentation thread"),
            other => {
                if let Some((_, handle)) = other {
                    let _ = handle.join();
                }
                let mut buf = std::mem::take(&mut self.spare);
                self.augmentation
                    .epoch_images(&self.source, self.seed, epoch, &mut buf);
                buf
            }
        };
        self.spare = std::mem::replace(&mut self.current.images, images);
        if epoch < last && self.augments(epoch + 1, last) {
            let (source, aug, seed) = (self.source.clone(), self.augmentation, self.seed);
            let mut buf = std::mem::take(&mut self.spare);
            let handle = std::thread::spawn(move || {
                aug.epoch_images(&source, seed, epoch + 1, &mut buf);
                buf
            });
            self.pending = Some((epoch + 1, handle));
        }
        &self.current
    }
}

/// The fixed transforms of test-time augmentation: the image itself, shifted one pixel
/// each way, and turned 5 degrees each way.
pub fn tta_transforms() -> Vec<Affine> {
    let id = Affine::identity();
    let shift = |x: f32, y: f32| Affine {
        shift_x: x,
        shift_y: y,
        ..id
    };
    let turn = |d: f32| Affine { degrees: d, ..id };
    vec![
        id,
        shift(1.0, 0.0),
        shift(-1.0, 0.0),
        shift(0.0, 1.0),
        shift(0.0, -1.0),
        turn(5.0),
        turn(-5.0),
    ]
}

/// `data` with every image warped by `t`.
pub fn transformed(data: &Dataset, t: &Affine) -> Dataset {
    let mut out = data.clone();
    let len = data.sample_len();
    out.images
        .par_chunks_exact_mut(len)
        .enumerate()
        .for_each(|(i, dst)| warp(data.image(i), dst, data.image_shape, t));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The separable blur against a direct 2-D convolution with zero padding.
    #[test]
    fn blur_is_a_zero_padded_2d_gaussian() {
        let (rows, cols) = (9, 13);
        let kernel = gaussian_kernel(1.5);
        assert!((kernel.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let r = (kernel.len() / 2) as isize;
        let v: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 37) % 11) as f32 - 5.0)
            .collect();
        let mut blurred = v.clone();
        blur(
            &mut blurred,
            &mut vec![0.0; rows * cols],
            rows,
            cols,
            &kernel,
        );
        for y in 0..rows as isize {
            for x in 0..cols as isize {
                let mut want = 0.0f64;
                for dy in -r..=r {
                    for dx in -r..=r {
                        let (yy, xx) = (y + dy, x + dx);
                        if (0..rows as isize).contains(&yy) && (0..cols as isize).contains(&xx) {
                            let w = kernel[(dy + r) as usize] * kernel[(dx + r) as usize];
                            want += (w * v[yy as usize * cols + xx as usize]) as f64;
                        }
                    }
                }
                let got = blurred[y as usize * cols + x as usize] as f64;
                assert!((got - want).abs() < 1e-5, "({y},{x}): {got} vs {want}");
            }
        }
    }
}
