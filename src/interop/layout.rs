//! Weight layouts between channels-first sources (PyTorch, ONNX, the book's NumPy
//! code) and scrawl's channels-last ones (Keras's), shared by every importer and
//! exporter so each conversion is written once.

/// A convolution kernel from `[O, I, kh, kw]` (NCHW sources) to Keras's
/// `[kh, kw, I, O]`.
pub fn oihw_to_hwio(w: &[f32], [o, i, kh, kw]: [usize; 4]) -> Vec<f32> {
    let mut out = vec![0f32; w.len()];
    for oo in 0..o {
        for ii in 0..i {
            for y in 0..kh {
                for x in 0..kw {
                    out[((y * kw + x) * i + ii) * o + oo] = w[((oo * i + ii) * kh + y) * kw + x];
                }
            }
        }
    }
    out
}

/// A convolution kernel from Keras's `[kh, kw, I, O]` to `[O, I, kh, kw]`.
pub fn hwio_to_oihw(w: &[f32], [kh, kw, i, o]: [usize; 4]) -> Vec<f32> {
    let mut out = vec![0f32; w.len()];
    for y in 0..kh {
        for x in 0..kw {
            for ii in 0..i {
                for oo in 0..o {
                    out[((oo * i + ii) * kh + y) * kw + x] = w[((y * kw + x) * i + ii) * o + oo];
                }
            }
        }
    }
    out
}

/// The rows of a Dense kernel (`rows × units`) that follows the flatten of a
/// `[c, h, w]` channels-first map, reordered from C,H,W to scrawl's H,W,C flatten
/// order.
pub fn chw_rows_to_hwc(kernel: &[f32], [c, h, w]: [usize; 3], units: usize) -> Vec<f32> {
    let mut out = vec![0f32; kernel.len()];
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                let from = ((ch * h + y) * w + x) * units;
                let to = ((y * w + x) * c + ch) * units;
                out[to..to + units].copy_from_slice(&kernel[from..from + units]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_layouts_are_inverse_and_place_each_weight() {
        let dims = [3, 2, 4, 5]; // O, I, kh, kw
        let w: Vec<f32> = (0..120).map(|v| v as f32).collect();
        let hwio = oihw_to_hwio(&w, dims);
        // w[o=2][i=1][y=3][x=4] lands at hwio[y=3][x=4][i=1][o=2].
        assert_eq!(
            hwio[((3 * 5 + 4) * 2 + 1) * 3 + 2],
            w[((2 * 2 + 1) * 4 + 3) * 5 + 4]
        );
        assert_eq!(hwio_to_oihw(&hwio, [4, 5, 2, 3]), w);
    }

    #[test]
    fn flatten_rows_move_from_chw_to_hwc() {
        // c=2, h=1, w=2, one unit: CHW rows [c0x0, c0x1, c1x0, c1x1] -> HWC.
        assert_eq!(
            chw_rows_to_hwc(&[1.0, 2.0, 3.0, 4.0], [2, 1, 2], 1),
            [1.0, 3.0, 2.0, 4.0]
        );
    }
}
