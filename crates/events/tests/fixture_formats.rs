//! Retailrocket, Diginetica and mapped CSV on small hand-made fixtures (see the READMEs under
//! `tests/fixtures/`), plus the real Retailrocket category tree.

mod common;

use common::{data, fixture};
use shopsense_events::formats::diginetica::ProductCategories;
use shopsense_events::formats::mapped::{read_mapped, Mapping};
use shopsense_events::formats::retailrocket::{CategoryTree, ItemProperties, Retailrocket};
use shopsense_events::{
    read_file, read_file_with, EventKind, EventsError, Format, ReadOptions, RejectReason, Source,
};
use std::path::Path;

fn opts() -> ReadOptions {
    ReadOptions {
        threads: 1,
        ..ReadOptions::default()
    }
}

/// `(line, kind, user, item, category, category_path, order)` of every row.
type Row = (
    u64,
    EventKind,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn rows(t: &shopsense_events::EventTable) -> Vec<Row> {
    (0..t.len())
        .map(|i| {
            let e = t.event(i);
            (
                e.source_line,
                e.kind,
                e.user_id,
                e.item_id,
                e.category_id,
                e.category_path,
                e.order_id,
            )
        })
        .collect()
}

fn row(
    line: u64,
    kind: EventKind,
    user: &str,
    item: &str,
    cat: Option<&str>,
    path: Option<&str>,
    order: Option<&str>,
) -> Row {
    (
        line,
        kind,
        user.into(),
        item.into(),
        cat.map(Into::into),
        path.map(Into::into),
        order.map(Into::into),
    )
}

#[test]
fn retailrocket_fixture_as_of_categories_paths_and_orders() {
    use EventKind::*;
    let path = fixture("retailrocket/events.csv");
    let (format, out) = read_file(&path, None, &opts()).unwrap();
    assert_eq!(format, Format::Retailrocket);
    assert_eq!(out.lines, 9);
    let p1173 = Some("140.384.805.1173");
    let p1016 = Some("1532.1299.213.1016");
    assert_eq!(
        rows(&out.table),
        vec![
            // Before the item's change of category: the earlier snapshot.
            row(2, View, "257597", "355908", Some("1173"), p1173, None),
            // An item without a category property.
            row(3, View, "992329", "248676", None, None, None),
            // Before the item's only snapshot: that snapshot; 1001 is not in the tree.
            row(4, View, "111016", "318965", Some("1001"), None, None),
            row(5, Cart, "111016", "318965", Some("1001"), None, None),
            row(
                6,
                Purchase,
                "111016",
                "318965",
                Some("1001"),
                None,
                Some("4000")
            ),
            // A category in a 50 <-> 51 cycle: the path stops before repeating.
            row(7, View, "257597", "5", Some("50"), Some("51.50"), None),
            // After the change of category, on the snapshot's time and later.
            row(8, View, "257597", "355908", Some("1016"), p1016, None),
            row(10, Cart, "992329", "355908", Some("1173"), p1173, None),
        ]
    );
    assert_eq!(out.table.time_ms[0], 1_433_221_332_117);
    assert_eq!(out.rejects.len(), 1);
    assert_eq!(out.rejects[0].line, 9);
    assert_eq!(
        out.rejects[0].reason,
        RejectReason::bad_number("visitorid", "abc")
    );
    assert!(!out.table.has_native_sessions());

    // Companions as loaded, availability as of each time (not stored in the table).
    let rr = Retailrocket::with_companions(&path).unwrap();
    let props = rr.properties().unwrap();
    assert_eq!(props.len(), 8);
    assert_eq!(props.skipped_rows(), 1, "the row with a bad time");
    assert_eq!(rr.tree().unwrap().len(), 10);
    assert_eq!(rr.available_at(355_908, 1_433_221_332_117), Some(true));
    assert_eq!(rr.available_at(355_908, 1_433_350_000_000), Some(false));
    assert_eq!(rr.available_at(318_965, 0), Some(false));
    assert_eq!(rr.available_at(248_676, 0), None);
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
}

#[test]
fn retailrocket_with_the_real_category_tree_and_gzip_companions() {
    let tree = CategoryTree::load(&data("retailrocket/category_tree.csv")).unwrap();
    assert_eq!(tree.len(), 1_669);
    assert_eq!(tree.skipped_rows(), 0);
    assert_eq!(tree.path(1016).as_deref(), Some("1532.1299.213.1016"));
    assert_eq!(tree.path(1173).as_deref(), Some("140.384.805.1173"));
    assert_eq!(tree.path(50).as_deref(), Some("653.312.50"));
    assert_eq!(tree.parent(1532), None);
    assert_eq!(tree.path(999_999), None);

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy(&fixture("retailrocket/events.csv"), &d.join("events.csv"));
    copy(
        &data("retailrocket/category_tree.csv"),
        &d.join("category_tree.csv"),
    );
    for part in ["item_properties_part1.csv", "item_properties_part2.csv"] {
        use std::io::Write;
        let src = std::fs::read(fixture(&format!("retailrocket/{part}"))).unwrap();
        let f = std::fs::File::create(d.join(format!("{part}.gz"))).unwrap();
        let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        enc.write_all(&src).unwrap();
        enc.finish().unwrap();
    }
    let (_, out) = read_file(&d.join("events.csv"), Some(Format::Retailrocket), &opts()).unwrap();
    let paths: Vec<Option<String>> = (0..out.table.len())
        .map(|i| out.table.event(i).category_path)
        .collect();
    let s = |p: &str| Some(p.to_string());
    assert_eq!(
        paths,
        vec![
            s("140.384.805.1173"),
            None,
            // 1001 is in the real tree (not in the fixture's).
            s("653.945.1001"),
            s("653.945.1001"),
            s("653.945.1001"),
            s("653.312.50"),
            s("1532.1299.213.1016"),
            s("140.384.805.1173"),
        ]
    );
}

#[test]
fn retailrocket_without_companions_has_no_categories() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.csv");
    copy(&fixture("retailrocket/events.csv"), &events);
    let (_, out) = read_file(&events, None, &opts()).unwrap();
    assert_eq!(out.table.len(), 8);
    assert!(out
        .table
        .category
        .iter()
        .all(|&c| c == shopsense_events::NONE));
    assert!(out.table.categories.is_empty() && out.table.category_paths.is_empty());
    assert_eq!(out.table.orders.len(), 1);

    // A companion with the wrong header is a clear error.
    std::fs::write(dir.path().join("category_tree.csv"), "a,b\n1,2\n").unwrap();
    let err = read_file(&events, None, &opts()).unwrap_err();
    assert!(matches!(err, EventsError::Companion { .. }), "{err}");
    assert!(err.to_string().contains("categoryid,parentid"), "{err}");
}

#[test]
fn item_properties_load_counts_only_category_and_availability() {
    let p = ItemProperties::load(&[
        fixture("retailrocket/item_properties_part1.csv"),
        fixture("retailrocket/item_properties_part2.csv"),
    ])
    .unwrap();
    assert_eq!(p.categories().len(), 4);
    assert_eq!(p.category_at(355_908, 1_433_299_999_999), Some("1173"));
    assert_eq!(p.category_at(355_908, 1_433_300_000_000), Some("1016"));
    assert_eq!(p.category_at(5, 0), Some("50"));
    assert_eq!(p.available_at(5, 0), Some(true));
}

#[test]
fn diginetica_fixture_joins_views_purchases_and_categories() {
    use EventKind::*;
    let path = fixture("diginetica/train-item-views.csv");
    let (format, out) = read_file(&path, None, &opts()).unwrap();
    assert_eq!(format, Format::Diginetica);
    let t = &out.table;
    assert_eq!(out.lines, 10, "8 views + 2 purchases");
    assert_eq!(
        rows(t),
        vec![
            row(5, View, "s:2", "9654", None, None, None),
            row(4, View, "s:1", "32118", None, None, None),
            row(2, View, "s:1", "81766", Some("1040"), None, None),
            row(3, View, "s:1", "31331", Some("1059"), None, None),
            row(2, Purchase, "s:1", "31331", Some("1059"), None, Some("8")),
            row(6, View, "5", "100748", None, None, None),
            row(7, View, "5", "26211", Some("1050"), None, None),
            row(3, Purchase, "5", "26211", Some("1050"), None, Some("9")),
        ]
    );
    // eventdate midnight UTC + timeframe ms; sorted, stable.
    assert_eq!(
        t.time_ms,
        vec![
            1_462_752_075_848,
            1_462_752_243_569,
            1_462_752_526_309,
            1_462_753_031_018,
            1_462_753_100_000,
            1_462_838_400_000,
            1_462_838_404_000,
            1_462_838_404_000,
        ]
    );
    let file_of = |i: usize| t.files[t.file[i] as usize].clone();
    assert!(file_of(0).ends_with("train-item-views.csv"));
    assert!(file_of(4).ends_with("train-purchases.csv"));
    assert!(t.has_native_sessions());
    assert_eq!(t.sessions.len(), 3);
    assert_eq!(t.users.len(), 3);
    let rejects: Vec<(u64, RejectReason)> = out
        .rejects
        .iter()
        .map(|r| (r.line, r.reason.clone()))
        .collect();
    assert_eq!(
        rejects,
        vec![
            (8, RejectReason::bad_number("itemId", "abc")),
            (9, RejectReason::bad_time("eventdate", "2016-13-01")),
        ]
    );

    let pc = ProductCategories::load(&fixture("diginetica/product-categories.csv")).unwrap();
    assert_eq!(pc.len(), 3);
    assert_eq!(pc.category("26211"), Some("1050"));
    assert_eq!(pc.category("1"), None);
}

#[test]
fn diginetica_views_alone() {
    let dir = tempfile::tempdir().unwrap();
    let views = dir.path().join("train-item-views.csv");
    copy(&fixture("diginetica/train-item-views.csv"), &views);
    let (_, out) = read_file(&views, Some(Format::Diginetica), &opts()).unwrap();
    assert_eq!(out.table.len(), 6);
    assert!(out.table.categories.is_empty());
    assert!(out.table.orders.is_empty());
}

const SHOP_CSV: &str = "\
ts;visitor;product;action;price;basket
2017-11-25 08:00:00;u1;p1;pageview;1.5;
2017-11-25 08:00:01;u1;p1;add;;
2017-11-25 08:00:02;u1;p1;order;3.25;o-1
2017-11-25 08:00:03;u2;p2;share;;
2017-11-25 08:00:04;u2;p2;hover over;;
bad time;u2;p2;pageview;;
2017-11-25 08:00:05;;p2;pageview;;
2017-11-25 08:00:06;u2;p2;pageview;x;
2017-11-25 08:00:07;u2;p2;pageview;1
";

const SHOP_MAPPING: &str = r#"
delimiter = ";"

[columns]
time = "ts"
user = "visitor"
item = "product"
kind = "action"
price = "price"
order = "basket"

[time]
format = "%Y-%m-%d %H:%M:%S"
offset = "+08:00"

[kinds]
view = ["pageview", "pv"]
cart = ["add"]
purchase = ["order"]
unmapped = "UNMAPPED"
"#;

fn shop(dir: &Path, unmapped: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let csv = dir.join("shop.csv");
    std::fs::write(&csv, SHOP_CSV).unwrap();
    let m = dir.join(format!("shop-{unmapped}.toml"));
    std::fs::write(&m, SHOP_MAPPING.replace("UNMAPPED", unmapped)).unwrap();
    (csv, m)
}

#[test]
fn mapped_csv_with_pattern_offset_and_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, m) = shop(dir.path(), "keep");
    let (format, out) = read_file_with(&csv, &Source::mapped(&m), &opts()).unwrap();
    assert_eq!(format, Format::Mapped);
    let t = &out.table;
    assert_eq!(t.len(), 4);
    assert_eq!(
        t.time_ms,
        vec![
            1_511_568_000_000,
            1_511_568_001_000,
            1_511_568_002_000,
            1_511_568_003_000
        ]
    );
    let kinds: Vec<EventKind> = (0..4).map(|i| t.event(i).kind).collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::View,
            EventKind::Cart,
            EventKind::Purchase,
            EventKind::Other("share".into())
        ]
    );
    let e = t.event(2);
    assert_eq!(e.price, Some(3.25));
    assert_eq!(e.order_id.as_deref(), Some("o-1"));
    assert_eq!(t.event(1).price, None);
    assert_eq!(e.session_id, None);
    let rejects: Vec<(u64, RejectReason)> = out
        .rejects
        .iter()
        .map(|r| (r.line, r.reason.clone()))
        .collect();
    assert_eq!(
        rejects,
        vec![
            (6, RejectReason::unknown_kind("action", "hover over")),
            (7, RejectReason::bad_time("ts", "bad time")),
            (8, RejectReason::missing("visitor")),
            (9, RejectReason::bad_number("price", "x")),
            (
                10,
                RejectReason::FieldCount {
                    expected: 6,
                    found: 5
                }
            ),
        ]
    );

    let (csv, m) = shop(dir.path(), "reject");
    let out = read_mapped(&csv, &m, &opts()).unwrap();
    assert_eq!(out.table.len(), 3);
    assert_eq!(out.rejects[0].line, 5);
    assert_eq!(
        out.rejects[0].reason,
        RejectReason::unknown_kind("action", "share")
    );
}

#[test]
fn mapping_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, _) = shop(dir.path(), "keep");
    let bad = |text: &str| {
        let m = dir.path().join("bad.toml");
        std::fs::write(&m, text).unwrap();
        read_mapped(&csv, &m, &opts()).unwrap_err()
    };

    let err = bad(&SHOP_MAPPING
        .replace("UNMAPPED", "keep")
        .replace("\"product\"", "\"prodcut\""));
    assert!(matches!(err, EventsError::BadMapping { .. }));
    let msg = err.to_string();
    assert!(msg.contains("\"prodcut\" (for `item`)"), "{msg}");
    assert!(
        msg.contains("ts, visitor, product, action, price, basket"),
        "{msg}"
    );

    let err = bad(&SHOP_MAPPING.replace("UNMAPPED", "sometimes"));
    assert!(matches!(err, EventsError::BadMapping { .. }), "{err}");

    let err = bad(&SHOP_MAPPING
        .replace("UNMAPPED", "keep")
        .replace("delimiter = \";\"", "delimiter = \";\"\nheader = false"));
    assert!(err.to_string().contains("give 0-based indexes"), "{err}");

    let err = bad(&SHOP_MAPPING
        .replace("UNMAPPED", "keep")
        .replace("[kinds]", "[kinds]\nwishlist = [\"add\"]"));
    assert!(err.to_string().contains("both cart and wishlist"), "{err}");

    let err = bad(&SHOP_MAPPING
        .replace("UNMAPPED", "keep")
        .replace("price = \"price\"", "price = 9"));
    assert!(err.to_string().contains("only 6 columns"), "{err}");

    let err = bad(&SHOP_MAPPING
        .replace("UNMAPPED", "keep")
        .replace("[time]", "[time]\nzone = 1"));
    assert!(err.to_string().contains("zone"), "{err}");

    let err = bad(&SHOP_MAPPING
        .replace("UNMAPPED", "keep")
        .replace("+08:00", "8 hours"));
    assert!(err.to_string().contains("not a UTC offset"), "{err}");

    // Mapping::from_toml checks without any data.
    let m = Mapping::from_toml(
        &SHOP_MAPPING.replace("UNMAPPED", "keep"),
        Path::new("inline.toml"),
    )
    .unwrap();
    assert_eq!(m.delimiter_byte(), Ok(b';'));
    assert!(m.header);
}

#[test]
fn mapped_headerless_tab_separated_unix_ms() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("clicks.tsv");
    std::fs::write(
        &csv,
        "1511568000000\tu1\ti1\tview\tX\n1511568000500\tu1\ti2\tcart\n1511568000\tu2\ti2\tview\n",
    )
    .unwrap();
    let m = dir.path().join("clicks.toml");
    std::fs::write(
        &m,
        "delimiter = \"tab\"\nheader = false\n[columns]\ntime = 0\nuser = 1\nitem = 2\nkind = 3\n[time]\nformat = \"unix_ms\"\n",
    )
    .unwrap();
    let out = read_mapped(&csv, &m, &opts()).unwrap();
    // Without `fields`, rows need enough fields for the highest index; more are fine.
    assert_eq!(out.table.len(), 3);
    assert_eq!(out.table.line, vec![1, 2, 3]);
    assert_eq!(out.table.time_ms[2], 1_511_568_000);
    std::fs::write(
        &m,
        "delimiter = \"\\t\"\nheader = false\nfields = 4\n[columns]\ntime = 0\nuser = 1\nitem = 2\nkind = 3\n[time]\nformat = \"unix_s\"\n",
    )
    .unwrap();
    let out = read_mapped(&csv, &m, &opts()).unwrap();
    let codes: Vec<(u64, &str)> = out
        .rejects
        .iter()
        .map(|r| (r.line, r.reason.code()))
        .collect();
    assert_eq!(codes, vec![(1, "field_count"), (2, "bad_time")]);
    assert_eq!(out.table.time_ms, vec![1_511_568_000_000]);
}
