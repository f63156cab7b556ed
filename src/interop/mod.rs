//! Weights in and models out: the book "Deep Learning from Scratch"'s pickled network
//! ([`dlfs`], always built), NumPy `.npz` archives (`npz`) and ONNX (`onnx`), the
//! last two with the `interop` feature (which `cli`, the default, turns on).

pub mod dlfs;
#[cfg(feature = "interop")]
pub mod keras;
pub mod layout;
#[cfg(feature = "interop")]
pub mod npz;
#[cfg(feature = "interop")]
pub mod onnx;
pub mod pickle;
