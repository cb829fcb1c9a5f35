//! Offline feature matrices: many prefixes at once, in parallel.

use crate::compute::{compute_row, Ctx, Scratch};
use crate::encoders::{fold_assignment, Buckets, Encoders, OofEncoders, Priors};
use crate::history::{user_histories, UserHistory};
use crate::protocol::Prefix;
use crate::spec::{FeatureSpec, ALL_FEATURES, F};
use crate::{FeatureError, Result};
use rayon::prelude::*;
use shopsense_events::EventTable;
use shopsense_sessions::Sessions;

/// Features of a set of prefixes: dense, row-major `f32` (row `i` is
/// `data[i * n_cols .. (i + 1) * n_cols]`), the layout `shopsense-models` takes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureMatrix {
    /// Column names (the spec's selection, in order).
    pub names: Vec<String>,
    /// Rows.
    pub n_rows: usize,
    /// Columns.
    pub n_cols: usize,
    /// Values, row-major; missing values are `NaN`.
    pub data: Vec<f32>,
    /// Labels (0 / 1), one per row.
    pub labels: Vec<u8>,
    /// Session start time (UTC ms), one per row.
    pub start_ms: Vec<i64>,
    /// Session index, one per row.
    pub session: Vec<u32>,
}

impl FeatureMatrix {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.n_cols..(i + 1) * self.n_cols]
    }

    /// Position of a column by name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Column `j` as a vector.
    pub fn column(&self, j: usize) -> Vec<f32> {
        (0..self.n_rows)
            .map(|i| self.data[i * self.n_cols + j])
            .collect()
    }
}

/// Everything a table's rows need, prepared once: priors resolved for the table's ids
/// (whole-window and, for training rows, out-of-fold), hashed codes, user histories.
/// [`FeatureBuilder::build`] can then be called for any number of prefix sets.
pub struct FeatureBuilder<'a> {
    t: &'a EventTable,
    sessions: &'a Sessions,
    cols: Vec<usize>,
    names: Vec<String>,
    utc_offset_ms: i64,
    buckets: Buckets,
    priors: Priors,
    oof: Option<OofParts>,
    histories: Vec<UserHistory>,
}

struct OofParts {
    end_ms: i64,
    fold: Vec<u8>,
    priors: Vec<Priors>,
}

fn uses_history(cols: &[usize]) -> bool {
    let first = F::USER_PREV_SESSIONS as usize;
    let last = F::USER_PREV_PURCHASE_RATE as usize;
    cols.iter().any(|&c| (first..=last).contains(&c))
}

impl<'a> FeatureBuilder<'a> {
    /// Prepares features over `t` / `sessions` with whole-window `encoders` and, for the
    /// training rows, out-of-fold `oof` encoders: a row whose session starts before
    /// `oof.end_ms` uses the encoders of its session's group, any other row `encoders`.
    pub fn new(
        t: &'a EventTable,
        sessions: &'a Sessions,
        encoders: &Encoders,
        spec: &FeatureSpec,
        oof: Option<&OofEncoders>,
    ) -> Result<Self> {
        spec.validate()?;
        encoders.check_spec(spec)?;
        crate::check_sessions(t, sessions)?;
        let cols = spec.columns()?;
        let mut buckets = Buckets::default();
        buckets.extend(t, spec);
        let oof = match oof {
            None => None,
            Some(o) => {
                if o.folds.is_empty() || o.folds.len() > u8::MAX as usize {
                    return Err(FeatureError::OutOfRange(format!(
                        "{} out-of-fold encoders",
                        o.folds.len()
                    )));
                }
                for f in &o.folds {
                    f.check_spec(spec)?;
                }
                let fold = fold_assignment(t, sessions, o.by, o.seed, o.folds.len() as u32);
                let priors = o.folds.par_iter().map(|e| Priors::resolve(t, e)).collect();
                Some(OofParts {
                    end_ms: o.end_ms,
                    fold,
                    priors,
                })
            }
        };
        let histories = if uses_history(&cols) {
            user_histories(t, sessions)?
        } else {
            Vec::new()
        };
        Ok(FeatureBuilder {
            t,
            sessions,
            names: cols
                .iter()
                .map(|&c| ALL_FEATURES[c].name.to_string())
                .collect(),
            cols,
            utc_offset_ms: spec.utc_offset_minutes as i64 * 60_000,
            buckets,
            priors: Priors::resolve(t, encoders),
            oof,
            histories,
        })
    }

    /// Column names of the matrices this builder makes.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The features of `prefixes[rows[i]]` for every `i`, in parallel.
    pub fn build(&self, prefixes: &[Prefix], rows: &[usize]) -> Result<FeatureMatrix> {
        let mut m = FeatureMatrix::default();
        self.build_into(prefixes, rows, &mut m)?;
        Ok(m)
    }

    /// [`FeatureBuilder::build`] into `m`, reusing its memory: scoring block after block
    /// into one matrix touches no fresh pages after the first block (a fresh 30 MB matrix
    /// per block cost more in page faults than computing its rows).
    pub fn build_into(
        &self,
        prefixes: &[Prefix],
        rows: &[usize],
        m: &mut FeatureMatrix,
    ) -> Result<()> {
        for &i in rows {
            let p = prefixes.get(i).ok_or_else(|| {
                FeatureError::OutOfRange(format!("row {i} but {} prefixes", prefixes.len()))
            })?;
            let s = p.session as usize;
            if s >= self.sessions.len() {
                return Err(FeatureError::OutOfRange(format!(
                    "prefix {i} names session {s} but there are {}",
                    self.sessions.len()
                )));
            }
            let len = self.sessions.events(s).len();
            if p.len == 0 || p.len as usize > len {
                return Err(FeatureError::OutOfRange(format!(
                    "prefix {i} sees {} events of session {s}, which has {len}",
                    p.len
                )));
            }
        }
        let n_cols = self.cols.len();
        let n_rows = rows.len();
        let mut data = std::mem::take(&mut m.data);
        data.clear();
        data.resize(n_rows * n_cols, 0.0);
        let full_ctx = Ctx::of_table(self.t, &self.priors, &self.buckets, self.utc_offset_ms);
        let fold_ctx: Vec<Ctx<'_>> = self
            .oof
            .iter()
            .flat_map(|o| o.priors.iter())
            .map(|p| Ctx {
                priors: p,
                ..full_ctx
            })
            .collect();
        let none = UserHistory::default();
        data.par_chunks_mut(n_cols)
            .zip(rows.par_iter())
            .with_min_len(256)
            .for_each_init(Scratch::new, |scratch, (out, &i)| {
                let p = &prefixes[i];
                let s = p.session as usize;
                let ctx = match &self.oof {
                    Some(o) if p.start_ms < o.end_ms => fold_ctx
                        .get(o.fold.get(s).copied().unwrap_or(0) as usize)
                        .unwrap_or(&full_ctx),
                    _ => &full_ctx,
                };
                let visible = &self.sessions.events(s)[..p.len as usize];
                let hist = self.histories.get(s).unwrap_or(&none);
                let mut full = std::mem::take(&mut scratch.full);
                compute_row(ctx, visible, hist, scratch, &mut full);
                for (o, &c) in out.iter_mut().zip(&self.cols) {
                    *o = full[c];
                }
                scratch.full = full;
            });
        if m.names != self.names {
            m.names = self.names.clone();
        }
        m.n_rows = n_rows;
        m.n_cols = n_cols;
        m.data = data;
        m.labels.clear();
        m.labels
            .extend(rows.iter().map(|&i| prefixes[i].label as u8));
        m.start_ms.clear();
        m.start_ms
            .extend(rows.iter().map(|&i| prefixes[i].start_ms));
        m.session.clear();
        m.session.extend(rows.iter().map(|&i| prefixes[i].session));
        Ok(())
    }
}

/// The features of `prefixes[rows[i]]` for every `i` (see [`FeatureBuilder`]): whole-window
/// `encoders` for every row, except rows whose session lies in `oof`'s training window, which
/// use the out-of-fold encoders of their group. Pass `oof` when building the training rows.
pub fn build_features(
    t: &EventTable,
    sessions: &Sessions,
    prefixes: &[Prefix],
    rows: &[usize],
    encoders: &Encoders,
    spec: &FeatureSpec,
    oof: Option<&OofEncoders>,
) -> Result<FeatureMatrix> {
    FeatureBuilder::new(t, sessions, encoders, spec, oof)?.build(prefixes, rows)
}
