//! Synthetic purchase-intent-like data for tests, examples and benchmarks: non-linear
//! log-odds over a few informative columns, noise columns, some missing values, a chosen
//! positive rate. Deterministic for a seed.

use crate::data::{Dataset, Matrix};
use crate::error::Result;
use crate::logistic::sigmoid;
use crate::rng::SplitMix64;

fn normal(rng: &mut SplitMix64) -> f64 {
    // Box–Muller.
    let u1 = rng.next_f64().max(1e-300);
    let u2 = rng.next_f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn logit_of(x: &[f32]) -> f64 {
    let v = |j: usize| {
        x.get(j)
            .map_or(0.0, |&v| if v.is_nan() { 0.0 } else { f64::from(v) })
    };
    1.2 * v(0) + 0.8 * v(1) * v(2) + (2.0 * v(3)).sin() + 0.9 * f64::from(u8::from(v(4) > 0.5))
        - 0.4 * v(5) * v(5)
        + 0.3 * v(6).ln_1p().max(-5.0)
}

fn rows(n: usize, p: usize, rng: &mut SplitMix64) -> Vec<f32> {
    let mut data = Vec::with_capacity(n * p);
    for _ in 0..n {
        for j in 0..p {
            let v = match j % 4 {
                0 | 1 => normal(rng),
                2 => rng.next_f64() * 2.0 - 1.0,
                _ => (rng.next_f64() * 8.0).floor(), // count-like
            };
            // 3 % missing in column 6.
            let v = if j == 6 && rng.next_f64() < 0.03 {
                f64::NAN
            } else {
                v
            };
            data.push(v as f32);
        }
    }
    data
}

/// `n` rows × `p` features (p ≥ 1), binary labels with about `positive_rate` positives.
pub fn binary(n: usize, p: usize, positive_rate: f64, seed: u64) -> Result<Dataset> {
    let mut rng = SplitMix64::with_stream(seed, 11);
    let data = rows(n, p, &mut rng);
    let logits: Vec<f64> = data.chunks(p.max(1)).map(logit_of).collect();
    // Intercept by bisection so that the mean probability hits the rate.
    let (mut lo, mut hi) = (-30.0, 30.0);
    let sample: Vec<f64> = logits
        .iter()
        .step_by((n / 20_000).max(1))
        .copied()
        .collect();
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        let m = sample.iter().map(|l| sigmoid(l + mid)).sum::<f64>() / sample.len().max(1) as f64;
        if m < positive_rate {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let b = 0.5 * (lo + hi);
    let labels = logits
        .iter()
        .map(|l| {
            if rng.next_f64() < sigmoid(l + b) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    Dataset::new(
        Matrix::new(data, n, p)?,
        Dataset::default_names(p),
        labels,
        None,
    )
}

/// `n` rows × `p` features, `k` classes (labels `0..k`), e.g. next action view/cart/purchase.
pub fn multiclass(n: usize, p: usize, k: usize, seed: u64) -> Result<Dataset> {
    let mut rng = SplitMix64::with_stream(seed, 12);
    let data = rows(n, p, &mut rng);
    let labels = data
        .chunks(p.max(1))
        .map(|x| {
            let s: Vec<f64> = (0..k)
                .map(|c| {
                    let v = |j: usize| {
                        x.get(j)
                            .map_or(0.0, |&v| if v.is_nan() { 0.0 } else { f64::from(v) })
                    };
                    1.5 * v(c % p.max(1)) - 0.5 * v((c + 1) % p.max(1)) + 0.2 * c as f64
                })
                .collect();
            let m = s.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = s.iter().map(|v| (v - m).exp()).collect();
            let z: f64 = e.iter().sum();
            let mut u = rng.next_f64() * z;
            let mut c = 0;
            while c + 1 < k && u >= e[c] {
                u -= e[c];
                c += 1;
            }
            c as f32
        })
        .collect();
    Dataset::new(
        Matrix::new(data, n, p)?,
        Dataset::default_names(p),
        labels,
        None,
    )
}
