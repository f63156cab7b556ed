//! A batch of values: an `f32` buffer and its shape, the first axis being the batch.
//!
//! Buffers are reused from batch to batch: [`Tensor::set_shape`] only reallocates when
//! the new shape needs more room than the buffer ever had, so the training loop's
//! steady state allocates nothing.

/// A row-major `f32` array whose first axis is the batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tensor {
    data: Vec<f32>,
    shape: Vec<usize>,
}

impl Tensor {
    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Tensor {
            data: vec![0.0; shape.iter().product()],
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
            data,
            shape: shape.to_vec(),
        }
    }

    /// Reshapes to `shape`, reusing the buffer. New room is zeroed; existing values are
    /// left as they are (callers overwrite them).
    pub fn set_shape(&mut self, shape: &[usize]) {
        if self.shape != shape {
            self.shape.clear();
            self.shape.extend_from_slice(shape);
        }
        let n = shape.iter().product();
        self.data.resize(n, 0.0);
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
            let n = self.shape.iter().product();
            self.data.resize(n, 0.0);
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
        &self.data
    }

    /// All values, mutable.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// The values of batch item `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        let r = self.row_len();
        &self.data[i * r..(i + 1) * r]
    }

    /// Takes the buffer out.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }
}
