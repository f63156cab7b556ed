//! What a convolution applies to each output pixel after its product, and the
//! gradient of that:
//!   forward:  y = act(z + b)            per pixel, `b` and the rows `filters` long
//!   backward: dz = dy ⊙ act'(y)         db = Σ_pixels dz
//!
//! Rows are as long as the layer's filter count (24 or 32 in MNIST's networks),
//! too short for LLVM's vectorized loops, which unroll to 32 values and leave such
//! a row to their scalar remainder. So the bias and relu run here over explicit
//! vectors, pixel by pixel, each pixel's channels in whole vectors ([`over_lanes`]);
//! other activations are element-wise and run over the whole buffer at once. The
//! gradient's sums go the other way round: a group of channels over all the pixels,
//! the sums in registers ([`over_channel_groups`]).

use crate::activations::Activation;
use crate::kernels::isa::{Lanes, Vector, dispatch, over_lanes};

/// The bias, then the activation, applied to every output pixel.
#[derive(Clone, Copy)]
pub(super) struct Epilogue<'a> {
    /// Added to each pixel's `filters` values; `None` for a layer without bias.
    pub bias: Option<&'a [f32]>,
    /// Applied after the bias.
    pub act: Activation,
}

impl Epilogue<'_> {
    /// Nothing: `dx`'s convolution has no bias or activation.
    pub const NONE: Epilogue<'static> = Epilogue {
        bias: None,
        act: Activation::Linear,
    };

    /// Applies the epilogue to every pixel (`filters` values each) of `y`.
    pub fn apply(&self, y: &mut [f32], filters: usize) {
        let (in_register, rest) = self.split();
        if in_register.bias.is_some() || in_register.relu {
            bias_relu(y, filters, in_register);
        }
        rest.apply_activation(y, filters);
    }

    /// The part a kernel can apply to each vector as it stores it (the bias, and the
    /// activation if it is relu), and the rest, applied afterwards by [`Self::apply`].
    pub fn split(&self) -> (InRegister<'_>, Epilogue<'static>) {
        let relu = self.act == Activation::Relu;
        let rest = match self.act {
            Activation::Linear | Activation::Relu => Epilogue::NONE,
            act => Epilogue { bias: None, act },
        };
        let bias = self.bias;
        (InRegister { bias, relu }, rest)
    }
}

impl Epilogue<'static> {
    /// The activation alone (no bias), over the whole buffer.
    fn apply_activation(&self, y: &mut [f32], filters: usize) {
        match self.act {
            Activation::Linear => {}
            // Softmax normalizes over a pixel's channels; the others are element-wise.
            Activation::Softmax => y
                .chunks_exact_mut(filters)
                .for_each(|px| self.act.forward_row(px)),
            act => act.forward_row(y),
        }
    }
}

/// The bias and a relu, applied to one vector of channels on its way to memory.
#[derive(Clone, Copy)]
pub(super) struct InRegister<'a> {
    bias: Option<&'a [f32]>,
    relu: bool,
}

impl InRegister<'_> {
    /// `v` (channels `start..start + W::LANES` of one pixel) plus the bias, then
    /// relu'd if the layer's activation is relu.
    #[inline(always)]
    pub fn finish<W: Vector>(&self, v: W, start: usize) -> W {
        let v = match self.bias {
            Some(b) => v.add(W::load(&b[start..])),
            None => v,
        };
        if self.relu { v.max(W::zero()) } else { v }
    }
}

/// Turns `dy` (the gradient at the outputs `y`, pixels of `filters` values) into
/// `dz` in place, and adds `Σ_pixels dz` to `sums` (`filters` long): the bias
/// gradient's share of these pixels, each channel summed in pixel order.
pub(super) fn backward(
    act: Activation,
    y: &[f32],
    dy: &mut [f32],
    filters: usize,
    sums: &mut [f32],
) {
    match act {
        Activation::Linear => {}
        Activation::Relu => return relu_grad_sums(y, dy, filters, sums, Gate::Relu),
        Activation::Softmax => dy
            .chunks_exact_mut(filters)
            .zip(y.chunks_exact(filters))
            .for_each(|(d, yr)| act.backward_row(yr, d)),
        act => act.backward_row(y, dy),
    }
    relu_grad_sums(y, dy, filters, sums, Gate::None);
}

dispatch!(
    /// The bias, then relu if so, on every pixel of `y`.
    fn bias_relu(y: &mut [f32], filters: usize, out: InRegister) => bias_relu_body
);

#[inline(always)]
fn bias_relu_body<V: Vector>(y: &mut [f32], filters: usize, out: InRegister) {
    struct Pixel<'a> {
        px: &'a mut [f32],
        out: InRegister<'a>,
    }
    impl Lanes for Pixel<'_> {
        #[inline(always)]
        fn run<W: Vector>(&mut self, start: usize) {
            let at = &mut self.px[start..];
            self.out.finish(W::load(at), start).store(at);
        }
    }
    for px in y.chunks_exact_mut(filters) {
        over_lanes::<V>(filters, &mut Pixel { px, out });
    }
}

/// Whether [`relu_grad_sums`] zeroes the gradient where relu's output is not positive.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Gate {
    Relu,
    None,
}

dispatch!(
    /// Under [`Gate::Relu`], `dz = dy` where `y > 0`, else 0, in place; then
    /// `sums += Σ_pixels dz`.
    fn relu_grad_sums(y: &[f32], dz: &mut [f32], filters: usize, sums: &mut [f32], gate: Gate)
        => relu_grad_sums_body
);

#[inline(always)]
fn relu_grad_sums_body<V: Vector>(
    y: &[f32],
    dz: &mut [f32],
    filters: usize,
    sums: &mut [f32],
    gate: Gate,
) {
    match gate {
        Gate::Relu => over_channel_groups::<V>(
            filters,
            &mut GatedSums {
                y,
                dz,
                filters,
                sums,
            },
        ),
        Gate::None => over_channel_groups::<V>(filters, &mut Sums { dz, filters, sums }),
    }
}

dispatch!(
    /// `sums += Σ_pixels dz` (pixels of `filters` values), each channel in pixel
    /// order: the bias gradient of a gradient already through the activation.
    pub(super) fn bias_sums(dz: &[f32], filters: usize, sums: &mut [f32]) => bias_sums_body
);

#[inline(always)]
fn bias_sums_body<V: Vector>(dz: &[f32], filters: usize, sums: &mut [f32]) {
    over_channel_groups::<V>(filters, &mut Sums { dz, filters, sums });
}

/// Work on the channels `start..` of every pixel: `K` vectors `V`, then `E` (0 or 1)
/// vectors of 8, with their sums in registers over all the pixels.
trait ChannelGroup {
    fn run<V: Vector, const K: usize, const E: usize>(&mut self, start: usize);
}

/// Runs `work` over the channels `0..filters` in groups of up to four vectors (or
/// three and one of 8), then single channels. Added to memory pixel by pixel, each sum
/// waited on the store of the one before (a tenth of `speedrun`'s first-layer
/// backward); in registers each channel is still summed in pixel order, so the bits
/// are the same. Past four vectors a group is one more pass over the pixels.
#[inline(always)]
fn over_channel_groups<V: Vector>(filters: usize, work: &mut impl ChannelGroup) {
    let lanes = V::LANES;
    let mut start = 0;
    while filters - start >= 4 * lanes {
        work.run::<V, 4, 0>(start);
        start += 4 * lanes;
    }
    // Fewer than four vectors are left: at most three, and one of 8 where `V` is wider.
    let eight = usize::from((filters - start) % lanes >= 8);
    match ((filters - start) / lanes, eight) {
        (0, 0) => {}
        (0, _) => work.run::<V, 0, 1>(start),
        (1, 0) => work.run::<V, 1, 0>(start),
        (1, _) => work.run::<V, 1, 1>(start),
        (2, 0) => work.run::<V, 2, 0>(start),
        (2, _) => work.run::<V, 2, 1>(start),
        (_, 0) => work.run::<V, 3, 0>(start),
        (_, _) => work.run::<V, 3, 1>(start),
    }
    start += (filters - start) / lanes * lanes + eight * 8;
    for c in start..filters {
        work.run::<f32, 1, 0>(c);
    }
}

/// `sums += Σ_pixels dz`.
struct Sums<'a> {
    dz: &'a [f32],
    filters: usize,
    sums: &'a mut [f32],
}

impl ChannelGroup for Sums<'_> {
    #[inline(always)]
    fn run<V: Vector, const K: usize, const E: usize>(&mut self, start: usize) {
        let mut group = Channels::<V, K, E>::load(self.sums, start);
        for px in self.dz.chunks_exact(self.filters) {
            group.add(px);
        }
        group.store(self.sums);
    }
}

/// `dz = 0` where `y ≤ 0`, in place, then `sums += Σ_pixels dz`.
struct GatedSums<'a> {
    y: &'a [f32],
    dz: &'a mut [f32],
    filters: usize,
    sums: &'a mut [f32],
}

impl ChannelGroup for GatedSums<'_> {
    #[inline(always)]
    fn run<V: Vector, const K: usize, const E: usize>(&mut self, start: usize) {
        let mut group = Channels::<V, K, E>::load(self.sums, start);
        let pixels = self.dz.chunks_exact_mut(self.filters);
        for (dz, y) in pixels.zip(self.y.chunks_exact(self.filters)) {
            group.gate_and_add(dz, y);
        }
        group.store(self.sums);
    }
}

/// The sums of channels `start..`: `K` vectors `V`, then `E` vectors of 8.
struct Channels<V: Vector, const K: usize, const E: usize> {
    start: usize,
    wide: [V; K],
    eight: [V::Eight; E],
}

impl<V: Vector, const K: usize, const E: usize> Channels<V, K, E> {
    /// Where the vectors of 8 start.
    #[inline(always)]
    fn tail(&self) -> usize {
        self.start + K * V::LANES
    }

    #[inline(always)]
    fn load(sums: &[f32], start: usize) -> Self {
        let tail = start + K * V::LANES;
        Channels {
            start,
            wide: std::array::from_fn(|k| V::load(&sums[start + k * V::LANES..])),
            eight: std::array::from_fn(|_| V::Eight::load(&sums[tail..])),
        }
    }

    /// Adds one pixel's values.
    #[inline(always)]
    fn add(&mut self, px: &[f32]) {
        let (start, tail) = (self.start, self.tail());
        for (k, s) in self.wide.iter_mut().enumerate() {
            *s = s.add(V::load(&px[start + k * V::LANES..]));
        }
        for s in self.eight.iter_mut() {
            *s = s.add(V::Eight::load(&px[tail..]));
        }
    }

    /// Zeroes one pixel's gradient where `y ≤ 0`, in place, and adds it.
    #[inline(always)]
    fn gate_and_add(&mut self, dz: &mut [f32], y: &[f32]) {
        let (start, tail) = (self.start, self.tail());
        for (k, s) in self.wide.iter_mut().enumerate() {
            let at = start + k * V::LANES;
            let v = V::load(&dz[at..]).zero_where_nonpositive(V::load(&y[at..]));
            v.store(&mut dz[at..]);
            *s = s.add(v);
        }
        for s in self.eight.iter_mut() {
            let v = V::Eight::load(&dz[tail..]).zero_where_nonpositive(V::Eight::load(&y[tail..]));
            v.store(&mut dz[tail..]);
            *s = s.add(v);
        }
    }

    #[inline(always)]
    fn store(self, sums: &mut [f32]) {
        let tail = self.tail();
        for (k, s) in self.wide.into_iter().enumerate() {
            s.store(&mut sums[self.start + k * V::LANES..]);
        }
        for s in self.eight {
            s.store(&mut sums[tail..]);
        }
    }
}

dispatch!(
    /// `dz = dy` where `y > 0`, else 0, in place: relu's gradient, without sums.
    pub(super) fn relu_gate(y: &[f32], dz: &mut [f32]) => relu_gate_body
);

#[inline(always)]
fn relu_gate_body<V: Vector>(y: &[f32], dz: &mut [f32]) {
    struct Gated<'a> {
        y: &'a [f32],
        dz: &'a mut [f32],
    }
    impl Lanes for Gated<'_> {
        #[inline(always)]
        fn run<W: Vector>(&mut self, start: usize) {
            let at = &mut self.dz[start..];
            W::load(at)
                .zero_where_nonpositive(W::load(&self.y[start..]))
                .store(at);
        }
    }
    over_lanes::<V>(dz.len(), &mut Gated { y, dz });
}

#[cfg(test)]
mod tests {
    use super::{Gate, bias_sums, relu_grad_sums};

    /// The sums kept in registers are the plain loop's, bit for bit, for channel counts
    /// on and off every vector width (16, 8, 1), added to sums already there.
    #[test]
    fn bias_sums_are_the_plain_loops_bits() {
        let mut next = crate::kernels::test_values(5, 1);
        for filters in [1, 3, 7, 8, 9, 16, 17, 24, 31, 32, 40, 48, 64, 70, 100, 130] {
            let dz: Vec<f32> = (0..37 * filters).map(|_| next()).collect();
            let start: Vec<f32> = (0..filters).map(|_| next()).collect();
            let mut want = start.clone();
            for px in dz.chunks_exact(filters) {
                for (s, &v) in want.iter_mut().zip(px) {
                    *s += v;
                }
            }
            let mut got = start;
            bias_sums(&dz, filters, &mut got);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{filters} filters");
        }
    }

    /// Relu's gate and the sums, in registers, against the plain loops: the gated
    /// gradient and the sums bit for bit, with and without the gate.
    #[test]
    fn relu_grad_sums_are_the_plain_loops_bits() {
        let mut next = crate::kernels::test_values(9, 2);
        for filters in [1, 5, 8, 16, 24, 32, 40, 64, 72, 100] {
            let len = 29 * filters;
            let y: Vec<f32> = (0..len).map(|_| next()).collect();
            let dy: Vec<f32> = (0..len).map(|_| next()).collect();
            let start: Vec<f32> = (0..filters).map(|_| next()).collect();
            for gate in [Gate::Relu, Gate::None] {
                let mut want_dz = dy.clone();
                if gate == Gate::Relu {
                    for (d, &out) in want_dz.iter_mut().zip(&y) {
                        if out <= 0.0 {
                            *d = 0.0;
                        }
                    }
                }
                let mut want = start.clone();
                for px in want_dz.chunks_exact(filters) {
                    for (s, &v) in want.iter_mut().zip(px) {
                        *s += v;
                    }
                }
                let (mut dz, mut got) = (dy.clone(), start.clone());
                relu_grad_sums(&y, &mut dz, filters, &mut got, gate);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&dz), bits(&want_dz), "dz, {filters} filters");
                assert_eq!(bits(&got), bits(&want), "sums, {filters} filters");
            }
        }
    }
}
