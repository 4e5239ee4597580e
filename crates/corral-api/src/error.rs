//! API errors as RFC 9457 problem documents; internals stay in the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use corral_core::{ErrorKind, ServiceError};

use crate::wire::Problem;

/// An error a handler returns.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Message for a person.
    pub detail: String,
    /// Field at fault.
    pub field: Option<String>,
}

impl ApiError {
    /// 401: no or bad credentials.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            detail: detail.into(),
            field: None,
        }
    }
    /// 400 with a code.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            detail: detail.into(),
            field: None,
        }
    }
    /// 403 with a code.
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            code,
            detail: detail.into(),
            field: None,
        }
    }
    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            detail: detail.into(),
            field: None,
        }
    }
    /// 500 whose detail is logged, not sent.
    pub fn internal(logged: impl std::fmt::Display) -> Self {
        eprintln!("corral-api: internal error: {logged}");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            detail: "internal error; the server log has the details".into(),
            field: None,
        }
    }
}

/// The message of an error and each cause that adds something.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    corral_core::error_chain(e)
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let field = match &e {
            ServiceError::Validate(v) => Some(v.field().to_string()),
            ServiceError::NodeMissing { .. } => Some("node".to_string()),
            _ => None,
        };
        let (status, code) = match e.kind() {
            ErrorKind::Invalid => (StatusCode::BAD_REQUEST, "invalid"),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
            ErrorKind::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ErrorKind::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ErrorKind::Rejected => (StatusCode::UNPROCESSABLE_ENTITY, "rejected"),
            ErrorKind::Unreachable => (StatusCode::SERVICE_UNAVAILABLE, "cluster_unreachable"),
            ErrorKind::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            ErrorKind::Internal => return ApiError::internal(chain(&e)),
        };
        let detail = if status == StatusCode::SERVICE_UNAVAILABLE {
            "the Kubernetes API server cannot be reached".to_string()
        } else {
            e.to_string()
        };
        ApiError {
            status,
            code,
            detail,
            field,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let p = Problem {
            type_: format!("https://corral.dev/problems/{}", self.code),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("error")
                .to_string(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_string(),
            field: self.field,
        };
        let mut r = (self.status, axum::Json(p)).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        r
    }
}
