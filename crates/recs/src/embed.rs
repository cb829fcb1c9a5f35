//! Item embeddings: positive pointwise mutual information (PPMI) of session co-occurrence,
//! factorised by a randomised truncated eigen-decomposition (the PPMI matrix is symmetric),
//! hand-rolled on rayon. Rows are L2-normalised, so a dot product is a cosine.

use crate::covis::Csr;
use rayon::prelude::*;
use shopsense_models::SplitMix64;

/// PPMI of a symmetric count matrix (entries with PMI <= 0 dropped).
pub fn ppmi(counts: &Csr) -> Csr {
    let n = counts.n_rows();
    let row_sum: Vec<f64> = (0..n)
        .map(|i| counts.row(i as u32).1.iter().map(|&v| v as f64).sum())
        .collect();
    let total: f64 = row_sum.iter().sum();
    let rows = (0..n)
        .map(|i| {
            let (c, v) = counts.row(i as u32);
            c.iter()
                .zip(v)
                .filter_map(|(&j, &x)| {
                    let d = row_sum[i] * row_sum[j as usize];
                    if d <= 0.0 {
                        return None;
                    }
                    let pmi = ((x as f64) * total / d).ln();
                    (pmi > 0.0).then_some((j, pmi as f32))
                })
                .collect()
        })
        .collect();
    Csr::from_rows(rows, usize::MAX)
}

fn spmm(a: &Csr, q: &[f64], k: usize) -> Vec<f64> {
    let n = a.n_rows();
    let mut out = vec![0.0; n * k];
    out.par_chunks_mut(k).enumerate().for_each(|(i, o)| {
        let (c, v) = a.row(i as u32);
        for (&j, &x) in c.iter().zip(v) {
            let r = &q[j as usize * k..j as usize * k + k];
            for t in 0..k {
                o[t] += x as f64 * r[t];
            }
        }
    });
    out
}

/// Modified Gram-Schmidt on the columns of a row-major `n × k` matrix.
fn orthonormalise(y: &mut [f64], n: usize, k: usize) {
    for c in 0..k {
        for p in 0..c {
            let dot: f64 = (0..n).map(|i| y[i * k + c] * y[i * k + p]).sum();
            for i in 0..n {
                y[i * k + c] -= dot * y[i * k + p];
            }
        }
        let norm = (0..n).map(|i| y[i * k + c].powi(2)).sum::<f64>().sqrt();
        let inv = if norm > 1e-12 { 1.0 / norm } else { 0.0 };
        for i in 0..n {
            y[i * k + c] *= inv;
        }
    }
}

/// Eigen-decomposition of a symmetric `k × k` matrix (cyclic Jacobi): eigenvalues and
/// eigenvectors (column `c` of the row-major result belongs to value `c`).
fn jacobi(mut a: Vec<f64>, k: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; k * k];
    for i in 0..k {
        v[i * k + i] = 1.0;
    }
    for _sweep in 0..60 {
        let off: f64 = (0..k)
            .flat_map(|i| (0..k).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * k + j].powi(2))
            .sum();
        if off < 1e-18 {
            break;
        }
        for p in 0..k {
            for q in p + 1..k {
                let apq = a[p * k + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * k + q] - a[p * k + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for r in 0..k {
                    let (arp, arq) = (a[r * k + p], a[r * k + q]);
                    a[r * k + p] = c * arp - s * arq;
                    a[r * k + q] = s * arp + c * arq;
                }
                for r in 0..k {
                    let (apr, aqr) = (a[p * k + r], a[q * k + r]);
                    a[p * k + r] = c * apr - s * aqr;
                    a[q * k + r] = s * apr + c * aqr;
                }
                for r in 0..k {
                    let (vrp, vrq) = (v[r * k + p], v[r * k + q]);
                    v[r * k + p] = c * vrp - s * vrq;
                    v[r * k + q] = s * vrp + c * vrq;
                }
            }
        }
    }
    ((0..k).map(|i| a[i * k + i]).collect(), v)
}

/// `dim`-dimensional, L2-normalised item vectors (row-major `n × dim`) from symmetric
/// co-occurrence counts. Items without co-occurrences get zero vectors.
pub fn ppmi_svd(counts: &Csr, dim: usize, seed: u64) -> Vec<f32> {
    let n = counts.n_rows();
    if n == 0 || dim == 0 {
        return vec![0.0; n * dim];
    }
    let a = ppmi(counts);
    let k = (dim + 8).min(n);
    let mut rng = SplitMix64::new(seed);
    let mut q: Vec<f64> = (0..n * k).map(|_| rng.next_f64() * 2.0 - 1.0).collect();
    let mut y = spmm(&a, &q, k);
    orthonormalise(&mut y, n, k);
    for _ in 0..3 {
        q = y;
        y = spmm(&a, &q, k);
        orthonormalise(&mut y, n, k);
    }
    q = y;
    let aq = spmm(&a, &q, k);
    let mut b = vec![0.0; k * k];
    for i in 0..n {
        for r in 0..k {
            let qr = q[i * k + r];
            if qr == 0.0 {
                continue;
            }
            for c in 0..k {
                b[r * k + c] += qr * aq[i * k + c];
            }
        }
    }
    for r in 0..k {
        for c in r + 1..k {
            let m = 0.5 * (b[r * k + c] + b[c * k + r]);
            b[r * k + c] = m;
            b[c * k + r] = m;
        }
    }
    let (vals, vecs) = jacobi(b, k);
    let mut idx: Vec<usize> = (0..k).collect();
    idx.sort_by(|&x, &y| vals[y].total_cmp(&vals[x]));
    let d = dim.min(k);
    let mut out = vec![0.0f32; n * dim];
    out.par_chunks_mut(dim).enumerate().for_each(|(i, o)| {
        for (c, &e) in idx.iter().take(d).enumerate() {
            let s = vals[e].max(0.0).sqrt();
            let u: f64 = (0..k).map(|r| q[i * k + r] * vecs[r * k + e]).sum();
            o[c] = (u * s) as f32;
        }
        let norm = o.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 1e-12 {
            o.iter_mut().for_each(|x| *x /= norm);
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_recovers_eigenvalues() {
        let (vals, _) = jacobi(vec![2.0, 1.0, 1.0, 2.0], 2);
        let mut v = vals.clone();
        v.sort_by(f64::total_cmp);
        assert!(
            (v[0] - 1.0).abs() < 1e-9 && (v[1] - 3.0).abs() < 1e-9,
            "{vals:?}"
        );
    }

    #[test]
    fn two_cliques_separate() {
        // Items 0-2 always together, items 3-5 always together.
        let mut rows = vec![Vec::new(); 6];
        for g in [[0u32, 1, 2], [3, 4, 5]] {
            for &a in &g {
                for &b in &g {
                    if a != b {
                        rows[a as usize].push((b, 10.0));
                    }
                }
            }
        }
        let e = ppmi_svd(&Csr::from_rows(rows, 100), 4, 7);
        let dot = |a: usize, b: usize| (0..4).map(|c| e[a * 4 + c] * e[b * 4 + c]).sum::<f32>();
        assert!(
            dot(0, 1) > dot(0, 4) + 0.5,
            "{} vs {}",
            dot(0, 1),
            dot(0, 4)
        );
    }
}
