//! A batch of values: an `f32` buffer and its shape, the first axis being the batch.
//!
//! Buffers are reused from batch to batch: [`Tensor::set_shape`] only reallocates when
//! the new shape needs more room than the buffer ever had, so the training loop's
//! steady state allocates nothing. Nor does it write: a buffer that shrinks keeps its
//! room, so inference, whose two buffers take every layer's shape in turn, does not
//! zero them again for each chunk of images.

/// A row-major `f32` array whose first axis is the batch.
#[derive(Clone, Default)]
pub struct Tensor {
    /// The buffer, at the largest size it has had; only `data[..len]` is the tensor's.
    data: Vec<f32>,
    /// The product of `shape`.
    len: usize,
    shape: Vec<usize>,
}

impl PartialEq for Tensor {
    fn eq(&self, other: &Self) -> bool {
        self.shape == other.shape && self.data() == other.data()
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tensor")
            .field("shape", &self.shape)
            .field("data", &self.data())
            .finish()
    }
}

impl Tensor {
    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        let len = shape.iter().product();
        Tensor {
            data: vec![0.0; len],
            len,
            shape: shape.to_vec(),
        }
    }

    /// Wraps `data` as a tensor of `shape`; panics if the sizes differ (a programming
    /// error, not a user one).
    pub fn from_vec(data: Vec<f32>, shape: &[usize]) -> Self {
        assert_eq!(
            data.len(),
            shape.iter().product::<usize>(),
            "Tensor::from_vec: {} values for shape {shape:?}",
            data.len()
        );
        Tensor {
            len: data.len(),
            data,
            shape: shape.to_vec(),
        }
    }

    /// Reshapes to `shape`, reusing the buffer. Room the buffer never had is zeroed;
    /// other values are left as they are, stale (callers overwrite them).
    pub fn set_shape(&mut self, shape: &[usize]) {
        if self.shape != shape {
            self.shape.clear();
            self.shape.extend_from_slice(shape);
        }
        self.set_len(shape.iter().product());
    }

    fn set_len(&mut self, n: usize) {
        if n > self.data.len() {
            self.data.resize(n, 0.0);
        }
        self.len = n;
    }

    /// Gives each item the shape `item`, keeping the batch size and every value in
    /// place (a reshape: the item's size must not change).
    pub fn reshape_items(&mut self, item: &[usize]) {
        debug_assert_eq!(
            self.shape.iter().skip(1).product::<usize>(),
            item.iter().product::<usize>(),
            "reshape_items: {:?} to items of {item:?}",
            self.shape
        );
        self.shape.truncate(1);
        self.shape.extend_from_slice(item);
    }

    /// Sets the batch size (the first axis), keeping the other axes.
    pub fn set_batch(&mut self, batch: usize) {
        if self.shape.first() != Some(&batch) {
            self.shape[0] = batch;
            self.set_len(self.shape.iter().product());
        }
    }

    /// The shape, batch first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Size of the first axis.
    pub fn batch(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// Values per batch item (product of all axes but the first).
    pub fn row_len(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    /// All values.
    pub fn data(&self) -> &[f32] {
        &self.data[..self.len]
    }

    /// All values, mutable.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data[..self.len]
    }

    /// The values of batch item `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        let r = self.row_len();
        &self.data()[i * r..(i + 1) * r]
    }

    /// Takes the buffer out.
    pub fn into_vec(mut self) -> Vec<f32> {
        self.data.truncate(self.len);
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::Tensor;

    #[test]
    fn a_shrunk_buffer_keeps_its_room_and_shows_only_its_shape() {
        let mut t = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[2, 6]);
        let room = t.data.as_ptr();
        t.set_shape(&[1, 4]);
        assert_eq!(t.data(), &[0.0, 1.0, 2.0, 3.0]);
        assert_eq!(t.row(0).len(), 4);
        // Growing back within the old room neither reallocates nor writes.
        t.set_shape(&[3, 3]);
        assert_eq!(t.data.as_ptr(), room);
        assert_eq!(t.data().len(), 9);
        assert_eq!(t.data()[8], 8.0);
        // Room the buffer never had is zeroed.
        t.set_batch(5);
        assert_eq!(&t.data()[9..12], &[9.0, 10.0, 11.0]);
        assert_eq!(&t.data()[12..], &[0.0; 3]);
        // Equality, Debug and into_vec see the tensor, not the stale tail.
        t.set_shape(&[1, 2]);
        assert_eq!(t, Tensor::from_vec(vec![0.0, 1.0], &[1, 2]));
        assert_eq!(
            format!("{t:?}"),
            "Tensor { shape: [1, 2], data: [0.0, 1.0] }"
        );
        assert_eq!(t.into_vec(), vec![0.0, 1.0]);
    }
}
