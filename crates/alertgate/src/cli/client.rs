//! A small client for the management API: where the server is, which token to send, and how an
//! HTTP reply becomes a value or a [`CliError`] with the right exit code.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::CliError;

/// The running server the admin commands speak to.
pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl ApiClient {
    pub fn new(base: &str, token: Option<String>) -> Result<Self, CliError> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(CliError::usage(format!(
                "ALERTGATE_URL must start with http:// or https://, not `{base}`"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| CliError::usage(format!("building the HTTP client: {e}")))?;
        Ok(Self { base, token, http })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Call `path` (under the base URL) and return the JSON reply (`null` for 204).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let Some(token) = &self.token else {
            return Err(CliError::usage(
                "no API token: set ALERTGATE_TOKEN or pass --token",
            ));
        };
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| CliError::unreachable(&self.base, &e))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| CliError::unreachable(&self.base, &e))?;
        if status == StatusCode::NO_CONTENT || text.trim().is_empty() {
            return if status.is_success() {
                Ok(Value::Null)
            } else {
                Err(CliError::api(status.as_u16(), "error", status.to_string()))
            };
        }
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            return Ok(value);
        }
        let code = value["error"].as_str().unwrap_or("error").to_string();
        let message = value["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| status.to_string());
        Err(CliError::api(status.as_u16(), &code, message))
    }

    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, CliError> {
        self.call(Method::DELETE, path, None).await
    }
}

/// Percent-encode one path segment, so a user-given id cannot change the path.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
