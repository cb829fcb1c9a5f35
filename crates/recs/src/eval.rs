//! Offline evaluation of recommendations on the test part of a temporal split: next item
//! in session and next carted/bought item; HR@k, MRR@k, NDCG@k (k = 10, 20) and catalogue
//! coverage for popularity, co-visitation kNN, embeddings and the ranker; JSON and HTML.

use crate::error::{RecsError, Result};
use crate::model::{queries, Method, Query, RecsModel};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use shopsense_events::EventTable;
use shopsense_models::SplitMix64;
use shopsense_sessions::Sessions;
use std::io::Write;
use std::path::Path;

/// Ranking metrics of one method on one task.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RankMetrics {
    /// Method name.
    pub method: String,
    /// Queries evaluated.
    pub queries: usize,
    /// Hit rate at 10.
    pub hr10: f64,
    /// Hit rate at 20.
    pub hr20: f64,
    /// Mean reciprocal rank at 10.
    pub mrr10: f64,
    /// Mean reciprocal rank at 20.
    pub mrr20: f64,
    /// NDCG at 10 (one relevant item).
    pub ndcg10: f64,
    /// NDCG at 20.
    pub ndcg20: f64,
    /// Distinct items in all top-20 lists / items in the bundle.
    pub coverage20: f64,
}

/// The metrics of every method on one task.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskEval {
    /// `next-item` or `next-cart-or-purchase`.
    pub task: String,
    /// Queries of the task in the test part (before sampling).
    pub total_queries: usize,
    /// One entry per method.
    pub methods: Vec<RankMetrics>,
}

impl TaskEval {
    /// The metrics of `method`.
    pub fn get(&self, method: &str) -> Option<&RankMetrics> {
        self.methods.iter().find(|m| m.method == method)
    }
}

/// The offline evaluation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecsEval {
    /// Test sessions.
    pub test_sessions: usize,
    /// Per task.
    pub tasks: Vec<TaskEval>,
}

/// Metrics of ranked lists (bundle item ids) against targets (`None` = unknown item, a miss).
pub fn rank_metrics(
    method: &str,
    lists: &[Vec<u32>],
    targets: &[Option<u32>],
    n_items: usize,
) -> RankMetrics {
    let n = lists.len().max(1) as f64;
    let (mut hr10, mut hr20, mut mrr10, mut mrr20, mut nd10, mut nd20) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let mut covered = hashbrown::HashSet::new();
    for (l, t) in lists.iter().zip(targets) {
        covered.extend(l.iter().take(20).copied());
        let Some(t) = t else { continue };
        if let Some(r) = l.iter().take(20).position(|x| x == t) {
            let rr = 1.0 / (r + 1) as f64;
            let g = 1.0 / ((r + 2) as f64).log2();
            hr20 += 1.0;
            mrr20 += rr;
            nd20 += g;
            if r < 10 {
                hr10 += 1.0;
                mrr10 += rr;
                nd10 += g;
            }
        }
    }
    RankMetrics {
        method: method.into(),
        queries: lists.len(),
        hr10: hr10 / n,
        hr20: hr20 / n,
        mrr10: mrr10 / n,
        mrr20: mrr20 / n,
        ndcg10: nd10 / n,
        ndcg20: nd20 / n,
        coverage20: covered.len() as f64 / n_items.max(1) as f64,
    }
}

/// Samples at most `max` queries (seeded), keeping their order.
pub fn sample(mut qs: Vec<Query>, max: usize, seed: u64) -> Vec<Query> {
    if qs.len() > max {
        let mut idx = SplitMix64::new(seed).sample_indices(qs.len(), max);
        idx.sort_unstable();
        qs = idx.into_iter().map(|i| qs[i]).collect();
    }
    qs
}

/// The test queries of both tasks (sampled to `max_queries` each) with their totals.
pub fn test_queries(
    t: &EventTable,
    s: &Sessions,
    test: &[u32],
    max_queries: usize,
    seed: u64,
) -> Vec<(&'static str, usize, Vec<Query>)> {
    let (next, buy) = queries(t, s, test);
    let (n1, n2) = (next.len(), buy.len());
    vec![
        ("next-item", n1, sample(next, max_queries, seed)),
        (
            "next-cart-or-purchase",
            n2,
            sample(buy, max_queries, seed ^ 1),
        ),
    ]
}

/// Evaluates every method on the test sessions.
pub fn evaluate(
    m: &RecsModel,
    t: &EventTable,
    s: &Sessions,
    test: &[u32],
    max_queries: usize,
    seed: u64,
) -> Result<RecsEval> {
    let st = &m.stats;
    let mut tasks = Vec::new();
    for (name, total, qs) in test_queries(t, s, test, max_queries, seed) {
        if qs.is_empty() {
            continue;
        }
        let targets: Vec<Option<u32>> = qs
            .iter()
            .map(|q| st.items.get(t.items.get(t.item[q.target as usize])))
            .collect();
        let ctxs: Vec<_> = qs
            .par_iter()
            .map(|q| {
                let ev = s.events(q.session as usize);
                st.context_of(t, s.user[q.session as usize], &ev[..q.prefix as usize])
            })
            .collect();
        let mut methods = Vec::new();
        for method in Method::ALL {
            let lists: Vec<Vec<u32>> = ctxs
                .par_iter()
                .map(|c| Ok(m.rank(c, method, 20)?.into_iter().map(|x| x.0).collect()))
                .collect::<Result<_>>()?;
            methods.push(rank_metrics(
                method.name(),
                &lists,
                &targets,
                st.items.len(),
            ));
        }
        tasks.push(TaskEval {
            task: name.into(),
            total_queries: total,
            methods,
        });
    }
    Ok(RecsEval {
        test_sessions: test.len(),
        tasks,
    })
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> RecsError + '_ {
    move |source| RecsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the split for an outside library (e.g. Python `implicit`): `train.csv` (user,
/// item, level of every training event) and `queries.csv` (task, user, context items
/// separated by spaces — the user's training history then the session prefix — and the
/// target item), the same sampled queries as [`evaluate`].
#[allow(clippy::too_many_arguments)] // mirrors `evaluate`'s inputs one for one
pub fn export_split(
    dir: &Path,
    t: &EventTable,
    s: &Sessions,
    train: &[u32],
    test: &[u32],
    m: &RecsModel,
    max_queries: usize,
    seed: u64,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let p = dir.join("train.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&p).map_err(io_err(&p))?);
    writeln!(w, "user,item,level").map_err(io_err(&p))?;
    for &si in train {
        for &e in s.events(si as usize) {
            let e = e as usize;
            writeln!(
                w,
                "{},{},{}",
                t.users.get(t.user[e]),
                t.items.get(t.item[e]),
                crate::data::kind_level(t.kind[e])
            )
            .map_err(io_err(&p))?;
        }
    }
    w.flush().map_err(io_err(&p))?;
    let p = dir.join("queries.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&p).map_err(io_err(&p))?);
    writeln!(w, "task,user,context,target").map_err(io_err(&p))?;
    let st = &m.stats;
    for (name, _, qs) in test_queries(t, s, test, max_queries, seed) {
        for q in qs {
            let ev = s.events(q.session as usize);
            let ctx = st.context_of(t, s.user[q.session as usize], &ev[..q.prefix as usize]);
            let items: Vec<&str> = ctx.recent.iter().map(|r| st.items.name(r.0)).collect();
            writeln!(
                w,
                "{name},{},{},{}",
                t.users.get(s.user[q.session as usize]),
                items.join(" "),
                t.items.get(t.item[q.target as usize])
            )
            .map_err(io_err(&p))?;
        }
    }
    w.flush().map_err(io_err(&p))?;
    Ok(())
}

/// The evaluation as a self-contained HTML page with bar charts (eval's plot helpers).
pub fn html(e: &RecsEval, title: &str, extra: &str) -> String {
    use shopsense_eval::html::{bar_chart_svg, escape, page};
    let mut body = format!(
        "<h1>{}</h1><p>Test sessions: {}</p>{extra}",
        escape(title),
        e.test_sessions
    );
    for task in &e.tasks {
        body.push_str(&format!(
            "<h2>{} ({} queries, {} evaluated)</h2><table><tr><th>method</th><th>HR@10</th><th>HR@20</th><th>MRR@10</th><th>MRR@20</th><th>NDCG@10</th><th>NDCG@20</th><th>coverage@20</th></tr>",
            escape(&task.task),
            task.total_queries,
            task.methods.first().map_or(0, |m| m.queries)
        ));
        for m in &task.methods {
            body.push_str(&format!(
                "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>",
                escape(&m.method), m.hr10, m.hr20, m.mrr10, m.mrr20, m.ndcg10, m.ndcg20, m.coverage20
            ));
        }
        body.push_str("</table>");
        let hr: Vec<(String, f64)> = task
            .methods
            .iter()
            .map(|m| (m.method.clone(), m.hr20))
            .collect();
        let nd: Vec<(String, f64)> = task
            .methods
            .iter()
            .map(|m| (m.method.clone(), m.ndcg20))
            .collect();
        body.push_str(&bar_chart_svg(
            &format!("{}: HR@20", task.task),
            "HR@20",
            &hr,
            0,
        ));
        body.push_str(&bar_chart_svg(
            &format!("{}: NDCG@20", task.task),
            "NDCG@20",
            &nd,
            1,
        ));
    }
    page(title, &body)
}
