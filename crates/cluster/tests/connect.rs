//! The Spark Connect client against a real Spark Connect server (started by
//! scripts/services/spark.sh, which exports SHOPSENSE_SPARK_REMOTE).

use shopsense_cluster::connect::sql_collect;
use shopsense_cluster::ClusterError;

fn remote() -> Option<String> {
    match std::env::var("SHOPSENSE_SPARK_REMOTE") {
        Ok(r) if !r.is_empty() => Some(r),
        _ => {
            assert!(
                std::env::var("SHOPSENSE_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "SHOPSENSE_SPARK_REMOTE is not set (source scripts/services/spark.sh)"
            );
            eprintln!("skipped: SHOPSENSE_SPARK_REMOTE not set (scripts/services/spark.sh)");
            None
        }
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// 300,000 rows come back complete and in the query's order, over several Arrow batches.
#[test]
fn collects_a_large_ordered_result() {
    let Some(remote) = remote() else { return };
    let got = rt()
        .block_on(sql_collect(
            &remote,
            "SELECT id, id * 2 AS twice, concat('s', CAST(id AS STRING)) AS name \
             FROM range(300000) ORDER BY id DESC",
        ))
        .unwrap();
    let schema = got.schema.expect("a schema");
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["id", "twice", "name"]);
    let mut next = 299_999i64;
    let mut rows = 0;
    for b in &got.batches {
        use arrow::array::AsArray;
        let id = b.column(0).as_primitive::<arrow::datatypes::Int64Type>();
        let twice = b.column(1).as_primitive::<arrow::datatypes::Int64Type>();
        for i in 0..b.num_rows() {
            assert_eq!(id.value(i), next);
            assert_eq!(twice.value(i), 2 * next);
            next -= 1;
        }
        rows += b.num_rows();
    }
    assert_eq!(rows, 300_000);
    assert!(got.bytes > 300_000 * 16, "{} bytes", got.bytes);
}

/// A SQL error comes back as `ClusterError::Spark` with Spark's own message.
#[test]
fn sql_errors_name_the_problem() {
    let Some(remote) = remote() else { return };
    let err = rt()
        .block_on(sql_collect(&remote, "SELECT nope FROM no_such_table"))
        .unwrap_err();
    match &err {
        ClusterError::Spark { remote: r, message } => {
            assert_eq!(r, &remote);
            assert!(message.contains("no_such_table"), "{message}");
        }
        other => panic!("expected a Spark error, got {other:?}"),
    }
}

/// Nothing listens: a clear connection error, not a hang or a panic.
#[test]
fn unreachable_server_is_a_clear_error() {
    let err = rt()
        .block_on(sql_collect("sc://127.0.0.1:1", "SELECT 1"))
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cannot connect to http://127.0.0.1:1"),
        "{msg}"
    );
}
