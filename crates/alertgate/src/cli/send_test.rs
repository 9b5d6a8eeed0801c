//! `alertgate send-test`: deliver the platform's sample payload (or a file) to a webhook's intake
//! URL the way the platform would, authentication included, and report what alertgate made of it.

use std::path::PathBuf;

use base64::Engine;
use clap::Args;
use serde_json::{json, Value};

use alertgate_core::auth::{hmac_sha256_hex, AuthMethod, SignatureEncoding};

use super::{emit, resolve_webhook, s, CliError, Connection};

#[derive(Args)]
pub struct SendTestArgs {
    /// The webhook, by id or name.
    pub webhook: String,
    /// Send this file's bytes instead of the platform's sample payload.
    #[arg(long)]
    pub payload: Option<PathBuf>,
    /// The webhook's secret (the server shows it only once, at creation or rotation).
    #[arg(long, env = "ALERTGATE_WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
}

/// The headers a sender with `secret` puts on `body`.
pub fn auth_headers(
    auth: &AuthMethod,
    secret: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<Vec<(String, String)>, CliError> {
    let need = || {
        secret.ok_or_else(|| {
            CliError::usage(format!(
                "this webhook authenticates with {}: pass --secret or set ALERTGATE_WEBHOOK_SECRET",
                auth.kind()
            ))
        })
    };
    Ok(match auth {
        AuthMethod::None => vec![],
        AuthMethod::AwsSns { .. } => {
            return Err(CliError::usage(
                "AWS SNS webhooks accept only messages signed by AWS; publish to the topic instead",
            ))
        }
        AuthMethod::Bearer => vec![("Authorization".into(), format!("Bearer {}", need()?))],
        AuthMethod::ApiKey { header, prefix } => {
            vec![(header.clone(), format!("{prefix}{}", need()?))]
        }
        AuthMethod::Basic { username } => {
            let creds =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{}", need()?));
            vec![("Authorization".into(), format!("Basic {creds}"))]
        }
        AuthMethod::HmacSha256 {
            header,
            prefix,
            encoding,
            timestamp_header,
            ..
        } => {
            let ts = timestamp_header.as_ref().map(|_| now_unix.to_string());
            let hex_sig = hmac_sha256_hex(need()?, ts.as_deref(), body);
            let sig = match encoding {
                SignatureEncoding::Hex => hex_sig,
                SignatureEncoding::Base64 => {
                    let raw = hex::decode(&hex_sig).unwrap_or_default();
                    base64::engine::general_purpose::STANDARD.encode(raw)
                }
            };
            let mut h = vec![(header.clone(), format!("{prefix}{sig}"))];
            if let (Some(name), Some(ts)) = (timestamp_header, ts) {
                h.push((name.clone(), ts));
            }
            h
        }
    })
}

pub async fn run(conn: &Connection, args: SendTestArgs) -> Result<(), CliError> {
    let c = conn.client()?;
    let w = resolve_webhook(&c, &args.webhook).await?;
    let platform = s(&w["platform"]);
    let body: Vec<u8> = match &args.payload {
        Some(path) => std::fs::read(path)
            .map_err(|e| CliError::usage(format!("reading {}: {e}", path.display())))?,
        None => alertgate_core::platforms::get(&platform)
            .map(|p| p.sample.as_bytes().to_vec())
            .ok_or_else(|| {
                CliError::usage(format!("no sample payload for platform `{platform}`"))
            })?,
    };
    let auth: AuthMethod = serde_json::from_value(w["auth"].clone()).map_err(|e| {
        CliError::usage(format!("the server described an unknown auth method: {e}"))
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let headers = auth_headers(&auth, args.secret.as_deref(), &body, now)?;
    let url = s(&w["intake_url"]);
    let mut req = c
        .http()
        .post(&url)
        .header("Content-Type", "application/json")
        .body(body);
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| CliError::unreachable(c.base(), &e))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| CliError::unreachable(c.base(), &e))?;
    let reply: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    let outcome = json!({ "http_status": status.as_u16(), "response": reply });
    emit(conn.output, &outcome, |_| {
        println!("POST {} -> {}", redact_token(&url), status);
        if status.is_success() {
            println!(
                "status: {}  incident: {}  alert: {}",
                s(&reply["status"]),
                s(&reply["incident_id"]),
                s(&reply["alert_id"])
            );
            for r in reply["results"].as_array().into_iter().flatten() {
                println!("  - {}  {}", s(&r["status"]), s(&r["incident_id"]));
            }
        } else {
            println!("error: {}: {}", s(&reply["error"]), s(&reply["message"]));
        }
    });
    if status.is_success() {
        Ok(())
    } else {
        Err(CliError {
            code: 1,
            message: format!("the test delivery was not accepted ({status})"),
        })
    }
}

/// The intake URL without its token, for printing.
fn redact_token(url: &str) -> String {
    match url.rsplit_once("/webhook/") {
        Some((base, _)) => format!("{base}/webhook/…/trigger"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_headers_verify_with_the_core_verifier() {
        let auth = AuthMethod::HmacSha256 {
            header: "X-Sig".into(),
            prefix: "sha256=".into(),
            encoding: SignatureEncoding::Base64,
            timestamp_header: Some("X-Ts".into()),
            multiple: false,
        };
        let h = auth_headers(&auth, Some("s3cret-value"), b"{}", 1_700_000_000).unwrap();
        assert_eq!(h.len(), 2);
        assert!(h[0].1.starts_with("sha256="));
        assert_eq!(h[1], ("X-Ts".to_string(), "1700000000".to_string()));
    }

    #[test]
    fn a_secret_is_required_where_the_platform_needs_one() {
        let err = auth_headers(&AuthMethod::Bearer, None, b"{}", 0).unwrap_err();
        assert_eq!(err.code, 2);
    }
}
