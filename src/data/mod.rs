//! Data sets: images as bytes (`n × rows × cols × channels`, row-major, channels last)
//! with one label each. Pixels stay `u8` in memory; the model scales them by 1/255
//! as it copies each batch in, so a data set costs its own size and nothing more.

pub mod augment;
pub mod catalog;
pub mod csv;
pub mod drawing;
pub mod idx;
pub mod locate;
pub mod png;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

pub use catalog::DatasetSpec;
pub use locate::{Mnist, find_dataset, find_mnist, load_mnist, locate_dataset, locate_or_download};

/// A labelled set of images.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Pixel values, `len() * sample_len()` bytes, one image after the other.
    pub images: Vec<u8>,
    /// One label per image, each below `classes`.
    pub labels: Vec<u8>,
    /// Shape of one image: `[rows, cols, channels]`.
    pub image_shape: [usize; 3],
    /// Number of classes (10 for digits).
    pub classes: usize,
}

impl Dataset {
    /// Builds a data set, checking that the sizes agree and the labels are in range.
    pub fn new(
        images: Vec<u8>,
        labels: Vec<u8>,
        image_shape: [usize; 3],
        classes: usize,
    ) -> Result<Self> {
        let sample = image_shape.iter().product::<usize>();
        if sample == 0 || !images.len().is_multiple_of(sample) {
            return Err(Error::Shape(format!(
                "{} pixel bytes do not divide into images of shape {image_shape:?}",
                images.len()
            )));
        }
        if images.len() / sample != labels.len() {
            return Err(Error::Shape(format!(
                "{} images but {} labels",
                images.len() / sample,
                labels.len()
            )));
        }
        if let Some(i) = labels.iter().position(|&l| l as usize >= classes) {
            return Err(Error::Shape(format!(
                "label {} of image {i} is outside 0-{}",
                labels[i],
                classes - 1
            )));
        }
        Ok(Dataset {
            images,
            labels,
            image_shape,
            classes,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image (784 for MNIST).
    pub fn sample_len(&self) -> usize {
        self.image_shape.iter().product()
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let s = self.sample_len();
        &self.images[i * s..(i + 1) * s]
    }

    /// How many images carry each label.
    pub fn label_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// A new data set holding the images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let s = self.sample_len();
        let mut images = Vec::with_capacity(indices.len() * s);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Dataset {
            images,
            labels,
            image_shape: self.image_shape,
            classes: self.classes,
        }
    }

    /// The first `n` images (all of them when `n >= len()`).
    pub fn take(&self, n: usize) -> Dataset {
        let idx: Vec<usize> = (0..n.min(self.len())).collect();
        self.select(&idx)
    }

    /// Keras's `validation_split`: the last `fraction` of the images (before any
    /// shuffling) become the validation set. Returns `(train, validation)`.
    pub fn split_tail(&self, fraction: f64) -> Result<(Dataset, Dataset)> {
        check_fraction(fraction)?;
        let n_val = ((self.len() as f64) * fraction).round() as usize;
        let cut = self.len() - n_val;
        let train: Vec<usize> = (0..cut).collect();
        let val: Vec<usize> = (cut..self.len()).collect();
        Ok((self.select(&train), self.select(&val)))
    }

    /// scikit-learn's `train_test_split(test_size=fraction, random_state=seed)`: a
    /// seeded random split, stratified by label when asked (each class then keeps its
    /// proportion in both parts). Returns `(train, test)`.
    pub fn split(&self, fraction: f64, seed: u64, stratify: bool) -> Result<(Dataset, Dataset)> {
        check_fraction(fraction)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut train, mut test) = (Vec::new(), Vec::new());
        if stratify {
            for class in 0..self.classes {
                let mut idx: Vec<usize> = (0..self.len())
                    .filter(|&i| self.labels[i] as usize == class)
                    .collect();
                idx.shuffle(&mut rng);
                let n_test = ((idx.len() as f64) * fraction).round() as usize;
                test.extend_from_slice(&idx[..n_test]);
                train.extend_from_slice(&idx[n_test..]);
            }
            // Interleave classes again so neither part comes sorted by label.
            train.shuffle(&mut rng);
            test.shuffle(&mut rng);
        } else {
            let mut idx: Vec<usize> = (0..self.len()).collect();
            idx.shuffle(&mut rng);
            let n_test = ((self.len() as f64) * fraction).ceil() as usize;
            test.extend_from_slice(&idx[..n_test]);
            train.extend_from_slice(&idx[n_test..]);
        }
        Ok((self.select(&train), self.select(&test)))
    }

    /// Smallest and largest pixel value (`(0, 0)` when empty).
    pub fn pixel_range(&self) -> (u8, u8) {
        let min = self.images.iter().copied().min().unwrap_or(0);
        let max = self.images.iter().copied().max().unwrap_or(0);
        (min, max)
    }
}

fn check_fraction(fraction: f64) -> Result<()> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(Error::config(format!(
            "a split fraction must be strictly between 0 and 1, got {fraction}"
        )));
    }
    Ok(())
}

/// One-hot encodes `labels` into a `labels.len() × classes` matrix (Keras's
/// `to_categorical`); column `c` is class `c`.
pub fn one_hot(labels: &[u8], classes: usize) -> Vec<f32> {
    let mut out = vec![0.0; labels.len() * classes];
    for (row, &l) in labels.iter().enumerate() {
        out[row * classes + l as usize] = 1.0;
    }
    out
}
