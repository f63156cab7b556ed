//! Row ownership: in a small-batch training step, each thread of the pool works on the
//! same rows of every weight matrix in every phase — the forward product, the kernel
//! gradient, `dx`, and the optimizer's update — so a weight, its gradient and its
//! optimizer state stay in one core's caches from step to step.
//!
//! Without it, at `mlp-512-512`'s batch 32 both threads read all of a kernel in the
//! forward pass (each took half the images), the gradient's rows were written by
//! whichever thread took them, and the update's chunks went to whichever thread stole
//! them: every line the update wrote was first taken back from the other core. A probe
//! of just that pattern on the 2-core Zen 4 (docs/PERFORMANCE.md) timed the update of
//! 669,706 weights at 275-320 µs against 118-160 µs when each thread touched only its
//! own rows, and at 920-1,570 µs against the same 125-160 µs when the host had placed
//! the two virtual CPUs far apart (a 350 ns cache-line round trip instead of 60 ns).
//!
//! Thread `i` of the pool is always owner `i` ([`for_each_owner`] runs on every
//! thread through `rayon::broadcast`), and every phase cuts a matrix of `rows` rows at
//! the same places ([`Owner::rows`]): a kernel `[inputs, units]` by its input rows.

use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Owners at most: a pool's threads beyond this many take no rows.
pub const MAX_OWNERS: usize = 256;

/// One thread's share of the work: part `part` of `parts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// This owner's index, `0..parts`.
    pub part: usize,
    /// How many owners share the work.
    pub parts: usize,
}

impl Owner {
    /// The only owner when one thread does everything.
    pub const ALONE: Owner = Owner { part: 0, parts: 1 };

    /// This owner's rows of a matrix of `rows` rows: consecutive, about `rows / parts`
    /// of them, cut at even rows (the sparse kernels build rows in pairs), the same
    /// rows for every matrix of that height in every phase of a step.
    pub fn rows(self, rows: usize) -> Range<usize> {
        let cut = |part: usize| {
            if part >= self.parts {
                rows
            } else {
                (rows * part / self.parts) & !1
            }
        };
        cut(self.part)..cut(self.part + 1)
    }
}

/// How many owners [`for_each_owner`] runs on the current pool.
pub fn owners() -> usize {
    rayon::current_num_threads().clamp(1, MAX_OWNERS)
}

/// Runs `f` once for every owner: thread `i` of the current pool as owner `i`, the
/// same thread every call. With one thread (or `parts` = 1), on the calling thread,
/// without touching the pool (nothing allocated). Returns when all are done.
pub fn for_each_owner(f: impl Fn(Owner) + Sync) {
    let parts = owners();
    if parts == 1 {
        f(Owner::ALONE);
        return;
    }
    rayon::broadcast(|ctx| {
        if ctx.index() < parts {
            f(Owner {
                part: ctx.index(),
                parts,
            })
        }
    });
}

/// A row-major matrix handed out to owners: each takes its own rows ([`Owner::rows`])
/// or its own slot, mutably, once. The parts of different owners never overlap, which
/// is what makes handing out `&mut` slices from a shared reference sound; a second
/// take of the same part panics.
pub struct OwnedRows<'a> {
    ptr: *mut f32,
    cut: Cut,
    /// The owners' count of the first take; every take must agree.
    parts: AtomicUsize,
    taken: [AtomicU64; MAX_OWNERS / 64],
    _data: PhantomData<&'a mut [f32]>,
}

// SAFETY: the parts handed out are disjoint (checked once each), and `f32` is `Send`.
unsafe impl Send for OwnedRows<'_> {}
unsafe impl Sync for OwnedRows<'_> {}

impl<'a> OwnedRows<'a> {
    /// `data`'s first `rows × row_len` values, as `rows` rows of `row_len`.
    pub fn new(data: &'a mut [f32], rows: usize, row_len: usize) -> Self {
        let len = rows
            .checked_mul(row_len)
            .expect("OwnedRows: size overflows");
        Self::cut(data, len, Cut::Rows { rows, row_len })
    }

    /// `data`'s first `parts × len` values as one slot of `len` per owner of `parts`
    /// (owner `i` takes `data[i·len..(i + 1)·len]`): each thread's scratch.
    pub fn slots(data: &'a mut [f32], parts: usize, len: usize) -> Self {
        let all = parts.checked_mul(len).expect("OwnedRows: size overflows");
        Self::cut(data, all, Cut::Slots { parts, len })
    }

    fn cut(data: &'a mut [f32], len: usize, cut: Cut) -> Self {
        assert!(
            data.len() >= len,
            "OwnedRows: {} values, {len} needed",
            data.len()
        );
        OwnedRows {
            ptr: data.as_mut_ptr(),
            cut,
            parts: AtomicUsize::new(0),
            taken: std::array::from_fn(|_| AtomicU64::new(0)),
            _data: PhantomData,
        }
    }

    /// `owner`'s rows (`owner.rows(rows)`) or slot. Panics if that part was taken
    /// before, or if `owner` counts other owners than the slots were made for.
    pub fn take(&self, owner: Owner) -> &'a mut [f32] {
        assert!(owner.part < owner.parts && owner.part < MAX_OWNERS);
        let first =
            self.parts
                .compare_exchange(0, owner.parts, Ordering::AcqRel, Ordering::Acquire);
        assert!(
            first.is_ok() || first == Err(owner.parts),
            "OwnedRows: owners of different counts"
        );
        let bit = 1u64 << (owner.part % 64);
        let before = self.taken[owner.part / 64].fetch_or(bit, Ordering::AcqRel);
        assert!(
            before & bit == 0,
            "OwnedRows: part {} taken twice",
            owner.part
        );
        let (start, len) = match self.cut {
            Cut::Rows { rows, row_len } => {
                let rows = owner.rows(rows);
                (rows.start * row_len, rows.len() * row_len)
            }
            Cut::Slots { parts, len } => {
                assert_eq!(owner.parts, parts, "OwnedRows: slots for {parts} owners");
                (owner.part * len, len)
            }
        };
        // SAFETY: `start + len` is within the values `cut` checked `data` holds; all
        // takes count the same owners (checked above), whose parts never overlap, and
        // each part is handed out once; the borrow of `data` lives as long as `'a`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

/// How an [`OwnedRows`] is cut between owners.
#[derive(Debug, Clone, Copy)]
enum Cut {
    Rows { rows: usize, row_len: usize },
    Slots { parts: usize, len: usize },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_cut_rows_into_consecutive_even_parts() {
        for rows in [0, 1, 2, 3, 10, 511, 784] {
            for parts in 1..=7 {
                let mut next = 0;
                for part in 0..parts {
                    let r = Owner { part, parts }.rows(rows);
                    assert_eq!(r.start, next, "rows {rows}, parts {parts}");
                    assert!(r.start.is_multiple_of(2) || r.start == rows);
                    next = r.end;
                }
                assert_eq!(next, rows);
            }
        }
        assert_eq!(Owner { part: 1, parts: 2 }.rows(784), 392..784);
    }

    #[test]
    fn every_thread_owns_one_part_and_writes_only_its_rows() {
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut data = vec![0.0f32; 9 * 4];
            let owned = OwnedRows::new(&mut data, 9, 4);
            pool.install(|| {
                for_each_owner(|o| {
                    assert_eq!(o.parts, threads);
                    assert_eq!(Some(o.part), rayon::current_thread_index());
                    owned.take(o).fill(o.part as f32 + 1.0);
                })
            });
            for (row, values) in data.chunks(4).enumerate() {
                let part = (0..threads)
                    .find(|&p| {
                        Owner {
                            part: p,
                            parts: threads,
                        }
                        .rows(9)
                        .contains(&row)
                    })
                    .unwrap();
                assert!(
                    values.iter().all(|&v| v == part as f32 + 1.0),
                    "{threads}: {data:?}"
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "different counts")]
    fn owners_of_one_count_take_parts() {
        let mut data = vec![0.0f32; 8];
        let owned = OwnedRows::new(&mut data, 4, 2);
        let _a = owned.take(Owner { part: 1, parts: 2 });
        let _b = owned.take(Owner::ALONE);
    }

    #[test]
    #[should_panic(expected = "taken twice")]
    fn a_part_is_taken_once() {
        let mut data = vec![0.0f32; 8];
        let owned = OwnedRows::new(&mut data, 4, 2);
        let o = Owner { part: 1, parts: 2 };
        let _a = owned.take(o);
        let _b = owned.take(o);
    }
}
