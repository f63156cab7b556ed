//! Keras's `model.summary()`: one row per layer with its output shape and parameter
//! count, then the totals.

use super::Sequential;
use crate::layers::shape_str;

impl Sequential {
    /// The summary table as Keras prints it.
    pub fn summary(&self) -> String {
        let rule = |c: char| c.to_string().repeat(65);
        let mut s = format!("Model: \"{}\"\n{}\n", self.config().name, rule('_'));
        s.push_str(&format!(
            "{:<29}{:<26}{}\n{}\n",
            " Layer (type)",
            "Output Shape",
            "Param #",
            rule('=')
        ));
        for (i, layer) in self.layers().iter().enumerate() {
            let cfg = layer.config();
            s.push_str(&format!(
                "{:<29}{:<26}{}\n",
                format!(" {} ({})", layer.name(), cfg.class_name()),
                shape_str(layer.output_shape()),
                group(layer.param_count())
            ));
            if i + 1 < self.layers().len() {
                s.push('\n');
            }
        }
        let total = self.param_count();
        s.push_str(&format!(
            "{}\nTotal params: {}\nTrainable params: {}\nNon-trainable params: 0\n{}\n",
            rule('='),
            group(total),
            group(total),
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
