//! The Arrow / Parquet schema of stored events (schema version 1).
//!
//! | column | Arrow type | nullable | from [`EventTable`](shopsense_events::EventTable) |
//! |---|---|---|---|
//! | `event_time` | `Timestamp(Millisecond, "UTC")` | no | `time_ms` |
//! | `event_type` | `Utf8` | no | kind name: `view`, `cart`, `remove_from_cart`, `purchase`, `wishlist` or the source's own name |
//! | `user_id` | `Utf8` | no | `user` |
//! | `session_id` | `Utf8` | yes | `session` (`NONE` → null) |
//! | `item_id` | `Utf8` | no | `item` |
//! | `category_id` | `Utf8` | yes | `category` |
//! | `category_path` | `Utf8` | yes | `category_path` |
//! | `brand` | `Utf8` | yes | `brand` |
//! | `price` | `Float64` | yes | `price` (`NaN` → null) |
//! | `order_id` | `Utf8` | yes | `order` |
//! | `source_file` | `Utf8` | no | `files[file]` |
//! | `source_line` | `UInt64` | no | `line` (1-based) |
//!
//! Parts are written with exactly this schema, in this column order, plus the key-value
//! metadata `shopsense.schema_version = "1"`. Reading is more lenient (see
//! [`crate::convert`]): columns are found by name, extra columns are ignored, and string
//! columns may also be `LargeUtf8`, `Utf8View` or dictionary-encoded.

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Version of the event schema this build writes (and the newest it reads).
pub const SCHEMA_VERSION: u32 = 1;

/// Key of the schema version in the Arrow schema and Parquet key-value metadata.
pub const SCHEMA_VERSION_KEY: &str = "shopsense.schema_version";

/// Time zone of `event_time`.
pub const TIME_ZONE: &str = "UTC";

/// Column `event_time`.
pub const EVENT_TIME: &str = "event_time";
/// Column `event_type`.
pub const EVENT_TYPE: &str = "event_type";
/// Column `user_id`.
pub const USER_ID: &str = "user_id";
/// Column `session_id`.
pub const SESSION_ID: &str = "session_id";
/// Column `item_id`.
pub const ITEM_ID: &str = "item_id";
/// Column `category_id`.
pub const CATEGORY_ID: &str = "category_id";
/// Column `category_path`.
pub const CATEGORY_PATH: &str = "category_path";
/// Column `brand`.
pub const BRAND: &str = "brand";
/// Column `price`.
pub const PRICE: &str = "price";
/// Column `order_id`.
pub const ORDER_ID: &str = "order_id";
/// Column `source_file`.
pub const SOURCE_FILE: &str = "source_file";
/// Column `source_line`.
pub const SOURCE_LINE: &str = "source_line";

/// All column names, in schema order.
pub const COLUMNS: [&str; 12] = [
    EVENT_TIME,
    EVENT_TYPE,
    USER_ID,
    SESSION_ID,
    ITEM_ID,
    CATEGORY_ID,
    CATEGORY_PATH,
    BRAND,
    PRICE,
    ORDER_ID,
    SOURCE_FILE,
    SOURCE_LINE,
];

/// The Arrow type of `event_time`.
pub fn event_time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some(TIME_ZONE.into()))
}

/// The event schema, version [`SCHEMA_VERSION`] (shared, built once).
pub fn event_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let fields = vec![
                Field::new(EVENT_TIME, event_time_type(), false),
                Field::new(EVENT_TYPE, DataType::Utf8, false),
                Field::new(USER_ID, DataType::Utf8, false),
                Field::new(SESSION_ID, DataType::Utf8, true),
                Field::new(ITEM_ID, DataType::Utf8, false),
                Field::new(CATEGORY_ID, DataType::Utf8, true),
                Field::new(CATEGORY_PATH, DataType::Utf8, true),
                Field::new(BRAND, DataType::Utf8, true),
                Field::new(PRICE, DataType::Float64, true),
                Field::new(ORDER_ID, DataType::Utf8, true),
                Field::new(SOURCE_FILE, DataType::Utf8, false),
                Field::new(SOURCE_LINE, DataType::UInt64, false),
            ];
            let meta =
                HashMap::from([(SCHEMA_VERSION_KEY.to_string(), SCHEMA_VERSION.to_string())]);
            Arc::new(Schema::new_with_metadata(fields, meta))
        })
        .clone()
}
