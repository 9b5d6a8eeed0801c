//! Everything that can refuse an intake request, with the status code and the machine-readable
//! code the client sees. The message says what to fix and never echoes a secret.

use crate::auth::AuthError;
use crate::limits::PayloadError;
use crate::mapping::MappingError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    #[error("no webhook exists for this URL")]
    UnknownWebhook,
    #[error("this webhook is disabled")]
    Disabled,
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error("{0}")]
    Decode(String),
    #[error("rate limit of {limit} requests per hour exceeded; retry after {retry_after_secs} s")]
    RateLimited { limit: u32, retry_after_secs: u64 },
    #[error("alertgate is busy; retry after {retry_after_secs} s")]
    Overloaded { retry_after_secs: u64 },
    #[error("too many failed authentication attempts from this address; retry after {retry_after_secs} s")]
    TooManyAuthFailures { retry_after_secs: u64 },
    #[error("{0}; retry later")]
    Upstream(String),
    #[error("the alert could not be stored; retry after {retry_after_secs} s")]
    Unavailable { retry_after_secs: u64 },
    #[error("intake URLs accept POST only")]
    MethodNotAllowed,
    #[error("the request body was not received within {timeout_ms} ms; send it at once")]
    RequestTimeout { timeout_ms: u64 },
}

impl IntakeError {
    pub fn http_status(&self) -> u16 {
        match self {
            IntakeError::UnknownWebhook => 404,
            IntakeError::Disabled => 403,
            IntakeError::Auth(_) => 401,
            IntakeError::Payload(
                PayloadError::TooLarge { .. } | PayloadError::ExpandsBeyondLimit { .. },
            ) => 413,
            IntakeError::Payload(_) => 400,
            IntakeError::Mapping(_) => 422,
            IntakeError::Decode(_) => 422,
            IntakeError::RateLimited { .. } | IntakeError::TooManyAuthFailures { .. } => 429,
            IntakeError::Upstream(_) => 502,
            IntakeError::Overloaded { .. } | IntakeError::Unavailable { .. } => 503,
            IntakeError::RequestTimeout { .. } => 408,
            IntakeError::MethodNotAllowed => 405,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            IntakeError::UnknownWebhook => "webhook_not_found",
            IntakeError::Disabled => "webhook_disabled",
            IntakeError::Auth(AuthError::Missing { .. } | AuthError::MissingNamed { .. }) => {
                "missing_credentials"
            }
            IntakeError::Auth(_) => "invalid_credentials",
            IntakeError::Payload(p) => match p {
                PayloadError::TooLarge { .. } | PayloadError::ExpandsBeyondLimit { .. } => {
                    "payload_too_large"
                }
                PayloadError::Empty => "empty_body",
                PayloadError::InvalidUtf8 { .. } => "invalid_utf8",
                PayloadError::InvalidJson { .. } => "invalid_json",
                PayloadError::TooDeep { .. } => "nesting_too_deep",
            },
            IntakeError::Mapping(
                MappingError::TitleNotFound { .. } | MappingError::NoTitlePath,
            ) => "title_not_found",
            IntakeError::Mapping(MappingError::InvalidPath { .. }) => "invalid_mapping",
            IntakeError::Decode(_) => "unsupported_payload",
            IntakeError::RateLimited { .. } => "rate_limited",
            IntakeError::TooManyAuthFailures { .. } => "too_many_auth_failures",
            IntakeError::Upstream(_) => "upstream_unavailable",
            IntakeError::Overloaded { .. } => "overloaded",
            IntakeError::Unavailable { .. } => "store_unavailable",
            IntakeError::RequestTimeout { .. } => "request_timeout",
            IntakeError::MethodNotAllowed => "method_not_allowed",
        }
    }

    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            IntakeError::RateLimited {
                retry_after_secs, ..
            }
            | IntakeError::Overloaded { retry_after_secs }
            | IntakeError::Unavailable { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_too_large_as_sent_or_as_stored_is_413_payload_too_large() {
        for e in [
            PayloadError::TooLarge {
                limit: 102_400,
                actual: 102_401,
            },
            PayloadError::ExpandsBeyondLimit {
                limit: 102_400,
                expanded: 190_201,
            },
        ] {
            let e = IntakeError::Payload(e);
            assert_eq!((e.http_status(), e.code()), (413, "payload_too_large"));
        }
    }
}
