//! Scoring with a saved bundle: every session prefix under the bundle's protocol (batch
//! `predict`), and evaluation on the test part (or on all rows, for a later period).

use crate::bundle::IntentModel;
use crate::data::{matrix_ref, prefixes_and_split};
use crate::error::{IntentError, Result};
use crate::progress::Progress;
use crate::report::{build_report, period_unit, summarize, EvalSummary, ReportInput};
use shopsense_eval::{ModelInfo, Report};
use shopsense_events::EventTable;
use shopsense_features::{FeatureBuilder, Prefix};
use shopsense_models::Model;
use shopsense_sessions::Sessions;
use std::time::Instant;

/// Prefixes scored per block: features are built and scored block by block (each block in
/// parallel), so memory stays at one block's matrix whatever the number of sessions.
pub const SCORE_BLOCK: usize = 1 << 17;

/// Seconds spent by [`score_rows`]: preparing the feature builder (priors, user histories),
/// building feature rows, and running the model + calibration.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScoreTimes {
    /// Resolving encoders for the table's ids and user histories.
    pub prepare_s: f64,
    /// Building feature rows.
    pub features_s: f64,
    /// Model and calibration.
    pub model_s: f64,
}

/// Final (calibrated) probabilities of `prefixes[rows[i]]` under the bundle. Every row uses
/// the bundle's training-window encoders.
pub fn score_rows(
    model: &IntentModel,
    t: &EventTable,
    sessions: &Sessions,
    prefixes: &[Prefix],
    rows: &[usize],
    progress: &dyn Progress,
) -> Result<Vec<f64>> {
    Ok(score_rows_timed(model, t, sessions, prefixes, rows, progress)?.0)
}

/// [`score_rows`] with the time of each step.
pub fn score_rows_timed(
    model: &IntentModel,
    t: &EventTable,
    sessions: &Sessions,
    prefixes: &[Prefix],
    rows: &[usize],
    progress: &dyn Progress,
) -> Result<(Vec<f64>, ScoreTimes)> {
    let mut times = ScoreTimes::default();
    let clock = Instant::now();
    let builder = FeatureBuilder::new(t, sessions, &model.encoders, &model.spec, None)?;
    times.prepare_s = clock.elapsed().as_secs_f64();
    let mut out = Vec::with_capacity(rows.len());
    let mut m = shopsense_features::FeatureMatrix::default();
    for block in rows.chunks(SCORE_BLOCK) {
        let clock = Instant::now();
        builder.build_into(prefixes, block, &mut m)?;
        times.features_s += clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        out.extend(model.loaded.predict(matrix_ref(&m)?)?);
        times.model_s += clock.elapsed().as_secs_f64();
        progress.inc(block.len() as u64);
    }
    Ok((out, times))
}

/// Every prefix under the bundle's protocol and its final probability.
#[derive(Debug, Clone)]
pub struct Scored {
    /// The prefixes, in session order.
    pub prefixes: Vec<Prefix>,
    /// Final probability of each prefix.
    pub probs: Vec<f64>,
    /// Where the scoring time went.
    pub times: ScoreTimes,
}

/// Scores every session prefix of the data under the bundle's protocol.
pub fn score_all(
    model: &IntentModel,
    t: &EventTable,
    sessions: &Sessions,
    progress: &dyn Progress,
) -> Result<Scored> {
    progress.step("prefixes");
    let prefixes = shopsense_features::prefixes(t, sessions, model.spec.protocol)?;
    progress.done();
    progress.bar("scoring", prefixes.len() as u64, "prefixes");
    let rows: Vec<usize> = (0..prefixes.len()).collect();
    let res = score_rows_timed(model, t, sessions, &prefixes, &rows, progress);
    progress.done();
    let (probs, times) = res?;
    Ok(Scored {
        probs,
        prefixes,
        times,
    })
}

/// Which rows `eval` scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalRows {
    /// The test part of the bundle's split (the latest sessions by start).
    Test,
    /// Every prefix (data from a later period than training).
    All,
}

impl EvalRows {
    /// `test` or `all`.
    pub fn as_str(self) -> &'static str {
        match self {
            EvalRows::Test => "test",
            EvalRows::All => "all",
        }
    }
}

/// The result of `eval`.
#[derive(Debug, Clone)]
pub struct EvalOutcome {
    /// The printed numbers.
    pub summary: EvalSummary,
    /// The full report (HTML / JSON).
    pub report: Report,
    /// Final probabilities of the evaluated rows (split order).
    pub probs: Vec<f64>,
}

/// Evaluates a bundle on the data: sessions cut into prefixes under the bundle's protocol,
/// the bundle's split fractions applied, the test part (or every prefix) scored and
/// measured. `bootstrap` resamples give the 95 % intervals.
pub fn evaluate(
    model: &IntentModel,
    t: &EventTable,
    sessions: &Sessions,
    which: EvalRows,
    bootstrap: usize,
    progress: &dyn Progress,
) -> Result<EvalOutcome> {
    progress.step("prefixes");
    let (ps, split) = prefixes_and_split(t, sessions, &model.spec)?;
    progress.done();
    let rows: Vec<usize> = match which {
        EvalRows::Test => split.test.clone(),
        EvalRows::All => {
            let mut r = split.train.clone();
            r.extend_from_slice(&split.valid);
            r.extend_from_slice(&split.test);
            r
        }
    };
    if rows.is_empty() {
        return Err(IntentError::data(format!(
            "no {} rows to evaluate ({} prefixes under {})",
            which.as_str(),
            ps.len(),
            model.spec.protocol
        )));
    }
    progress.bar("scoring", rows.len() as u64, "prefixes");
    let probs = score_rows(model, t, sessions, &ps, &rows, progress);
    progress.done();
    let probs = probs?;
    progress.step("metrics");
    let labels: Vec<f32> = rows
        .iter()
        .map(|&i| f32::from(u8::from(ps[i].label)))
        .collect();
    let start_ms: Vec<i64> = rows.iter().map(|&i| ps[i].start_ms).collect();
    let all_starts: Vec<i64> = ps.iter().map(|p| p.start_ms).collect();
    let b = &model.loaded.bundle;
    let mut info = ModelInfo::of(&model.loaded.model);
    info.data_fingerprint = b.data_fingerprint.clone();
    info.calibration = format!("{:?}", b.calibrator.method()).to_lowercase();
    let split_desc = match which {
        EvalRows::Test => format!(
            "test: last {:.0} % of sessions by start ({} prefixes)",
            model.spec.split.2 * 100.0,
            rows.len()
        ),
        EvalRows::All => format!("all {} prefixes", rows.len()),
    };
    let mut report = build_report(ReportInput {
        title: format!(
            "Purchase intent — {} · {} ({})",
            model.params.model,
            model.spec.protocol,
            model.version()
        ),
        split: split_desc,
        labels: &labels,
        probs: &probs,
        start_ms: &start_ms,
        threshold: b.threshold,
        period_unit: period_unit(&all_starts),
        utc_offset_minutes: model.spec.utc_offset_minutes,
        bootstrap,
        seed: 17,
        model: info,
        importance: model.loaded.model.feature_importance(),
    });
    progress.done();
    if let Ok(r) = report.as_mut() {
        r.threshold_choice = b.threshold_choice.clone();
        r.created_at = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    let report = report?;
    let summary = summarize(
        &report,
        model.path.display().to_string(),
        model.version().to_string(),
        model.spec.protocol.to_string(),
        which.as_str().into(),
        &start_ms,
    );
    Ok(EvalOutcome {
        summary,
        report,
        probs,
    })
}
