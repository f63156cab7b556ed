//! Train/validation splits: reproducible for a seed, and stratified when asked.

use crate::common;

#[test]
fn seeded_split_is_reproducible_and_stratified() {
    let m = common::mnist();
    let data = m.train.take(5000);
    let (a_train, a_val) = data.split(0.2, 42, false).unwrap();
    let (b_train, b_val) = data.split(0.2, 42, false).unwrap();
    assert_eq!(a_train.labels, b_train.labels);
    assert_eq!(a_val.labels, b_val.labels);
    assert_eq!(a_val.images, b_val.images);
    assert_eq!(a_train.len() + a_val.len(), 5000);
    assert_eq!(a_val.len(), 1000);
    let (_, c_val) = data.split(0.2, 7, false).unwrap();
    assert_ne!(a_val.images, c_val.images, "another seed, another split");
    let (s_train, s_val) = data.split(0.2, 42, true).unwrap();
    let whole = data.label_counts();
    let (tr, va) = (s_train.label_counts(), s_val.label_counts());
    for c in 0..10 {
        assert_eq!(tr[c] + va[c], whole[c]);
        // Each class's validation share is 20% of the class, within one sample.
        let want = whole[c] as f64 * 0.2;
        assert!(
            (va[c] as f64 - want).abs() <= 1.0,
            "class {c}: {} vs {want}",
            va[c]
        );
    }
    // Every image lands in exactly one part: the multiset of images is preserved.
    let mut all: Vec<&[u8]> = (0..s_train.len()).map(|i| s_train.image(i)).collect();
    all.extend((0..s_val.len()).map(|i| s_val.image(i)));
    all.sort();
    let mut orig: Vec<&[u8]> = (0..data.len()).map(|i| data.image(i)).collect();
    orig.sort();
    assert_eq!(all, orig);
}
