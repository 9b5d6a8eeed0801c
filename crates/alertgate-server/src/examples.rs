//! Copy-ready client examples (cURL, Python `requests`, JavaScript `fetch`) for one webhook, filled
//! in with its intake URL, credentials and the platform's sample payload. The Setup tab shows
//! these, `GET /api/v1/webhooks/{id}/examples` returns them, and the integration tests run them
//! verbatim as real processes.

use serde::Serialize;

use alertgate_core::auth::{AuthMethod, SignatureEncoding};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Examples {
    pub curl: String,
    pub python: String,
    pub javascript: String,
}

/// How a client authenticates, in terms every language can express.
enum ClientAuth {
    None,
    Header {
        name: String,
        value: String,
    },
    Hmac {
        header: String,
        prefix: String,
        base64: bool,
        timestamp_header: Option<String>,
    },
}

fn client_auth(auth: &AuthMethod, secret: &str) -> ClientAuth {
    match auth {
        AuthMethod::None | AuthMethod::AwsSns { .. } => ClientAuth::None,
        AuthMethod::Bearer => ClientAuth::Header {
            name: "Authorization".into(),
            value: format!("Bearer {secret}"),
        },
        AuthMethod::ApiKey { header, prefix } => ClientAuth::Header {
            name: header.clone(),
            value: format!("{prefix}{secret}"),
        },
        AuthMethod::Basic { username } => {
            use base64::Engine;
            let creds =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{secret}"));
            ClientAuth::Header {
                name: "Authorization".into(),
                value: format!("Basic {creds}"),
            }
        }
        AuthMethod::HmacSha256 {
            header,
            prefix,
            encoding,
            timestamp_header,
            ..
        } => ClientAuth::Hmac {
            header: header.clone(),
            prefix: prefix.clone(),
            base64: *encoding == SignatureEncoding::Base64,
            timestamp_header: timestamp_header.clone(),
        },
    }
}

/// Quote for a POSIX shell single-quoted string.
fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A JSON string literal, valid in Python and JavaScript alike.
fn lit(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Render the three examples. `payload` is compact or pretty JSON text; it is sent byte for byte.
pub fn render(url: &str, auth: &AuthMethod, secret: Option<&str>, payload: &str) -> Examples {
    let secret = secret.unwrap_or("");
    let auth = client_auth(auth, secret);
    Examples {
        curl: curl(url, &auth, secret, payload),
        python: python(url, &auth, secret, payload),
        javascript: javascript(url, &auth, secret, payload),
    }
}

fn curl(url: &str, auth: &ClientAuth, secret: &str, payload: &str) -> String {
    let mut s = String::new();
    s.push_str(&format!("BODY={}\n", sh(payload)));
    let mut headers = vec!["-H 'Content-Type: application/json'".to_string()];
    match auth {
        ClientAuth::None => {}
        ClientAuth::Header { name, value } => {
            headers.push(format!("-H {}", sh(&format!("{name}: {value}"))))
        }
        ClientAuth::Hmac {
            header,
            prefix,
            base64,
            timestamp_header,
        } => {
            let signed = if timestamp_header.is_some() {
                s.push_str("TS=$(date +%s)\n");
                "\"$TS:$BODY\""
            } else {
                "\"$BODY\""
            };
            let enc = if *base64 {
                "openssl base64 -A"
            } else {
                "xxd -p -c 256"
            };
            s.push_str(&format!(
                "SIG=$(printf '%s' {signed} | openssl dgst -sha256 -hmac {} -binary | {enc})\n",
                sh(secret)
            ));
            headers.push(format!("-H \"{header}: {prefix}$SIG\""));
            if let Some(t) = timestamp_header {
                headers.push(format!("-H \"{t}: $TS\""));
            }
        }
    }
    s.push_str(&format!(
        "curl -sS -X POST {} \\\n  {} \\\n  --data-binary \"$BODY\"\n",
        sh(url),
        headers.join(" \\\n  ")
    ));
    s
}

fn python(url: &str, auth: &ClientAuth, secret: &str, payload: &str) -> String {
    let mut s = String::from("import requests\n");
    if matches!(auth, ClientAuth::Hmac { .. }) {
        s.push_str("import hashlib, hmac, time\n");
        if matches!(auth, ClientAuth::Hmac { base64: true, .. }) {
            s.push_str("import base64\n");
        }
    }
    s.push_str(&format!("\nurl = {}\nbody = {}\n", lit(url), lit(payload)));
    s.push_str("headers = {\"Content-Type\": \"application/json\"}\n");
    match auth {
        ClientAuth::None => {}
        ClientAuth::Header { name, value } => {
            s.push_str(&format!("headers[{}] = {}\n", lit(name), lit(value)));
        }
        ClientAuth::Hmac {
            header,
            prefix,
            base64,
            timestamp_header,
        } => {
            s.push_str(&format!("secret = {}\n", lit(secret)));
            let signed = match timestamp_header {
                Some(t) => {
                    s.push_str("ts = str(int(time.time()))\n");
                    s.push_str(&format!("headers[{}] = ts\n", lit(t)));
                    "(ts + \":\" + body).encode()"
                }
                None => "body.encode()",
            };
            let digest = format!("hmac.new(secret.encode(), {signed}, hashlib.sha256)");
            let sig = if *base64 {
                format!("base64.b64encode({digest}.digest()).decode()")
            } else {
                format!("{digest}.hexdigest()")
            };
            s.push_str(&format!(
                "headers[{}] = {} + {sig}\n",
                lit(header),
                lit(prefix)
            ));
        }
    }
    s.push_str(
        "\nresponse = requests.post(url, data=body.encode(), headers=headers)\nresult = response.json()\nprint(response.status_code, result)\nprint(\"incident:\", result['incident_id'])\n",
    );
    s
}

fn javascript(url: &str, auth: &ClientAuth, secret: &str, payload: &str) -> String {
    let mut s = String::new();
    if matches!(auth, ClientAuth::Hmac { .. }) {
        s.push_str("const crypto = require(\"crypto\");\n\n");
    }
    s.push_str(&format!(
        "const url = {};\nconst body = {};\n",
        lit(url),
        lit(payload)
    ));
    s.push_str("const headers = { \"Content-Type\": \"application/json\" };\n");
    match auth {
        ClientAuth::None => {}
        ClientAuth::Header { name, value } => {
            s.push_str(&format!("headers[{}] = {};\n", lit(name), lit(value)));
        }
        ClientAuth::Hmac {
            header,
            prefix,
            base64,
            timestamp_header,
        } => {
            s.push_str(&format!("const secret = {};\n", lit(secret)));
            let signed = match timestamp_header {
                Some(t) => {
                    s.push_str("const ts = String(Math.floor(Date.now() / 1000));\n");
                    s.push_str(&format!("headers[{}] = ts;\n", lit(t)));
                    "ts + \":\" + body"
                }
                None => "body",
            };
            let enc = if *base64 { "base64" } else { "hex" };
            s.push_str(&format!(
                "headers[{}] = {} + crypto.createHmac(\"sha256\", secret).update({signed}).digest(\"{enc}\");\n",
                lit(header),
                lit(prefix)
            ));
        }
    }
    s.push_str(
        "\nfetch(url, { method: \"POST\", headers, body })\n  .then((response) => response.json())\n  .then((result) => console.log(\"incident:\", result.incident_id));\n",
    );
    s
}
