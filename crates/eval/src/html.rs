//! Self-contained HTML report: inline SVG plots (hand-written, no scripts, no network) —
//! ROC, precision–recall, reliability with prediction counts, metrics per period and
//! feature importance — plus tables.

use crate::report::Report;
use std::fmt::Write;

const PALETTE: [&str; 6] = [
    "#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
];

/// Escapes text for HTML and SVG.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

/// Short tick label: at most 3 decimals, trailing zeros trimmed.
fn tick_label(v: f64) -> String {
    if v.abs() >= 1000.0 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), fmt)
}

/// A series of a line chart.
struct Series<'a> {
    name: &'a str,
    color: &'a str,
    points: Vec<(f64, f64)>,
    dashed: bool,
    markers: bool,
}

/// Round tick positions covering `[lo, hi]`.
fn ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let span = (hi - lo).abs().max(1e-12);
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= target as f64)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

struct Frame {
    w: f64,
    h: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        self.left
            + (x - self.x.0) / (self.x.1 - self.x.0).max(1e-12) * (self.w - self.left - self.right)
    }
    fn py(&self, y: f64) -> f64 {
        self.h
            - self.bottom
            - (y - self.y.0) / (self.y.1 - self.y.0).max(1e-12) * (self.h - self.top - self.bottom)
    }
}

/// Axes, grid, labels; `x_labels` replaces numeric x ticks by category labels.
fn axes(
    svg: &mut String,
    f: &Frame,
    title: &str,
    xl: &str,
    yl: &str,
    x_labels: Option<&[(f64, String)]>,
) {
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="18" class="title">{}</text>"#,
        f.w / 2.0,
        escape(title)
    );
    for t in ticks(f.y.0, f.y.1, 5) {
        let y = f.py(t);
        let _ = write!(
            svg,
            r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"#,
            f.left,
            f.w - f.right,
            f.left - 6.0,
            y + 4.0,
            tick_label(t)
        );
    }
    match x_labels {
        Some(labels) => {
            for (x, l) in labels {
                let px = f.px(*x);
                let _ = write!(
                    svg,
                    r#"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" class="grid"/><text transform="translate({px:.1},{:.1}) rotate(-35)" class="tick" text-anchor="end">{}</text>"#,
                    f.top,
                    f.h - f.bottom,
                    f.h - f.bottom + 14.0,
                    escape(l)
                );
            }
        }
        None => {
            for t in ticks(f.x.0, f.x.1, 5) {
                let x = f.px(t);
                let _ = write!(
                    svg,
                    r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" class="grid"/><text x="{x:.1}" y="{:.1}" class="tick" text-anchor="middle">{}</text>"#,
                    f.top,
                    f.h - f.bottom,
                    f.h - f.bottom + 16.0,
                    tick_label(t)
                );
            }
        }
    }
    let _ = write!(
        svg,
        r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" class="frame"/>"#,
        f.left,
        f.top,
        f.w - f.left - f.right,
        f.h - f.top - f.bottom
    );
    if x_labels.is_none() {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" class="axis" text-anchor="middle">{}</text>"#,
            f.left + (f.w - f.left - f.right) / 2.0,
            f.h - 6.0,
            escape(xl)
        );
    }
    let _ = write!(
        svg,
        r#"<text transform="translate(14,{:.1}) rotate(-90)" class="axis" text-anchor="middle">{}</text>"#,
        f.top + (f.h - f.top - f.bottom) / 2.0,
        escape(yl)
    );
}

fn legend(svg: &mut String, f: &Frame, series: &[Series<'_>]) {
    // One row in the top margin, under the title: never hides data.
    let mut x = f.left;
    let y = 36.0;
    for s in series {
        let dash = if s.dashed {
            r#" stroke-dasharray="5,4""#
        } else {
            ""
        };
        let _ = write!(
            svg,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="2.5"{dash}/><text x="{:.1}" y="{:.1}" class="tick">{}</text>"#,
            x,
            y - 4.0,
            x + 20.0,
            y - 4.0,
            s.color,
            x + 25.0,
            y,
            escape(s.name)
        );
        x += 40.0 + 6.2 * s.name.chars().count() as f64;
    }
}

#[allow(clippy::too_many_arguments)]
fn line_chart(
    title: &str,
    xl: &str,
    yl: &str,
    x: (f64, f64),
    y: (f64, f64),
    series: &[Series<'_>],
    x_labels: Option<&[(f64, String)]>,
) -> String {
    let f = Frame {
        w: 520.0,
        h: 395.0,
        left: 58.0,
        right: 16.0,
        top: 48.0,
        bottom: if x_labels.is_some() { 78.0 } else { 44.0 },
        x,
        y,
    };
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="{}" height="{}" role="img">"#,
        f.w, f.h, f.w, f.h
    );
    axes(&mut svg, &f, title, xl, yl, x_labels);
    for s in series {
        if s.points.is_empty() {
            continue;
        }
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|&(a, b)| format!("{:.2},{:.2}", f.px(a), f.py(b)))
            .collect();
        let dash = if s.dashed {
            r#" stroke-dasharray="5,4""#
        } else {
            ""
        };
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="2.2" stroke-linejoin="round"{dash} points="{}"/>"#,
            s.color,
            pts.join(" ")
        );
        if s.markers {
            for &(a, b) in &s.points {
                let _ = write!(
                    svg,
                    r#"<circle cx="{:.2}" cy="{:.2}" r="3.5" fill="{}" stroke="white" stroke-width="1"/>"#,
                    f.px(a),
                    f.py(b),
                    s.color
                );
            }
        }
    }
    legend(&mut svg, &f, series);
    svg.push_str("</svg>");
    svg
}

fn bar_chart(title: &str, xl: &str, items: &[(String, f64)], color: &str) -> String {
    let row = 20.0;
    let label_w = 190.0;
    let h = 44.0 + row * items.len().max(1) as f64 + 30.0;
    let max = items.iter().map(|i| i.1).fold(0.0, f64::max).max(1e-12);
    let f = Frame {
        w: 520.0,
        h,
        left: label_w,
        right: 24.0,
        top: 30.0,
        bottom: 40.0,
        x: (0.0, max),
        y: (0.0, 1.0),
    };
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {h}" width="{}" height="{h}" role="img">"#,
        f.w, f.w
    );
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="18" class="title">{}</text>"#,
        f.w / 2.0,
        escape(title)
    );
    for t in ticks(0.0, max, 4) {
        let x = f.px(t);
        let _ = write!(
            svg,
            r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" class="grid"/><text x="{x:.1}" y="{:.1}" class="tick" text-anchor="middle">{}</text>"#,
            f.top,
            h - f.bottom,
            h - f.bottom + 16.0,
            tick_label(t)
        );
    }
    for (k, (name, v)) in items.iter().enumerate() {
        let y = f.top + 4.0 + row * k as f64;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}" rx="2"><title>{}: {}</title></rect>"#,
            f.left - 6.0,
            y + row * 0.62,
            escape(name),
            f.left,
            y,
            (f.px(*v) - f.left).max(0.5),
            row - 5.0,
            escape(name),
            fmt(*v)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" class="axis" text-anchor="middle">{}</text></svg>"#,
        f.left + (f.w - f.left - f.right) / 2.0,
        h - 6.0,
        escape(xl)
    );
    svg
}

fn roc_svg(r: &Report) -> String {
    let auc = opt(r.metrics.roc_auc);
    let name = format!("model (AUC {auc})");
    line_chart(
        "ROC curve",
        "false-positive rate",
        "true-positive rate",
        (0.0, 1.0),
        (0.0, 1.0),
        &[
            Series {
                name: &name,
                color: PALETTE[0],
                points: r.roc.iter().map(|p| (p.fpr, p.tpr)).collect(),
                dashed: false,
                markers: false,
            },
            Series {
                name: "chance",
                color: "#9ca3af",
                points: vec![(0.0, 0.0), (1.0, 1.0)],
                dashed: true,
                markers: false,
            },
        ],
        None,
    )
}

fn pr_svg(r: &Report) -> String {
    let base = r.metrics.positives as f64 / r.metrics.n.max(1) as f64;
    let name = format!("model (AP {})", opt(r.metrics.pr_auc));
    let base_name = format!("base rate {}", fmt(base));
    let mut pts: Vec<(f64, f64)> = r.pr.iter().map(|p| (p.recall, p.precision)).collect();
    if let Some(&(_, p0)) = pts.first() {
        pts.insert(0, (0.0, p0));
    }
    line_chart(
        "Precision–recall curve",
        "recall",
        "precision",
        (0.0, 1.0),
        (0.0, 1.0),
        &[
            Series {
                name: &name,
                color: PALETTE[1],
                points: pts,
                dashed: false,
                markers: false,
            },
            Series {
                name: &base_name,
                color: "#9ca3af",
                points: vec![(0.0, base), (1.0, base)],
                dashed: true,
                markers: false,
            },
        ],
        None,
    )
}

fn reliability_svg(r: &Report) -> String {
    let name = format!("model (Brier {})", fmt(r.metrics.brier));
    line_chart(
        "Reliability (calibration)",
        "mean predicted probability",
        "observed positive rate",
        (0.0, 1.0),
        (0.0, 1.0),
        &[
            Series {
                name: &name,
                color: PALETTE[2],
                points: r
                    .reliability
                    .iter()
                    .map(|b| (b.mean_predicted, b.fraction_positive))
                    .collect(),
                dashed: false,
                markers: true,
            },
            Series {
                name: "perfectly calibrated",
                color: "#9ca3af",
                points: vec![(0.0, 0.0), (1.0, 1.0)],
                dashed: true,
                markers: false,
            },
        ],
        None,
    )
}

fn bin_counts_svg(r: &Report) -> String {
    let items: Vec<(String, f64)> = r
        .reliability
        .iter()
        .map(|b| (format!("{:.2}–{:.2}", b.lo, b.hi), b.count as f64))
        .collect();
    bar_chart(
        "Predictions per probability bin",
        "rows",
        &items,
        PALETTE[5],
    )
}

fn period_svg(r: &Report) -> String {
    let n = r.per_period.len();
    let every = n.div_ceil(16).max(1);
    let labels: Vec<(f64, String)> = r
        .per_period
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, p)| (i as f64, p.period.clone()))
        .collect();
    let pick = |f: &dyn Fn(&crate::period::PeriodMetrics) -> Option<f64>| -> Vec<(f64, f64)> {
        r.per_period
            .iter()
            .enumerate()
            .filter_map(|(i, p)| f(p).map(|v| (i as f64, v)))
            .collect()
    };
    let series = [
        Series {
            name: "ROC-AUC",
            color: PALETTE[0],
            points: pick(&|p| p.roc_auc),
            dashed: false,
            markers: n <= 60,
        },
        Series {
            name: "PR-AUC",
            color: PALETTE[1],
            points: pick(&|p| p.pr_auc),
            dashed: false,
            markers: n <= 60,
        },
        Series {
            name: "F1 at threshold",
            color: PALETTE[3],
            points: pick(&|p| Some(p.f1)),
            dashed: false,
            markers: n <= 60,
        },
        Series {
            name: "base rate",
            color: "#6b7280",
            points: pick(&|p| Some(p.base_rate)),
            dashed: true,
            markers: false,
        },
    ];
    let unit = r.period_unit.as_deref().unwrap_or("period");
    line_chart(
        &format!("Metrics per {unit}"),
        unit,
        "metric",
        (-0.5, (n.max(1) as f64) - 0.5),
        (0.0, 1.0),
        &series,
        Some(&labels),
    )
}

fn importance_svg(r: &Report) -> String {
    let items: Vec<(String, f64)> = r
        .feature_importance
        .iter()
        .take(20)
        .map(|i| (i.feature.clone(), i.share))
        .collect();
    bar_chart(
        "Feature importance (top 20, share of total)",
        "share",
        &items,
        PALETTE[0],
    )
}

const CSS: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;color:#111827}
header{background:#111827;color:#f9fafb;padding:18px 32px}
header h1{margin:0 0 4px 0;font-size:22px}
header p{margin:0;color:#d1d5db;font-size:14px}
main{padding:20px 32px;max-width:1180px}
section{background:white;border:1px solid #e5e7eb;border-radius:8px;padding:16px 20px;margin-bottom:18px}
h2{font-size:17px;margin:0 0 12px 0}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;min-width:130px;background:#fafafa}
.card .k{font-size:12px;color:#6b7280;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:22px;font-weight:600;margin-top:2px}
.card .ci{font-size:12px;color:#6b7280}
.grid2{display:flex;flex-wrap:wrap;gap:16px}
table{border-collapse:collapse;font-size:13px}
th,td{border-bottom:1px solid #e5e7eb;padding:5px 10px;text-align:right}
th{background:#f3f4f6;font-weight:600}
td.l,th.l{text-align:left}
.scroll{max-height:420px;overflow:auto}
svg .title{font:600 14px system-ui,sans-serif;text-anchor:middle;fill:#111827}
svg .tick{font:11px system-ui,sans-serif;fill:#374151}
svg .axis{font:12px system-ui,sans-serif;fill:#111827}
svg .grid{stroke:#e5e7eb;stroke-width:1}
svg .frame{fill:none;stroke:#9ca3af;stroke-width:1}
svg .legend{fill:white;fill-opacity:.9;stroke:#e5e7eb}
.muted{color:#6b7280;font-size:13px}
"#;

fn card(out: &mut String, k: &str, v: String, ci: Option<&crate::bootstrap::Interval>) {
    let ci = ci.map_or_else(String::new, |c| {
        format!(
            r#"<div class="ci">{:.0}% CI {} – {}</div>"#,
            c.level * 100.0,
            fmt(c.lo),
            fmt(c.hi)
        )
    });
    let _ = write!(
        out,
        r#"<div class="card"><div class="k">{}</div><div class="v">{v}</div>{ci}</div>"#,
        escape(k)
    );
}

/// Renders the report as one HTML page.
pub fn render(r: &Report) -> String {
    let m = &r.metrics;
    let at = &m.at_threshold;
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{}</title><style>{CSS}</style></head><body>"#,
        escape(&r.title)
    );
    let _ = write!(
        h,
        "<header><h1>{}</h1><p>{} · {} rows, {} positives ({:.2}%) · model {} ({}){}</p></header><main>",
        escape(&r.title),
        escape(&r.split),
        m.n,
        m.positives,
        100.0 * m.positives as f64 / m.n.max(1) as f64,
        escape(&r.model.name),
        escape(&r.model.kind),
        r.created_at
            .as_ref()
            .map_or_else(String::new, |c| format!(" · {}", escape(c)))
    );

    // Headline numbers.
    h.push_str("<section><h2>Headline metrics</h2><div class=\"cards\">");
    let iv = |k: &str| r.intervals.get(k);
    card(&mut h, "ROC-AUC", opt(m.roc_auc), iv("roc_auc"));
    card(&mut h, "PR-AUC (AP)", opt(m.pr_auc), iv("pr_auc"));
    card(&mut h, "log-loss", fmt(m.log_loss), iv("log_loss"));
    card(&mut h, "Brier", fmt(m.brier), iv("brier"));
    card(&mut h, "F1", fmt(at.f1), iv("f1"));
    card(&mut h, "precision", fmt(at.precision), None);
    card(&mut h, "recall", fmt(at.recall), None);
    card(&mut h, "threshold", fmt(at.threshold), None);
    h.push_str("</div>");
    if let Some(tc) = &r.threshold_choice {
        let obj = match tc.objective {
            shopsense_models::ThresholdObjective::MaxF1 => "maximum F1".to_string(),
            shopsense_models::ThresholdObjective::MinCost { fn_fp_ratio } => {
                format!("minimum cost, FN:FP = {}", fmt(fn_fp_ratio))
            }
        };
        let _ = write!(
            h,
            r#"<p class="muted">Threshold chosen on validation by {obj} (validation F1 {}, precision {}, recall {}).</p>"#,
            fmt(tc.f1),
            fmt(tc.precision),
            fmt(tc.recall)
        );
    }
    if !r.model.calibration.is_empty() {
        let _ = write!(
            h,
            r#"<p class="muted">Calibration: {}. Training data fingerprint: <code>{}</code>.</p>"#,
            escape(&r.model.calibration),
            escape(&r.model.data_fingerprint)
        );
    }
    let c = at.confusion;
    let _ = write!(
        h,
        r#"<h2 style="margin-top:14px">Confusion matrix at threshold {}</h2><table><tr><th class="l"></th><th>predicted 0</th><th>predicted 1</th></tr><tr><th class="l">actual 0</th><td>{}</td><td>{}</td></tr><tr><th class="l">actual 1</th><td>{}</td><td>{}</td></tr></table></section>"#,
        fmt(at.threshold),
        c.tn,
        c.fp,
        c.fn_,
        c.tp
    );

    // Curves.
    h.push_str("<section><h2>Ranking and calibration</h2><div class=\"grid2\">");
    if !r.roc.is_empty() {
        h.push_str(&roc_svg(r));
        h.push_str(&pr_svg(r));
    } else {
        h.push_str("<p class=\"muted\">ROC and PR curves need both classes.</p>");
    }
    h.push_str(&reliability_svg(r));
    h.push_str(&bin_counts_svg(r));
    h.push_str("</div></section>");

    if !r.per_period.is_empty() {
        let unit = escape(r.period_unit.as_deref().unwrap_or("period"));
        let _ = write!(h, "<section><h2>Per {unit}</h2><div class=\"grid2\">");
        h.push_str(&period_svg(r));
        let _ = write!(
            h,
            r#"<div class="scroll"><table><tr><th class="l">{unit}</th><th>rows</th><th>pos.</th><th>mean p</th><th>ROC-AUC</th><th>PR-AUC</th><th>log-loss</th><th>Brier</th><th>F1</th></tr>"#
        );
        for p in &r.per_period {
            let _ = write!(
                h,
                r#"<tr><td class="l">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                escape(&p.period),
                p.n,
                p.positives,
                fmt(p.mean_predicted),
                opt(p.roc_auc),
                opt(p.pr_auc),
                fmt(p.log_loss),
                fmt(p.brier),
                fmt(p.f1)
            );
        }
        h.push_str("</table></div></div></section>");
    }

    if !r.feature_importance.is_empty() {
        h.push_str("<section><h2>Feature importance</h2><div class=\"grid2\">");
        h.push_str(&importance_svg(r));
        h.push_str(r#"<div class="scroll"><table><tr><th class="l">feature</th><th>value</th><th>share</th></tr>"#);
        for i in &r.feature_importance {
            let _ = write!(
                h,
                r#"<tr><td class="l">{}</td><td>{}</td><td>{:.1}%</td></tr>"#,
                escape(&i.feature),
                fmt(i.value),
                100.0 * i.share
            );
        }
        h.push_str("</table></div></div></section>");
    }

    if !r.comparisons.is_empty() {
        h.push_str(r#"<section><h2>Comparison on the same rows</h2><table><tr><th class="l">model</th><th>ROC-AUC</th><th>PR-AUC</th><th>log-loss</th><th>Brier</th><th>threshold</th><th>precision</th><th>recall</th><th>F1</th></tr>"#);
        let rows = std::iter::once((r.model.name.as_str(), m))
            .chain(r.comparisons.iter().map(|c| (c.name.as_str(), &c.metrics)));
        for (name, x) in rows {
            let a = &x.at_threshold;
            let _ = write!(
                h,
                r#"<tr><td class="l">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                escape(name),
                opt(x.roc_auc),
                opt(x.pr_auc),
                fmt(x.log_loss),
                fmt(x.brier),
                fmt(a.threshold),
                fmt(a.precision),
                fmt(a.recall),
                fmt(a.f1)
            );
        }
        h.push_str("</table></section>");
    }

    if let Some(mc) = &r.multiclass {
        let _ = write!(
            h,
            r#"<section><h2>Multi-class</h2><p>accuracy {} · macro-F1 {} · log-loss {}</p><table><tr><th class="l">class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>"#,
            fmt(mc.accuracy),
            fmt(mc.macro_f1),
            fmt(mc.log_loss)
        );
        for c in &mc.per_class {
            let name = c.name.clone().unwrap_or_else(|| c.class.to_string());
            let _ = write!(
                h,
                r#"<tr><td class="l">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                escape(&name),
                fmt(c.precision),
                fmt(c.recall),
                fmt(c.f1),
                c.support
            );
        }
        h.push_str("</table><h2 style=\"margin-top:12px\">Confusion (rows = actual)</h2><table>");
        for row in &mc.confusion {
            h.push_str("<tr>");
            for v in row {
                let _ = write!(h, "<td>{v}</td>");
            }
            h.push_str("</tr>");
        }
        h.push_str("</table></section>");
    }
    h.push_str("<p class=\"muted\">Generated by shopsense-eval. Self-contained: no scripts, no network.</p></main></body></html>");
    h
}

/// A horizontal bar chart as inline SVG (one bar per `(label, value)`), for reports other
/// than the binary [`Report`] (e.g. ranking metrics per method).
pub fn bar_chart_svg(
    title: &str,
    x_label: &str,
    items: &[(String, f64)],
    color_index: usize,
) -> String {
    bar_chart(title, x_label, items, PALETTE[color_index % PALETTE.len()])
}

/// Wraps `body` (HTML) into a self-contained page with the report stylesheet.
pub fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{}</title><style>{CSS}</style></head><body>{body}</body></html>"#,
        escape(title)
    )
}
