//! Weights in and models out: the book "Deep Learning from Scratch"'s pickled network
//! ([`dlfs`]), NumPy `.npz` archives ([`npz`]) and ONNX ([`onnx`]).

pub mod dlfs;
pub mod npz;
pub mod onnx;
pub mod pickle;
