//! Real drawings: a test digit scaled up and pasted off-centre, dark on a white
//! background, comes back as (nearly) the original 28x28 image and is classified the
//! same; blank and odd images get clear answers.

use crate::common;

use image::{GrayImage, Luma};
use scrawl::data::drawing::{Prepared, decode, load, mnistify};

/// The test digit `i` as a person's drawing: black on white, 5x larger (smoothly
/// scaled), somewhere off-centre on a 300x260 page.
fn drawing(digit: &[u8]) -> GrayImage {
    let small = GrayImage::from_fn(28, 28, |x, y| Luma([255 - digit[(y * 28 + x) as usize]]));
    let big = image::imageops::resize(&small, 140, 140, image::imageops::FilterType::Triangle);
    let mut page = GrayImage::from_pixel(300, 260, Luma([255]));
    image::imageops::overlay(&mut page, &big, 37, 101);
    page
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).abs())
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn a_pasted_test_digit_comes_back_and_is_classified_the_same() {
    let test = common::mnist().test;
    let model = scrawl::interop::dlfs::import_dlfs(
        &common::mnist_dir()
            .parent()
            .unwrap()
            .join("dlfs/sample_weight.pkl"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut worst: f64 = 0.0;
    let mut total = 0.0;
    let mut other_digit = 0.0;
    let n = 60;
    for i in 0..n {
        let original = test.image(i);
        // Through a PNG file, as a user would give it.
        let path = dir.path().join(format!("d{i}.png"));
        drawing(original).save(&path).unwrap();
        let Prepared::Digit { pixels, inverted } = mnistify(&load(&path).unwrap()) else {
            panic!("digit {i} came back blank");
        };
        assert!(inverted, "a white page must be inverted");
        let d = mean_abs_diff(&pixels, original);
        worst = worst.max(d);
        total += d;
        other_digit += mean_abs_diff(&pixels, test.image((i + 1) % n));
        let x = |p: &[u8]| -> Vec<f32> { p.iter().map(|&v| (v as f64 / 255.0) as f32).collect() };
        let a = scrawl::kernels::argmax(&model.predict_values(&x(original)).unwrap());
        let b = scrawl::kernels::argmax(&model.predict_values(&x(&pixels)).unwrap());
        assert_eq!(
            a, b,
            "test image {i} is classified differently after the round trip"
        );
    }
    let (mean, other) = (total / n as f64, other_digit / n as f64);
    eprintln!("mean |difference| {mean:.1}, worst {worst:.1}, against another digit {other:.1}");
    // Small next to the distance between two different digits.
    // Measured: mean 8.4, worst 21.8, against another digit 39.2 (grey levels 0-255).
    assert!(
        mean < 12.0 && worst < 30.0 && other > 3.0 * mean,
        "mean {mean}, worst {worst}, other {other}"
    );
}

#[test]
fn blank_and_odd_images() {
    let white = GrayImage::from_pixel(200, 100, Luma([255]));
    assert_eq!(mnistify(&white), Prepared::Blank);
    let mut speck = GrayImage::from_pixel(500, 500, Luma([0]));
    speck.put_pixel(250, 250, Luma([255]));
    assert_eq!(
        mnistify(&speck),
        Prepared::Blank,
        "one stray pixel is not a digit"
    );
    let mut faint = GrayImage::from_pixel(100, 100, Luma([250]));
    faint.put_pixel(50, 50, Luma([235]));
    assert_eq!(mnistify(&faint), Prepared::Blank);
    // A one-pixel-wide stroke (a "1") survives as a tall thin digit, centred.
    let mut one = GrayImage::from_pixel(64, 64, Luma([255]));
    for y in 10..50 {
        one.put_pixel(20, y, Luma([0]));
    }
    let Prepared::Digit { pixels, .. } = mnistify(&one) else {
        panic!("blank")
    };
    let cols: Vec<usize> = (0..28)
        .filter(|&x| (0..28).any(|y| pixels[y * 28 + x] > 0))
        .collect();
    assert!(cols.len() <= 2 && (13..=14).contains(&cols[0]), "{cols:?}");

    let p = std::path::Path::new("x.png");
    let e = decode(b"not an image", p).unwrap_err().to_string();
    assert!(e.contains("x.png") && e.contains("PNG, JPEG or BMP"), "{e}");
    // A PNG header claiming 100000 x 100000 pixels is refused before decoding.
    let mut huge = Vec::new();
    image::codecs::png::PngEncoder::new(&mut huge)
        .write_image(&[0u8; 4], 2, 2, image::ExtendedColorType::L8)
        .unwrap_or(());
    huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    huge[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let e = decode(&huge, p).unwrap_err().to_string();
    assert!(
        e.contains("100000x100000") || e.contains("not a readable image"),
        "{e}"
    );
}

use image::ImageEncoder as _;
