//! Keras's `model.summary()`: one row per layer with its output shape and parameter
//! count, then the totals.

use super::Sequential;
use crate::layers::shape_str;

impl Sequential {
    /// The summary table as Keras prints it.
    pub fn summary(&self) -> String {
        // Keras's column widths, widened for long layer names.
        let names: Vec<String> = self
            .layers()
            .iter()
            .map(|l| format!(" {} ({})", l.name(), l.config().class_name()))
            .collect();
        let w1 = names
            .iter()
            .map(|n| n.chars().count() + 2)
            .fold(29, usize::max);
        let width = w1 + 36;
        let rule = |c: char| c.to_string().repeat(width);
        let mut s = format!("Model: \"{}\"\n{}\n", self.config().name, rule('_'));
        s.push_str(&format!(
            "{:<w1$}{:<26}{}\n{}\n",
            " Layer (type)",
            "Output Shape",
            "Param #",
            rule('=')
        ));
        for (i, (layer, name)) in self.layers().iter().zip(&names).enumerate() {
            s.push_str(&format!(
                "{name:<w1$}{:<26}{}\n",
                shape_str(layer.output_shape()),
                group(layer.param_count())
            ));
            if i + 1 < self.layers().len() {
                s.push('\n');
            }
        }
        let (total, trainable) = (self.param_count(), self.trainable_param_count());
        s.push_str(&format!(
            "{}\nTotal params: {}\nTrainable params: {}\nNon-trainable params: {}\n{}\n",
            rule('='),
            group(total),
            group(trainable),
            group(total - trainable),
            rule('_')
        ));
        s
    }
}

/// `407050` → `407,050`.
pub fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
