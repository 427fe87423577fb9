//! The service: a cached read and a rate-limited write, and how a rejection becomes a 429.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cache_runtime::{cached, rate_limit, RateLimited};
use metrics_exporter_prometheus::PrometheusHandle;

/// How many times the "database" was read: a cached read reads it once per minute per user.
pub static DATABASE_READS: AtomicU64 = AtomicU64::new(0);

/// The service's routes; `/metrics` renders what `metrics` holds for Prometheus.
pub fn router(metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/users/{id}", get(show_user))
        .route("/users/{id}/items", post(create_item))
        .route(
            "/metrics",
            get(move || std::future::ready(metrics.render())),
        )
}

/// What a handler can fail with.
#[derive(Debug, Clone)]
pub enum ApiError {
    NotFound,
    TooManyRequests(RateLimited),
}

/// `#[rate_limit]` turns a rejection into the function's error through this.
impl From<RateLimited> for ApiError {
    fn from(limited: RateLimited) -> Self {
        ApiError::TooManyRequests(limited)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::NotFound => (StatusCode::NOT_FOUND, "no such user\n").into_response(),
            ApiError::TooManyRequests(limited) => {
                let mut response =
                    (StatusCode::TOO_MANY_REQUESTS, format!("{limited}\n")).into_response();
                for (name, value) in limited.headers() {
                    // `from_bytes` lowercases the name, as HTTP/2 requires.
                    let name = HeaderName::from_bytes(name.as_bytes());
                    if let (Ok(name), Ok(value)) = (name, HeaderValue::from_str(&value)) {
                        response.headers_mut().insert(name, value);
                    }
                }
                response
            }
        }
    }
}

/// A user, as the database would give it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct User {
    pub id: u64,
    pub name: String,
}

/// The database read, cached for a minute per user.
#[cached(ttl = 60, key = "user:{id}")]
async fn load_user(id: u64) -> Option<User> {
    DATABASE_READS.fetch_add(1, Ordering::Relaxed);
    (id < 1_000).then(|| User {
        id,
        name: format!("user {id}"),
    })
}

async fn show_user(Path(id): Path<u64>) -> Result<String, ApiError> {
    let user = load_user(id).await.ok_or(ApiError::NotFound)?;
    Ok(format!("{} ({})\n", user.name, user.id))
}

/// The write: 5 per minute per user, then 429 with `Retry-After`.
#[rate_limit(limit = 5, window = "1m", key = "{user_id}")]
async fn add_item(user_id: u64, name: String) -> Result<String, ApiError> {
    Ok(format!("created {name:?} for user {user_id}\n"))
}

async fn create_item(Path(id): Path<u64>, body: String) -> Result<String, ApiError> {
    add_item(id, body).await
}
