//! Data augmentation: the warp against exact pixel moves, the draws' ranges and
//! reproducibility, the prefetching thread against computing in series, and
//! augmented training being bit-identical for a seed.

use crate::common;

use scrawl::data::Dataset;
use scrawl::data::augment::{
    Affine, Augmentation, AugmentedEpochs, tta_transforms, warp, warp_field,
};
use scrawl::model::Sequential;
use scrawl::optim::OptimizerConfig;
use scrawl::train::{FitOptions, Verbosity};

const SHAPE: [usize; 3] = [28, 28, 1];

fn digit(seed: u64) -> Vec<u8> {
    common::random_dataset(1, SHAPE, 10, seed).images
}

fn warped(src: &[u8], t: Affine) -> Vec<u8> {
    let mut out = vec![0u8; src.len()];
    warp(src, &mut out, SHAPE, &t);
    out
}

fn at(img: &[u8], y: isize, x: isize) -> u8 {
    if (0..28).contains(&y) && (0..28).contains(&x) {
        img[y as usize * 28 + x as usize]
    } else {
        0
    }
}

#[test]
fn identity_and_whole_pixel_shifts_are_exact() {
    let src = digit(1);
    assert_eq!(warped(&src, Affine::identity()), src);
    let shifted = warped(
        &src,
        Affine {
            shift_x: 3.0,
            shift_y: -2.0,
            ..Affine::identity()
        },
    );
    for y in 0..28isize {
        for x in 0..28isize {
            // Moved 3 right and 2 up; what comes in from outside is black.
            assert_eq!(at(&shifted, y, x), at(&src, y + 2, x - 3), "at ({y}, {x})");
        }
    }
}

#[test]
fn quarter_turn_is_counter_clockwise_and_exact() {
    let src = digit(2);
    let turned = warped(
        &src,
        Affine {
            degrees: 90.0,
            ..Affine::identity()
        },
    );
    // Counter-clockwise on screen: the top row becomes the left column, read upward.
    for y in 0..28 {
        for x in 0..28 {
            assert_eq!(turned[(27 - x) * 28 + y], src[y * 28 + x], "at ({y}, {x})");
        }
    }
}

#[test]
fn zoom_enlarges_about_the_centre() {
    // A 2×2 white square at the centre grows to about 4×4 at zoom 2.
    let mut src = vec![0u8; 784];
    for (y, x) in [(13, 13), (13, 14), (14, 13), (14, 14)] {
        src[y * 28 + x] = 255;
    }
    let big = warped(
        &src,
        Affine {
            zoom_x: 2.0,
            zoom_y: 2.0,
            ..Affine::identity()
        },
    );
    let ink = |img: &[u8]| img.iter().map(|&p| p as u32).sum::<u32>();
    let ratio = ink(&big) as f64 / ink(&src) as f64;
    assert!((3.0..5.0).contains(&ratio), "ink grew {ratio}x");
    assert_eq!(big[13 * 28 + 13], 255);
    assert_eq!(big[10 * 28 + 10], 0, "far corner stays black");
}

#[test]
fn draws_are_reproducible_within_range_and_differ_by_epoch_and_image() {
    let aug = Augmentation::default();
    let t = aug.draw(7, 3, 11, 28, 28);
    assert_eq!(t, aug.draw(7, 3, 11, 28, 28));
    assert_ne!(t, aug.draw(7, 4, 11, 28, 28));
    assert_ne!(t, aug.draw(7, 3, 12, 28, 28));
    assert_ne!(t, aug.draw(8, 3, 11, 28, 28));
    let mut max_deg = 0.0f32;
    for i in 0..2000 {
        let t = aug.draw(1, 1, i, 28, 28);
        assert!(t.degrees.abs() <= 10.0);
        assert!((0.9..=1.1).contains(&t.zoom_x) && (0.9..=1.1).contains(&t.zoom_y));
        assert!(t.shift_x.abs() <= 2.8 && t.shift_y.abs() <= 2.8);
        max_deg = max_deg.max(t.degrees.abs());
    }
    assert!(max_deg > 9.0, "the draws cover the range");
    // Zero ranges change nothing.
    let none = Augmentation {
        rotation_range: 0.0,
        zoom_range: 0.0,
        width_shift_range: 0.0,
        height_shift_range: 0.0,
        ..Default::default()
    };
    assert_eq!(none.draw(1, 1, 5, 28, 28), Affine::identity());
}

#[test]
fn unreasonable_ranges_are_refused() {
    for bad in [
        Augmentation {
            rotation_range: -1.0,
            ..Default::default()
        },
        Augmentation {
            zoom_range: 1.0,
            ..Default::default()
        },
        Augmentation {
            width_shift_range: f32::NAN,
            ..Default::default()
        },
    ] {
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("range"), "{e}");
    }
}

#[test]
fn prefetched_epochs_equal_epochs_computed_in_series() {
    let data = common::random_dataset(300, SHAPE, 10, 3);
    let aug = Augmentation::default();
    let mut epochs = AugmentedEpochs::new(&data, aug, 9).unwrap();
    for e in 1..=3 {
        let mut want = Vec::new();
        aug.epoch_images(&data, 9, e, &mut want);
        let got = epochs.epoch(e, 3);
        assert_eq!(got.images, want, "epoch {e}");
        assert_eq!(got.labels, data.labels);
    }
    // Out of order (a resumed run) still gives the same images.
    let mut want = Vec::new();
    aug.epoch_images(&data, 9, 2, &mut want);
    let mut again = AugmentedEpochs::new(&data, aug, 9).unwrap();
    assert_eq!(again.epoch(2, 3).images, want);
}

/// `clean_epochs`: the last epochs of a run are the source images themselves, the
/// earlier ones what `epoch_images` makes of them, and a run of only clean epochs is
/// refused.
#[test]
fn the_last_clean_epochs_train_on_the_images_as_they_are() {
    let data = common::random_dataset(200, SHAPE, 10, 4);
    let aug = Augmentation {
        clean_epochs: 2,
        ..Default::default()
    };
    let mut epochs = AugmentedEpochs::new(&data, aug, 9).unwrap();
    for e in 1..=5 {
        let mut warped = Vec::new();
        aug.epoch_images(&data, 9, e, &mut warped);
        let got = epochs.epoch(e, 5).images.clone();
        if e <= 3 {
            assert_eq!(got, warped, "epoch {e} of 5 is augmented");
        } else {
            assert_eq!(got, data.images, "epoch {e} of 5 is clean");
        }
        assert_eq!(epochs.augments(e, 5), e <= 3);
    }
    // A resumed run that starts on a clean epoch gets the source too.
    let mut again = AugmentedEpochs::new(&data, aug, 9).unwrap();
    assert_eq!(again.epoch(5, 5).images, data.images);
    assert!(aug.check_epochs(3).is_ok());
    // Any count of clean epochs, however large, is a clean run, not an overflow.
    let all_clean = Augmentation {
        clean_epochs: usize::MAX,
        ..Default::default()
    };
    let epochs = AugmentedEpochs::new(&data, all_clean, 9).unwrap();
    assert!(!epochs.augments(1, 5));
    assert!(all_clean.check_epochs(5).is_err());
    let e = aug.check_epochs(2).unwrap_err().to_string();
    assert!(
        e.contains("2 clean epochs of 2 leave none augmented"),
        "{e}"
    );
}

#[test]
fn tta_views_start_with_the_image_itself() {
    let views = tta_transforms();
    assert_eq!(views[0], Affine::identity());
    assert!(views.len() >= 5);
}

fn fit_small(train: &Dataset, augment: Option<Augmentation>) -> Vec<f32> {
    fit_small_for(train, augment, 2)
}

fn fit_small_for(train: &Dataset, augment: Option<Augmentation>, epochs: usize) -> Vec<f32> {
    let config =
        scrawl::stack::parse_stack("Conv2D(4,3,relu) MaxPooling2D Flatten Dense(10,softmax)")
            .unwrap();
    let mut model = Sequential::new(config, 5).unwrap();
    model
        .compile(&OptimizerConfig::adam(), Default::default())
        .unwrap();
    model
        .fit(
            train,
            FitOptions {
                epochs,
                batch_size: 50,
                seed: 5,
                verbose: Verbosity::Silent,
                augment,
                ..Default::default()
            },
        )
        .unwrap();
    model
        .named_params()
        .into_iter()
        .flat_map(|(_, p)| p.value.clone())
        .collect()
}

#[test]
fn augmented_training_is_bit_identical_for_a_seed() {
    let mnist = common::mnist();
    let train = mnist.train.take(400);
    let a = fit_small(&train, Some(Augmentation::default()));
    let b = fit_small(&train, Some(Augmentation::default()));
    assert_eq!(a, b);
    let plain = fit_small(&train, None);
    assert_ne!(a, plain, "augmentation must change what is learned");
}

/// A run whose last epoch is clean learns something else than one augmented
/// throughout and than one never augmented, and the same for a seed each time.
#[test]
fn a_run_with_a_clean_last_epoch_is_reproducible_and_its_own() {
    let mnist = common::mnist();
    let train = mnist.train.take(300);
    let clean_last = Some(Augmentation {
        clean_epochs: 1,
        ..Default::default()
    });
    let a = fit_small_for(&train, clean_last, 3);
    assert_eq!(a, fit_small_for(&train, clean_last, 3));
    assert_ne!(a, fit_small_for(&train, Some(Augmentation::default()), 3));
    assert_ne!(a, fit_small_for(&train, None, 3));
    let model = |epochs| {
        let mut m = Sequential::new(scrawl::presets::preset("mlp:8").unwrap(), 1).unwrap();
        m.compile(&OptimizerConfig::adam(), Default::default())
            .unwrap();
        m.fit(
            &train,
            FitOptions {
                epochs,
                verbose: Verbosity::Silent,
                augment: clean_last,
                ..Default::default()
            },
        )
        .map(|_| ())
    };
    let e = model(1).unwrap_err().to_string();
    assert!(e.contains("leave none augmented"), "{e}");
}

/// A field that moves every source position one pixel right is a shift one pixel left.
#[test]
fn a_constant_displacement_field_is_a_shift() {
    let src = digit(1);
    let n = SHAPE[0] * SHAPE[1];
    let mut field = vec![1.0f32; n];
    field.extend(std::iter::repeat_n(0.0, n));
    let (mut a, mut b) = (vec![0u8; src.len()], vec![0u8; src.len()]);
    warp_field(&src, &mut a, SHAPE, &Affine::identity(), &field);
    let left = Affine {
        shift_x: -1.0,
        ..Affine::identity()
    };
    warp(&src, &mut b, SHAPE, &left);
    assert_eq!(a, b);
    assert_ne!(a, src);
}

#[test]
fn elastic_fields_are_smooth_bounded_and_reproducible() {
    let aug = Augmentation {
        elastic_alpha: 8.0,
        ..Default::default()
    };
    let (mut f, mut g) = (Vec::new(), Vec::new());
    aug.elastic_field(3, 2, 17, [28, 28], &mut f);
    aug.elastic_field(3, 2, 17, [28, 28], &mut g);
    assert_eq!(f.len(), 2 * 784);
    assert_eq!(f, g, "a pure function of (seed, epoch, index)");
    aug.elastic_field(3, 2, 18, [28, 28], &mut g);
    assert_ne!(f, g, "another image, another field");
    assert!(f.iter().all(|v| v.abs() <= 8.0));
    assert!(f.iter().any(|v| v.abs() > 0.05), "not all zero");
    // Smooth: neighbours differ far less than independent noise of the same size.
    let (mut step, mut size) = (0.0f32, 0.0f32);
    for y in 0..28 {
        for x in 0..27 {
            step += (f[y * 28 + x + 1] - f[y * 28 + x]).abs();
            size += f[y * 28 + x].abs();
        }
    }
    assert!(
        step < 0.5 * size,
        "neighbour steps {step} against values {size}"
    );
    // α = 0 is no field at all, and the default.
    Augmentation::default().elastic_field(3, 2, 17, [28, 28], &mut g);
    assert!(g.is_empty());
    // Elastic epochs differ from affine-only ones, reproducibly.
    let data = common::random_dataset(3, SHAPE, 10, 4);
    let (mut e1, mut e2, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    aug.epoch_images(&data, 5, 1, &mut e1);
    aug.epoch_images(&data, 5, 1, &mut e2);
    Augmentation::default().epoch_images(&data, 5, 1, &mut plain);
    assert_eq!(e1, e2);
    assert_ne!(e1, plain);
    for bad in [
        Augmentation {
            elastic_alpha: -1.0,
            ..Default::default()
        },
        Augmentation {
            elastic_sigma: 0.0,
            ..Default::default()
        },
    ] {
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("elastic"), "{e}");
    }
}
