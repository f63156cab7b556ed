//! The data sets scrawl knows by name. Every one of them is in MNIST's IDX layout
//! (the same four file names), so one loader serves all; what differs is where the
//! files live and what the classes are called.

/// A named data set in the MNIST IDX layout.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetSpec {
    /// The name used on the command line and as the folder name (`fashion-mnist`).
    pub name: String,
    /// One name per class, in label order.
    pub class_names: Vec<String>,
}

/// Fashion-MNIST's classes, as its authors list them.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Kuzushiji-MNIST's classes (romanised hiragana), as its authors list them.
pub const KMNIST_CLASSES: [&str; 10] = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"];

impl DatasetSpec {
    /// The spec for `name`: MNIST, Fashion-MNIST and KMNIST have their class names;
    /// any other name is an IDX data set with ten classes named by their digit.
    pub fn named(name: &str) -> DatasetSpec {
        let names: Vec<String> = match name {
            "fashion-mnist" => FASHION_MNIST_CLASSES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            "kmnist" => KMNIST_CLASSES.iter().map(|s| s.to_string()).collect(),
            _ => (0..10).map(|d| d.to_string()).collect(),
        };
        DatasetSpec {
            name: name.to_string(),
            class_names: names,
        }
    }

    /// MNIST itself.
    pub fn mnist() -> DatasetSpec {
        Self::named("mnist")
    }

    /// True for MNIST, the only set scrawl can download (its SHA-256 sums are compiled in).
    pub fn is_mnist(&self) -> bool {
        self.name == "mnist"
    }

    /// The display name of class `label` (its digit when out of range).
    pub fn class_name(&self, label: usize) -> String {
        self.class_names
            .get(label)
            .cloned()
            .unwrap_or_else(|| label.to_string())
    }

    /// True when the class names are just the digits, so "label 3" reads better than "3 (3)".
    pub fn digits(&self) -> bool {
        are_digits(&self.class_names)
    }
}

/// True when `names` are `0`, `1`, `2`, ... (the classes have no names of their own).
pub fn are_digits(names: &[String]) -> bool {
    names.iter().enumerate().all(|(i, n)| *n == i.to_string())
}

/// Checks a data set name before it is used as a folder name.
pub fn check_name(name: &str) -> crate::error::Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !name.starts_with('-');
    if !ok {
        return Err(crate::error::Error::config(format!(
            "--dataset '{name}' is not a data set name: use letters, digits, '-' and '_' (e.g. mnist, fashion-mnist)"
        )));
    }
    Ok(())
}
