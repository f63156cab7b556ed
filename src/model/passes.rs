//! Which layers the model's passes call, and which buffer each writes, decided once
//! when the model is built.
//!
//! Two kinds of layer are not called on their own:
//! - one the layer before runs within its own pass ([`Layer::fuse_next`]: a
//!   convolution pooling its output, a batch normalization applying its relu);
//! - a reshape after a called layer ([`Layer::is_reshape`]: `Flatten`), whose output
//!   holds its input's values in the same order. The layer before writes straight
//!   into the reshape's buffer, which then only takes the reshape's shape: called on
//!   its own, it would copy every activation forward and every gradient backward
//!   (15 to 105 ms of `speedrun`'s 2 s epoch by the layer clock, as the host placed
//!   the two virtual CPUs; docs/PERFORMANCE.md, "A Flatten not called").
//!
//! A called layer writes the activation (and reads the gradient) of the last layer it
//! stands for; the buffers of the layers in between stay unused.

use crate::layers::Layer;
use crate::tensor::Tensor;

/// One layer the passes call.
#[derive(Debug, Clone)]
pub(super) struct Pass {
    /// The layer called.
    pub layer: usize,
    /// The layer after it that it runs itself, if any ([`Layer::fuse_next`]).
    pub fused: Option<usize>,
    /// The activation and gradient buffer it writes and reads: `acts[out]` is the
    /// output of layer `out - 1`, the last layer this pass stands for.
    pub out: usize,
    /// When reshapes follow: the item shape the layer itself writes, and the one the
    /// last reshape gives (the buffer's shape between the passes).
    pub reshaped: Option<Reshaped>,
}

/// The two item shapes of a pass's buffer when reshapes follow its layer.
#[derive(Debug, Clone)]
pub(super) struct Reshaped {
    /// The shape of an item as the layer writes and reads it.
    pub own: Vec<usize>,
    /// The shape after the reshapes, which the next layer reads.
    pub after: Vec<usize>,
}

impl Pass {
    /// Gives `t`, just written by this pass's layer, the shape the layers after it read.
    pub fn after_forward(&self, t: &mut Tensor) {
        if let Some(r) = &self.reshaped {
            t.reshape_items(&r.after);
        }
    }

    /// Gives `t` (this pass's activation or gradient) back the layer's own shape,
    /// before its backward.
    pub fn before_backward(&self, t: &mut Tensor) {
        if let Some(r) = &self.reshaped {
            t.reshape_items(&r.own);
        }
    }
}

/// Offers each called layer the one after it ([`Layer::fuse_next`]), then takes in
/// the reshapes that follow; returns the passes in order. The first layer is always
/// called, a reshape included (it reads the caller's input buffer).
pub(super) fn plan(layers: &mut [Box<dyn Layer>]) -> Vec<Pass> {
    let mut passes = Vec::new();
    let mut i = 0;
    while i < layers.len() {
        let mut next = i + 1;
        let mut fused = None;
        if next < layers.len() {
            let (head, tail) = layers.split_at_mut(next);
            if head[i].fuse_next(&*tail[0]) {
                fused = Some(next);
                next += 1;
            }
        }
        let own = layers[next - 1].output_shape().to_vec();
        let first_reshape = next;
        while next < layers.len() && layers[next].is_reshape() {
            next += 1;
        }
        let reshaped = (next > first_reshape).then(|| Reshaped {
            own,
            after: layers[next - 1].output_shape().to_vec(),
        });
        passes.push(Pass {
            layer: i,
            fused,
            out: next,
            reshaped,
        });
        i = next;
    }
    passes
}

#[cfg(test)]
mod tests {
    use crate::activations::Activation::{Relu, Softmax};
    use crate::layers::{LayerConfig, Padding};
    use crate::model::{ModelConfig, Sequential};

    /// (layer called, layer fused, buffer written, whether a reshape follows).
    fn passes(
        layers: Vec<LayerConfig>,
        input_shape: &[usize],
    ) -> Vec<(usize, Option<usize>, usize, bool)> {
        let name = "t".into();
        let input_shape = input_shape.to_vec();
        let cfg = ModelConfig {
            name,
            input_shape,
            layers,
        };
        let m = Sequential::new(cfg, 1).unwrap();
        let p = m.passes.iter();
        p.map(|p| (p.layer, p.fused, p.out, p.reshaped.is_some()))
            .collect()
    }

    #[test]
    fn reshapes_after_a_called_layer_are_not_called() {
        // The `speedrun` preset's layers.
        let layers = vec![
            LayerConfig::standardize(0.1307, 0.3081),
            LayerConfig::conv2d(24, 5, Padding::Valid, Relu),
            LayerConfig::max_pooling2d(2),
            LayerConfig::conv2d(32, 3, Padding::Valid, Relu),
            LayerConfig::max_pooling2d(2),
            LayerConfig::Flatten,
            LayerConfig::dense(256, Relu),
            LayerConfig::dense(10, Softmax),
        ];
        // Rescaling, conv + its pooling, conv, pooling + Flatten, Dense, Dense.
        let want = [
            (0, None, 1, false),
            (1, Some(2), 3, false),
            (3, None, 4, false),
            (4, None, 6, true),
            (6, None, 7, false),
            (7, None, 8, false),
        ];
        assert_eq!(passes(layers, &[28, 28, 1]), want);
    }

    #[test]
    fn a_first_flatten_is_called_and_reshapes_run_together() {
        let layers = vec![
            LayerConfig::Flatten,
            LayerConfig::dense(6, Relu),
            LayerConfig::Flatten,
            LayerConfig::Flatten,
            LayerConfig::dense(3, Softmax),
            LayerConfig::Flatten,
        ];
        let want = [(0, None, 1, false), (1, None, 4, true), (4, None, 6, true)];
        assert_eq!(passes(layers, &[4, 4, 1]), want);
    }
}
