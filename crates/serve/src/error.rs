//! Errors: [`ServeError`] for starting and stopping the server, [`ApiError`] for one request
//! (always answered as a JSON body `{"error": {"code", "message", "field"}}`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Errors of the server as a whole (not of one request).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding, reading or writing failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A model bundle could not be loaded.
    #[error("model bundle: {0}")]
    Model(String),
    /// The state snapshot could not be read or written.
    #[error("state snapshot: {0}")]
    Snapshot(String),
    /// The online state (Redis) failed.
    #[error("online state: {0}")]
    State(String),
    /// The configuration is not valid.
    #[error("configuration: {0}")]
    Config(String),
    /// The model registry could not be read or changed.
    #[error("model registry: {0}")]
    Registry(#[from] shopsense_models::ModelError),
}

impl ServeError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ServeError::Io {
            context: context.into(),
            source,
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// One error.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_json`, `invalid_field`, `model_not_loaded`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// The offending field as a path (`events[2].price`), when one is to blame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answer of one request.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The body.
    pub detail: ErrorDetail,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: ErrorDetail {
                code: code.into(),
                message: message.into(),
                field: None,
            },
        }
    }

    /// Blames `field`.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.detail.field = Some(field.into());
        self
    }

    /// 422 on `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with_field(field)
    }

    /// 503: the model this endpoint needs is not loaded.
    pub fn model_not_loaded(model: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "model_not_loaded",
            format!("the {model} model is not loaded"),
        )
    }

    /// 401: the API key is missing or wrong.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required (header `x-api-key` or `authorization: Bearer …`)",
        )
    }

    /// 500 (never for bad input).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(ErrorBody { error: self.detail })).into_response()
    }
}
