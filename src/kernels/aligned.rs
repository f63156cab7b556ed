//! A global allocator that starts every buffer of 512 bytes or more on a cache line.
//!
//! The kernels load whole vectors from the tensors' buffers at offsets that are
//! multiples of 16 floats (64 bytes). The system allocator starts a large block 16
//! bytes past a page boundary (its header), so on its own every one of those AVX-512
//! loads straddles two cache lines, and the core reads both lines for each load. On
//! the Intel Xeon, `mlp-512`'s inference, bound by the zero-skipping product's loads,
//! ran at two thirds to three quarters of its speed with aligned buffers
//! (docs/PERFORMANCE.md, "The Intel Xeon"). An AVX2 load of 32 bytes crosses a line
//! every other time.
//!
//! The `scrawl` command and the benches (`benches/`) install it; a program using the
//! library installs it with
//!
//! ```
//! #[global_allocator]
//! static ALLOCATOR: scrawl::kernels::CacheLineAligned = scrawl::kernels::CacheLineAligned;
//! # fn main() {}
//! ```
//!
//! Alignment changes no result: the same sums are computed from the same values.

use std::alloc::{GlobalAlloc, Layout, System};

/// Buffers at least this long start on a cache line; smaller ones (strings, small
/// vectors) keep the system allocator's faster path.
const MIN_BYTES: usize = 512;

/// A cache line.
const LINE: usize = 64;

/// The system allocator, with every block of 512 bytes or more aligned to 64 bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheLineAligned;

/// The layout handed to the system allocator for `layout`: a function of `layout`
/// alone, so a block is freed with the layout it was allocated with.
fn widen(layout: Layout) -> Layout {
    if layout.size() >= MIN_BYTES && layout.align() < LINE {
        // `align_to` fails only for a size within 64 bytes of `isize::MAX`; such a
        // block keeps its own alignment (the same answer on every call).
        layout.align_to(LINE).unwrap_or(layout)
    } else {
        layout
    }
}

// SAFETY: every call forwards to `System` with `widen(layout)`, whose size is
// `layout`'s and whose alignment is at least `layout`'s, so each block fits the
// layout asked for; `dealloc` and `realloc` pass `System` the same widened layout the
// block was allocated with (`widen` depends on the layout only).
unsafe impl GlobalAlloc for CacheLineAligned {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: `widen` keeps the (nonzero) size of the caller's layout.
        unsafe { System.alloc(widen(layout)) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(widen(layout)) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with this `layout`, so from `System` with
        // `widen(layout)`.
        unsafe { System.dealloc(ptr, widen(layout)) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = widen(layout);
        // SAFETY: the caller guarantees `new_size`, rounded up to `layout.align()`,
        // does not overflow `isize`.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if widen(new).align() == old.align() {
            // SAFETY: `ptr` was allocated by `System` with `old`.
            return unsafe { System.realloc(ptr, old, new_size) };
        }
        // The block crosses MIN_BYTES: a new block with the other alignment.
        // SAFETY: `new` has a nonzero size (the caller's contract); the copy covers
        // the bytes both blocks hold, and `ptr` is freed as it was allocated.
        unsafe {
            let moved = self.alloc(new);
            if !moved.is_null() {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            moved
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks from 512 bytes up start on a cache line, smaller ones keep their own
    /// alignment, and a block that grows or shrinks across 512 bytes keeps its bytes.
    #[test]
    fn large_blocks_start_on_a_cache_line_and_keep_their_bytes() {
        let a = CacheLineAligned;
        for size in [512, 513, 4096, 1 << 20] {
            let layout = Layout::from_size_align(size, 4).unwrap();
            // SAFETY: a nonzero size; freed below with the same layout.
            unsafe {
                let p = a.alloc(layout);
                assert!(!p.is_null());
                assert_eq!(p as usize % LINE, 0, "{size} bytes");
                a.dealloc(p, layout);
            }
        }
        assert_eq!(widen(Layout::from_size_align(100, 4).unwrap()).align(), 4);
        assert_eq!(
            widen(Layout::from_size_align(4096, 128).unwrap()).align(),
            128
        );
        for (from, to) in [(100, 4000), (4000, 100), (600, 700), (8, 16)] {
            let layout = Layout::from_size_align(from, 4).unwrap();
            // SAFETY: nonzero sizes; each block is freed once, with its layout.
            unsafe {
                let p = a.alloc(layout);
                for i in 0..from {
                    *p.add(i) = i as u8;
                }
                let q = a.realloc(p, layout, to);
                assert!(!q.is_null());
                if to >= MIN_BYTES {
                    assert_eq!(q as usize % LINE, 0, "{from} -> {to}");
                }
                for i in 0..from.min(to) {
                    assert_eq!(*q.add(i), i as u8, "{from} -> {to}: byte {i}");
                }
                a.dealloc(q, Layout::from_size_align(to, 4).unwrap());
            }
        }
    }
}
