//! Routes, handlers, cross-cutting middleware and the OpenAPI document.

use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::wire::{
    check_batch, check_k, decode, decode_events, EventIn, EventsOut, Health, HistoryIn, Id,
    IntentIn, IntentOut, KQuery, NextActionIn, RecQuery, ReloadOut, SessionScore, Time,
};
use crate::{now_ms, AppState};
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use shopsense_events::Event;
use std::sync::Arc;
use std::time::Instant;
use utoipa::OpenApi;

type St = State<Arc<AppState>>;

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "shopsense serve",
        description = "Purchase-intent decisions from clickstream events. Write endpoints \
            (POST /v1/events, POST /v1/admin/reload) need the API key in `x-api-key` or \
            `authorization: Bearer`. Errors are JSON `{\"error\": {\"code\", \"message\", \"field\"}}`: \
            400 malformed JSON, 422 a field of the wrong shape or value (named in `field`), \
            413 body or batch too large, 401 missing API key, 503 model not loaded or timeout."
    ),
    paths(
        post_events,
        post_intent,
        post_next_action,
        get_recommendations,
        get_similar,
        get_audience,
        post_reload,
        healthz,
        readyz,
        metrics
    ),
    modifiers(&ApiKeyScheme),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        EventIn,
        Id,
        Time,
        HistoryIn,
        IntentIn,
        IntentOut,
        EventsOut,
        SessionScore,
        NextActionIn,
        Health,
        ReloadOut
    ))
)]
pub struct ApiDoc;

/// Declares the `api_key` security scheme (header `x-api-key`).
struct ApiKeyScheme;

impl utoipa::Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        );
    }
}

/// The OpenAPI document as JSON text.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/events", post(post_events))
        .route("/v1/intent", post(post_intent))
        .route("/v1/next-action", post(post_next_action))
        .route("/v1/recommendations", get(get_recommendations))
        .route("/v1/items/{id}/similar", get(get_similar))
        .route("/v1/items/{id}/audience", get(get_audience))
        .route("/v1/admin/reload", post(post_reload))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Request metrics and the timeout, around every request.
async fn observe(State(st): St, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().as_str().to_string();
    // A reload loads a whole bundle: not bound by the request timeout.
    let resp = if route == "/v1/admin/reload" {
        next.run(req).await
    } else {
        match tokio::time::timeout(st.config.request_timeout, next.run(req)).await {
            Ok(r) => r,
            Err(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "the request took too long",
            )
            .into_response(),
        }
    };
    st.metrics.observe_request(
        &route,
        &method,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

fn check_key(st: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(key) = &st.config.api_key else {
        return Ok(());
    };
    let given = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        });
    match given {
        // Constant-time comparison.
        Some(g)
            if g.len() == key.len()
                && g.bytes()
                    .zip(key.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0 =>
        {
            Ok(())
        }
        _ => Err(ApiError::unauthorized()),
    }
}

/// Reads the body up to the limit (413 beyond it).
async fn read_body(st: &AppState, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let limit = st.config.body_limit_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than {limit} bytes"),
        )
    };
    if let Some(n) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if n > limit as u64 {
            return Err(too_large());
        }
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if e.to_string().contains("length limit") {
            too_large()
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_body",
                format!("the body could not be read: {e}"),
            )
        }
    })
}

fn events_of(items: Vec<EventIn>, name: Option<&str>) -> Result<Vec<Event>, ApiError> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let at = match name {
                None => String::new(),
                Some(n) => format!("{n}[{i}]"),
            };
            e.into_event(&at)
        })
        .collect()
}

/// Append events to the online state and score the sessions they touch.
#[utoipa::path(
    post,
    path = "/v1/events",
    security(("api_key" = [])),
    request_body(content = Vec<EventIn>, description = "One event object, an array of events, or `{\"events\": [...]}` (1 ..= the batch limit). A session is `session_id`, or the user when absent."),
    responses(
        (status = 200, description = "Updated score of every session touched", body = EventsOut),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 413, description = "Body or batch too large", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid (named in `field`)", body = ErrorBody),
        (status = 503, description = "Intent model not loaded", body = ErrorBody)
    )
)]
async fn post_events(
    State(st): St,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<EventsOut>, ApiError> {
    check_key(&st, &headers)?;
    let bytes = read_body(&st, &headers, body).await?;
    let (items, name) = decode_events(&bytes, st.config.max_batch)?;
    let events = events_of(items, name)?;
    let model = st
        .model()
        .ok_or_else(|| ApiError::model_not_loaded("intent"))?;
    // Group by session, in order of first appearance.
    let mut keys: Vec<String> = Vec::new();
    let mut groups: Vec<Vec<Event>> = Vec::new();
    for e in events {
        let key = e.session_id.clone().unwrap_or_else(|| e.user_id.clone());
        match keys.iter().position(|k| *k == key) {
            Some(i) => groups[i].push(e),
            None => {
                keys.push(key);
                groups.push(vec![e]);
            }
        }
    }
    let accepted = groups.iter().map(Vec::len).sum();
    let now = now_ms();
    let mut sessions = Vec::with_capacity(keys.len());
    for (key, evs) in keys.into_iter().zip(groups) {
        let live = st.store.append(&key, evs, now).await.map_err(|e| {
            tracing::error!(error = %e, "online state");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "state_unavailable",
                "the online state is not reachable",
            )
        })?;
        let x = model
            .scorer
            .features(&live.events, &live.history)
            .map_err(ApiError::internal)?;
        let s = model
            .scorer
            .score_features(&x)
            .map_err(ApiError::internal)?;
        st.metrics.observe_score(s.score);
        if let Some(d) = &model.drift {
            d.observe(&x, s.score);
        }
        sessions.push(SessionScore {
            session_id: key,
            user_id: live.user_id,
            score: s.score,
            decision: s.decision,
            threshold: model.scorer.threshold(),
            model_version: model.scorer.version().to_string(),
            events: live.events.len(),
        });
    }
    st.metrics.events_ingested(accepted);
    Ok(Json(EventsOut { accepted, sessions }))
}

/// Score a session given its events (no server state).
#[utoipa::path(
    post,
    path = "/v1/intent",
    request_body = IntentIn,
    responses(
        (status = 200, description = "Score of the session", body = IntentOut),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body or batch too large", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid (named in `field`)", body = ErrorBody),
        (status = 503, description = "Intent model not loaded", body = ErrorBody)
    )
)]
async fn post_intent(
    State(st): St,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IntentOut>, ApiError> {
    let bytes = read_body(&st, &headers, body).await?;
    let req: IntentIn = decode(&bytes)?;
    check_batch(req.events.len(), st.config.max_batch, "events")?;
    let events = events_of(req.events, Some("events"))?;
    let history = req.history.map(Into::into).unwrap_or_default();
    let model = st
        .model()
        .ok_or_else(|| ApiError::model_not_loaded("intent"))?;
    let x = model
        .scorer
        .features(&events, &history)
        .map_err(ApiError::internal)?;
    let s = model
        .scorer
        .score_features(&x)
        .map_err(ApiError::internal)?;
    st.metrics.observe_score(s.score);
    if let Some(d) = &model.drift {
        d.observe(&x, s.score);
    }
    Ok(Json(IntentOut {
        score: s.score,
        decision: s.decision,
        threshold: model.scorer.threshold(),
        model_version: model.scorer.version().to_string(),
        events: events.len(),
    }))
}

/// Kind probabilities (view, cart, purchase, …) for a user × item (× session).
#[utoipa::path(
    post,
    path = "/v1/next-action",
    request_body = NextActionIn,
    responses(
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid", body = ErrorBody),
        (status = 503, description = "The next-action model is not loaded (not built yet)", body = ErrorBody)
    )
)]
async fn post_next_action(
    State(st): St,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&st, &headers, body).await?;
    let _req: NextActionIn = decode(&bytes)?;
    Err(ApiError::model_not_loaded("next-action"))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v).map_err(|e| {
        let msg = e.body_text();
        // "Failed to deserialize query string: missing field `user_id`" or "…: k: invalid digit"
        let detail = msg.split_once("query string: ").map_or("", |(_, d)| d);
        let named = detail
            .split_once(": ")
            .map(|(f, _)| f)
            .filter(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        let field = named
            .or_else(|| detail.split('`').nth(1))
            .unwrap_or("query")
            .to_string();
        ApiError::invalid(field, msg)
    })
}

fn path_id(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let id = p
        .map(|Path(v)| v)
        .map_err(|e| ApiError::invalid("id", e.body_text()))?;
    if id.is_empty() || id.len() > crate::wire::MAX_ID_LEN {
        return Err(ApiError::invalid("id", "must be 1 to 256 bytes"));
    }
    Ok(id)
}

/// Top-k items for a user (uses the user's live session if any).
#[utoipa::path(
    get,
    path = "/v1/recommendations",
    params(RecQuery),
    responses(
        (status = 422, description = "A parameter is missing or invalid", body = ErrorBody),
        (status = 503, description = "The recommendation model is not loaded (not built yet)", body = ErrorBody)
    )
)]
async fn get_recommendations(
    q: Result<Query<RecQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    check_k(q.k)?;
    if q.user_id.is_empty() || q.user_id.len() > crate::wire::MAX_ID_LEN {
        return Err(ApiError::invalid("user_id", "must be 1 to 256 bytes"));
    }
    Err(ApiError::model_not_loaded("recommendation"))
}

/// Items similar to an item.
#[utoipa::path(
    get,
    path = "/v1/items/{id}/similar",
    params(("id" = String, Path, description = "Item id"), KQuery),
    responses(
        (status = 422, description = "A parameter is invalid", body = ErrorBody),
        (status = 503, description = "The item-similarity model is not loaded (not built yet)", body = ErrorBody)
    )
)]
async fn get_similar(
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<KQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    path_id(p)?;
    check_k(query(q)?.k)?;
    Err(ApiError::model_not_loaded("item-similarity"))
}

/// Users most likely to buy an item.
#[utoipa::path(
    get,
    path = "/v1/items/{id}/audience",
    params(("id" = String, Path, description = "Item id"), KQuery),
    responses(
        (status = 422, description = "A parameter is invalid", body = ErrorBody),
        (status = 503, description = "The audience model is not loaded (not built yet)", body = ErrorBody)
    )
)]
async fn get_audience(
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<KQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    path_id(p)?;
    check_k(query(q)?.k)?;
    Err(ApiError::model_not_loaded("audience"))
}

/// Reload the configured intent bundle (or the registry's promoted version) and hot-swap it (in-flight requests finish on the old one).
#[utoipa::path(
    post,
    path = "/v1/admin/reload",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Now serving", body = ReloadOut),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 409, description = "No bundle configured", body = ErrorBody),
        (status = 422, description = "The bundle could not be loaded; the old model keeps serving", body = ErrorBody)
    )
)]
async fn post_reload(State(st): St, headers: HeaderMap) -> Result<Json<ReloadOut>, ApiError> {
    check_key(&st, &headers)?;
    if st.config.bundle.is_none() && st.config.registry.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_bundle_configured",
            "the server was started without a bundle",
        ));
    }
    let st2 = st.clone();
    let r = tokio::task::spawn_blocking(move || st2.load_model())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    match r {
        Ok(v) => Ok(Json(ReloadOut { model_version: v })),
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bundle_not_loaded",
            e.to_string(),
        )),
    }
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
async fn healthz(State(st): St) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        model_version: st.model().map(|m| m.scorer.version().to_string()),
    })
}

/// Readiness: 200 once the intent model is loaded.
#[utoipa::path(
    get,
    path = "/readyz",
    responses((status = 200, body = Health), (status = 503, body = Health))
)]
async fn readyz(State(st): St) -> (StatusCode, Json<Health>) {
    match st.model() {
        Some(m) => (
            StatusCode::OK,
            Json(Health {
                status: "ready".into(),
                model_version: Some(m.scorer.version().to_string()),
            }),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "not_ready".into(),
                model_version: None,
            }),
        ),
    }
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
async fn metrics(State(st): St) -> Response {
    if let Ok(sz) = st.store.sizes().await {
        st.metrics.set_state(sz.sessions, sz.events);
    }
    let model = st.model();
    let text = st
        .metrics
        .encode(model.as_ref().and_then(|m| m.drift.as_ref()));
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        openapi_json(),
    )
        .into_response()
}
