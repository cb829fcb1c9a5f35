//! Transparent huge pages for big, randomly accessed arrays.
//!
//! A lookup in a dictionary of millions of ids, or a scatter into a column of millions of
//! rows, lands on a random page: with 4 KiB pages nearly every access also misses the TLB;
//! with 2 MiB pages a few hundred TLB entries cover the whole array. Linux backs a range with
//! huge pages on request (`madvise(MADV_HUGEPAGE)`) when its THP mode is `madvise` (the usual
//! default) or `always`; elsewhere these functions change nothing. Only memory not yet
//! touched benefits, so advise right after allocating.

/// Arrays smaller than this stay on small pages (the advice could not cover a whole huge page
/// of them anyway, or would not pay).
const MIN_BYTES: usize = 4 << 20;

/// Asks the kernel to back the capacity of `v` with huge pages (the 2 MiB-aligned part of it).
/// A hint only: no data is read or written, and a refusal leaves small pages.
pub fn advise_huge<T>(v: &mut Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = v.capacity() * std::mem::size_of::<T>();
        if bytes < MIN_BYTES {
            return;
        }
        let start = v.as_mut_ptr() as usize;
        let aligned = (start + HUGE - 1) & !(HUGE - 1);
        let end = (start + bytes) & !(HUGE - 1);
        if end > aligned {
            // SAFETY: the range lies inside this vector's allocation, which the vector owns;
            // MADV_HUGEPAGE only changes how the kernel backs those pages (their contents
            // are kept), and a failure is harmless (the pages stay small).
            unsafe {
                libc::madvise(
                    aligned as *mut libc::c_void,
                    end - aligned,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

/// `n` copies of `v` in a vector advised to huge pages ([`advise_huge`]) before it is filled.
pub fn huge_vec<T: Clone>(n: usize, v: T) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(n);
    advise_huge(&mut out);
    out.resize(n, v);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_vectors_hold_what_was_asked() {
        for n in [0, 1, 1000, 3 << 20] {
            let v = huge_vec(n, 7u32);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x == 7));
        }
        let mut w: Vec<u64> = (0..1 << 20).collect();
        w.reserve(1 << 20);
        advise_huge(&mut w);
        assert!(w.iter().enumerate().all(|(i, &x)| x == i as u64));
    }
}
