//! Helpers shared by the integration tests.
#![allow(dead_code)]

use shopsense_events::kind::{CART, PURCHASE, REMOVE_FROM_CART, VIEW, WISHLIST};
use shopsense_events::EventTable;
use std::path::PathBuf;

/// A file under the workspace's `data/` folder.
pub fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(rel)
}

/// A file under this crate's `tests/fixtures/` folder.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// A file under this crate's `examples/` folder.
pub fn example(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(rel)
}

/// Events per fixed kind: `[view, cart, remove_from_cart, purchase, wishlist, other]`.
pub fn kind_counts(t: &EventTable) -> [usize; 6] {
    let mut c = [0; 6];
    for &k in &t.kind {
        let i = match k {
            VIEW => 0,
            CART => 1,
            REMOVE_FROM_CART => 2,
            PURCHASE => 3,
            WISHLIST => 4,
            _ => 5,
        };
        c[i] += 1;
    }
    c
}

/// Asserts two tables are identical: every column, every dictionary (ids included), the
/// other kinds and the file list. `check_files` is off when the tables were read from
/// different copies of the same data.
pub fn assert_same_table(a: &EventTable, b: &EventTable, check_files: bool) {
    assert_eq!(a.len(), b.len(), "row count");
    assert_eq!(a.time_ms, b.time_ms, "time_ms");
    assert_eq!(a.kind, b.kind, "kind");
    assert_eq!(a.user, b.user, "user");
    assert_eq!(a.session, b.session, "session");
    assert_eq!(a.item, b.item, "item");
    assert_eq!(a.category, b.category, "category");
    assert_eq!(a.category_path, b.category_path, "category_path");
    assert_eq!(a.brand, b.brand, "brand");
    let bits = |v: &[f64]| v.iter().map(|p| p.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.price), bits(&b.price), "price");
    assert_eq!(a.order, b.order, "order");
    assert_eq!(a.line, b.line, "line");
    let dict = |i: &shopsense_events::Interner| i.iter().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(dict(&a.users), dict(&b.users), "users");
    assert_eq!(dict(&a.sessions), dict(&b.sessions), "sessions");
    assert_eq!(dict(&a.items), dict(&b.items), "items");
    assert_eq!(dict(&a.categories), dict(&b.categories), "categories");
    assert_eq!(
        dict(&a.category_paths),
        dict(&b.category_paths),
        "category_paths"
    );
    assert_eq!(dict(&a.brands), dict(&b.brands), "brands");
    assert_eq!(dict(&a.orders), dict(&b.orders), "orders");
    assert_eq!(a.other_kinds, b.other_kinds, "other kinds");
    if check_files {
        assert_eq!(a.file, b.file, "file");
        assert_eq!(a.files, b.files, "files");
    }
}
