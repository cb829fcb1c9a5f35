//! A minimal Spark Connect client: runs one SQL query and collects its Arrow result.
//!
//! Spark Connect is gRPC (service `spark.connect.SparkConnectService`). This module declares,
//! with `prost` derives, only the messages and fields the session export needs, with the
//! field numbers of Spark's `base.proto` / `relations.proto` (protobuf ignores the fields a side
//! does not know, so a subset is wire-compatible):
//!
//! * `ExecutePlanRequest { session_id = 1, user_context = 2, plan = 3, client_type = 4 }`
//! * `Plan { root = 1 }`, `Relation { sql = 10 }`, `SQL { query = 1 }`
//! * `ExecutePlanResponse { session_id = 1, arrow_batch = 2, operation_id = 12 }` with
//!   `ArrowBatch { row_count = 1, data = 2 }` (an Arrow IPC stream per batch).
//!
//! Why not the `spark-connect-rs` crate: its last release (0.0.2) pins arrow 53, whose
//! `arrow-arith` needs `chrono < 0.4.40`, while the rest of the workspace (arrow/parquet 59)
//! needs `chrono >= 0.4.40`; both cannot be in one build. The protocol surface used here is
//! five messages, so it is declared here instead (no `protoc` needed either).

use crate::ClusterError;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

/// `spark.connect.UserContext` (subset).
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserContext {
    /// The user the session belongs to.
    #[prost(string, tag = "1")]
    pub user_id: String,
    /// A display name.
    #[prost(string, tag = "2")]
    pub user_name: String,
}

/// `spark.connect.SQL` (subset): a relation defined by a SQL query.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sql {
    /// The query.
    #[prost(string, tag = "1")]
    pub query: String,
}

/// `spark.connect.Relation` (subset: only `sql = 10` of its `rel_type` oneof).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Relation {
    /// The SQL relation.
    #[prost(message, optional, tag = "10")]
    pub sql: Option<Sql>,
}

/// `spark.connect.Plan` (subset: `root = 1`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Plan {
    /// The relation to execute and return.
    #[prost(message, optional, tag = "1")]
    pub root: Option<Relation>,
}

/// `spark.connect.ExecutePlanRequest` (subset).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutePlanRequest {
    /// A UUID naming the Spark session on the server.
    #[prost(string, tag = "1")]
    pub session_id: String,
    /// Who runs it.
    #[prost(message, optional, tag = "2")]
    pub user_context: Option<UserContext>,
    /// What to run.
    #[prost(message, optional, tag = "3")]
    pub plan: Option<Plan>,
    /// Free-form client name, logged by the server.
    #[prost(string, optional, tag = "4")]
    pub client_type: Option<String>,
}

/// `spark.connect.ExecutePlanResponse.ArrowBatch`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ArrowBatch {
    /// Rows in `data`.
    #[prost(int64, tag = "1")]
    pub row_count: i64,
    /// An Arrow IPC stream (schema message + record batches).
    #[prost(bytes = "vec", tag = "2")]
    pub data: Vec<u8>,
}

/// `spark.connect.ExecutePlanResponse` (subset).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutePlanResponse {
    /// The session the response belongs to.
    #[prost(string, tag = "1")]
    pub session_id: String,
    /// A batch of result rows, when this response carries one.
    #[prost(message, optional, tag = "2")]
    pub arrow_batch: Option<ArrowBatch>,
    /// The server's id of the execution.
    #[prost(string, tag = "12")]
    pub operation_id: String,
}

/// gRPC path of `SparkConnectService.ExecutePlan` (server streaming).
const EXECUTE_PLAN: &str = "/spark.connect.SparkConnectService/ExecutePlan";

/// Largest response message accepted (Spark sends Arrow batches of at most
/// `spark.connect.grpc.arrow.maxBatchSize`, 4 MiB by default).
const MAX_MESSAGE: usize = 256 << 20;

/// A random version-4 UUID string (Spark requires session ids in UUID form).
fn uuid_v4() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        h.write_u32(std::process::id());
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The `http://host:port` endpoint of an `sc://host:port[/;params]` address.
pub fn endpoint(remote: &str) -> Result<String, ClusterError> {
    let rest = remote
        .strip_prefix("sc://")
        .ok_or_else(|| ClusterError::Engine(remote.into(), "expected sc://host:port".into()))?;
    let hostport = rest
        .split(['/', ';'])
        .next()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ClusterError::Engine(remote.into(), "no host:port".into()))?;
    let port_ok = hostport
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
    if !port_ok {
        return Err(ClusterError::Engine(
            remote.into(),
            "expected sc://host:port with a numeric port (e.g. sc://127.0.0.1:15002)".into(),
        ));
    }
    Ok(format!("http://{hostport}"))
}

/// The collected result of a query: its schema, the batches and how many batches and bytes
/// came over the wire.
#[derive(Debug)]
pub struct Collected {
    /// Schema of the result (from the first Arrow stream; `None` when no batch came back).
    pub schema: Option<SchemaRef>,
    /// Record batches in the order the server sent them (the query's order).
    pub batches: Vec<RecordBatch>,
    /// Bytes of Arrow IPC received.
    pub bytes: usize,
}

/// Runs `query` on the Spark Connect server at `remote` (`sc://host:port`) and collects every
/// Arrow batch of its result, in order.
pub async fn sql_collect(remote: &str, query: &str) -> Result<Collected, ClusterError> {
    sql_collect_in_session(remote, &[], query).await
}

/// Runs the statements `setup` (for example `SET spark.sql.ansi.enabled=false`), then `query`,
/// in one Spark session (one session id), and collects the Arrow batches of `query`'s result.
pub async fn sql_collect_in_session(
    remote: &str,
    setup: &[&str],
    query: &str,
) -> Result<Collected, ClusterError> {
    let spark_err = |message: String| ClusterError::Spark {
        remote: remote.to_string(),
        message,
    };
    let ep = endpoint(remote)?;
    let channel = tonic::transport::Endpoint::from_shared(ep.clone())
        .map_err(|e| spark_err(format!("{ep}: {e}")))?
        .connect_timeout(std::time::Duration::from_secs(20))
        .connect()
        .await
        .map_err(|e| spark_err(format!("cannot connect to {ep}: {e}")))?;
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(MAX_MESSAGE);
    let session_id = uuid_v4();
    for stmt in setup {
        execute(&mut grpc, &session_id, stmt, remote).await?;
    }
    execute(&mut grpc, &session_id, query, remote).await
}

/// One `ExecutePlan` call in session `session_id`, collecting its Arrow batches.
async fn execute(
    grpc: &mut tonic::client::Grpc<tonic::transport::Channel>,
    session_id: &str,
    query: &str,
    remote: &str,
) -> Result<Collected, ClusterError> {
    let spark_err = |message: String| ClusterError::Spark {
        remote: remote.to_string(),
        message,
    };
    grpc.ready()
        .await
        .map_err(|e| spark_err(format!("not ready: {e}")))?;
    let request = ExecutePlanRequest {
        session_id: session_id.to_string(),
        user_context: Some(UserContext {
            user_id: "shopsense".into(),
            user_name: "shopsense".into(),
        }),
        plan: Some(Plan {
            root: Some(Relation {
                sql: Some(Sql {
                    query: query.to_string(),
                }),
            }),
        }),
        client_type: Some(format!("shopsense/{}", env!("CARGO_PKG_VERSION"))),
    };
    let codec = tonic_prost::ProstCodec::<ExecutePlanRequest, ExecutePlanResponse>::default();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(EXECUTE_PLAN);
    let mut stream = grpc
        .server_streaming(tonic::Request::new(request), path, codec)
        .await
        .map_err(|s| spark_err(status_message(&s)))?
        .into_inner();
    let mut out = Collected {
        schema: None,
        batches: Vec::new(),
        bytes: 0,
    };
    while let Some(resp) = stream
        .message()
        .await
        .map_err(|s| spark_err(status_message(&s)))?
    {
        let Some(batch) = resp.arrow_batch else {
            continue;
        };
        out.bytes += batch.data.len();
        let reader =
            arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(batch.data), None)
                .map_err(|e| spark_err(format!("arrow stream from the server: {e}")))?;
        if out.schema.is_none() {
            out.schema = Some(reader.schema());
        }
        let mut rows = 0i64;
        for b in reader {
            let b = b.map_err(|e| spark_err(format!("arrow batch from the server: {e}")))?;
            rows += b.num_rows() as i64;
            out.batches.push(b);
        }
        if rows != batch.row_count {
            return Err(spark_err(format!(
                "an Arrow batch announced {} rows but held {rows}",
                batch.row_count
            )));
        }
    }
    Ok(out)
}

/// Spark's error text without the gRPC wrapping (the server puts the SQL error in the message).
fn status_message(s: &tonic::Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn endpoints() {
        assert_eq!(
            endpoint("sc://127.0.0.1:15002").unwrap(),
            "http://127.0.0.1:15002"
        );
        assert_eq!(
            endpoint("sc://spark.example:443/;user_id=x").unwrap(),
            "http://spark.example:443"
        );
        for bad in [
            "sc://",
            "sc://host",
            "sc://host:port",
            "http://h:1",
            "sc://:1",
        ] {
            assert!(endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uuids_have_the_v4_shape_and_differ() {
        let (a, b) = (uuid_v4(), uuid_v4());
        assert_ne!(a, b);
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }

    /// The request bytes use Spark's field numbers: plan = 3 → root = 1 → sql = 10 → query = 1.
    #[test]
    fn request_wire_layout() {
        let r = ExecutePlanRequest {
            session_id: String::new(),
            user_context: None,
            plan: Some(Plan {
                root: Some(Relation {
                    sql: Some(Sql { query: "x".into() }),
                }),
            }),
            client_type: None,
        };
        // 0x1a = field 3, wire type 2; 0x0a = field 1; 0x52 = field 10; 0x0a = field 1.
        assert_eq!(
            r.encode_to_vec(),
            vec![0x1a, 0x07, 0x0a, 0x05, 0x52, 0x03, 0x0a, 0x01, b'x']
        );
    }
}
