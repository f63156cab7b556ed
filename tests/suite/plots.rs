//! Pictures and image folders: the charts and digit grids open as valid PNG/SVG of the
//! expected size with the expected pixels, and a data set survives a round trip through
//! a folder of PNGs.

use crate::common;

use std::path::Path;

use scrawl::data::png::{read_png_dir, write_png_dir};
use scrawl::plot::{self, DigitGrid, DigitTile, Format, LabelCountsChart};

fn chart() -> LabelCountsChart {
    let set = common::mnist().test;
    LabelCountsChart {
        title: "Label counts".into(),
        class_names: (0..10).map(|d| d.to_string()).collect(),
        series: vec![("test".into(), set.label_counts())],
    }
}

fn decode(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{} is not a valid image: {e}", path.display()))
        .into_rgb8()
}

#[test]
fn label_chart_is_a_valid_png_and_svg_of_the_expected_size() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("labels.png");
    plot::save(&chart(), &png).unwrap();
    let img = decode(&png);
    assert_eq!(img.dimensions(), (900, 520));
    // The bars are drawn in the first palette colour; there must be many such pixels.
    let blue = plot::PALETTE[0];
    let bar_pixels = img
        .pixels()
        .filter(|p| p.0 == [blue.0, blue.1, blue.2])
        .count();
    assert!(bar_pixels > 10_000, "only {bar_pixels} bar pixels");

    let svg = dir.path().join("labels.svg");
    plot::save(&chart(), &svg).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "{}", &text[..60.min(text.len())]);
    assert!(text.contains(r#"width="900""#) && text.contains(r#"height="520""#));
    assert!(text.trim_end().ends_with("</svg>"));
    // Every class's count is printed above its bar; 1135 is the test set's count of 1s.
    assert!(text.contains(">\n1135\n</text>") && text.contains("test (10000)"));
}

#[test]
fn digits_are_upscaled_without_blur() {
    let set = common::mnist().train;
    let tiles: Vec<DigitTile> = (0..6)
        .map(|i| DigitTile {
            pixels: set.image(i).to_vec(),
            rows: 28,
            cols: 28,
            caption: set.labels[i].to_string(),
            alert: i == 1,
        })
        .collect();
    let grid = DigitGrid {
        title: Some("six digits".into()),
        tiles,
        cols: 3,
        scale: 4,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grid.png");
    plot::save(&grid, &path).unwrap();
    let img = decode(&path);
    // 3 columns of 28*4 = 112 px plus 8 px gaps; 2 rows of caption (16) + 112 + gap,
    // under a 40 px title.
    assert_eq!(img.dimensions(), (3 * 120 + 8, 40 + 2 * (16 + 112 + 8) + 8));
    // Tile 4 (row 1, column 1): each image pixel is a 4x4 block of exactly 255 - value.
    let (x0, y0) = (8 + 120, 40 + 8 + (16 + 112 + 8) + 16);
    let digit = set.image(4);
    for r in 0..28 {
        for c in 0..28 {
            let want = 255 - digit[r * 28 + c];
            for (dy, dx) in [(0, 0), (1, 2), (3, 3)] {
                let p = img.get_pixel((x0 + c * 4 + dx) as u32, (y0 + r * 4 + dy) as u32);
                assert_eq!(p.0, [want, want, want], "pixel ({r},{c}) +({dy},{dx})");
            }
        }
    }
    // The caption of the alert tile is red somewhere.
    let red = (8 + 120..8 + 240)
        .flat_map(|x| (48..64).map(move |y| (x, y)))
        .any(|(x, y)| {
            let p = img.get_pixel(x, y).0;
            p[0] > 150 && p[1] < 100 && p[2] < 100
        });
    assert!(red, "the alert caption is not red");
}

#[test]
fn bad_image_paths_are_clear_errors_and_keep_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let e = Format::of(&dir.path().join("x.jpg"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("x.jpg") && e.contains(".png or .svg"), "{e}");
    let e = plot::save(&chart(), &dir.path().join("no/such/dir/x.png"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no/such/dir"), "{e}");
    // A failed save must not touch a file already there.
    let keep = dir.path().join("keep.png");
    std::fs::write(&keep, b"old").unwrap();
    let empty = DigitGrid {
        title: None,
        tiles: vec![],
        cols: 100_000,
        scale: 20,
    };
    // An absurd size is refused before drawing.
    let big = DigitGrid {
        tiles: vec![
            DigitTile {
                pixels: vec![0; 784],
                rows: 28,
                cols: 28,
                caption: String::new(),
                alert: false,
            };
            1000
        ],
        ..empty
    };
    let e = plot::save(&big, &keep).unwrap_err().to_string();
    assert!(e.contains("keep.png") && e.contains("pixels a side"), "{e}");
    assert_eq!(std::fs::read(&keep).unwrap(), b"old");
}

#[test]
fn png_folder_round_trip() {
    let set = common::mnist().test.take(150);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("test");
    write_png_dir(&set, &out).unwrap();
    let names: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names.len(), 150);
    assert_eq!(names[0], format!("00000_{}.png", set.labels[0]));
    assert_eq!(read_png_dir(&out).unwrap(), set);
    // Exporting again replaces the folder whole (no stale files, no temporary left).
    write_png_dir(&set.take(10), &out).unwrap();
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 10);
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 1, "temporary folders were left behind");
}

#[test]
fn png_class_folders_and_bad_folders() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("classes");
    for (label, value) in [(3u8, 30u8), (7, 70)] {
        let sub = root.join(label.to_string());
        std::fs::create_dir_all(&sub).unwrap();
        for k in 0..2u8 {
            // A colour image: read as grey (equal channels keep their value).
            let img = image::RgbImage::from_pixel(28, 28, image::Rgb([value + k; 3]));
            img.save(sub.join(format!("img{k}.png"))).unwrap();
        }
    }
    let set = read_png_dir(&root).unwrap();
    assert_eq!(set.labels, vec![3, 3, 7, 7]);
    assert_eq!(set.image(2)[0], 70);
    assert_eq!(set.image(3)[100], 71);

    // A wrong size names the file.
    image::GrayImage::new(20, 28)
        .save(root.join("7").join("small.png"))
        .unwrap();
    let e = read_png_dir(&root).unwrap_err().to_string();
    assert!(e.contains("small.png") && e.contains("20x28"), "{e}");

    // A file that is not an image, a name without a label, an empty folder.
    let flat = dir.path().join("flat");
    std::fs::create_dir_all(&flat).unwrap();
    let e = read_png_dir(&flat).unwrap_err().to_string();
    assert!(e.contains("no .png images"), "{e}");
    std::fs::write(flat.join("00000_4.png"), b"not a png").unwrap();
    let e = read_png_dir(&flat).unwrap_err().to_string();
    assert!(
        e.contains("00000_4.png") && e.contains("not a readable image"),
        "{e}"
    );
    std::fs::write(flat.join("cat.png"), b"").unwrap();
    let e = read_png_dir(&flat).unwrap_err().to_string();
    assert!(e.contains("cat.png") && e.contains("_LABEL.png"), "{e}");
    let bad_class = dir.path().join("bad");
    std::fs::create_dir_all(bad_class.join("ten")).unwrap();
    let e = read_png_dir(&bad_class).unwrap_err().to_string();
    assert!(e.contains("ten") && e.contains("0 to 9"), "{e}");
}
