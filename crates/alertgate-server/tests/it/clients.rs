//! The documented client forms work verbatim: the cURL, Python `requests` and JavaScript `fetch`
//! examples the API hands out (and the Setup tab shows) run as real processes against the real
//! server and print the incident id they got back.

use std::process::Command;

use serde_json::Value;

use crate::helpers::*;

fn run(program: &str, args: &[&str], script: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let ext = match program {
        "python3" => "py",
        "node" => "js",
        _ => "sh",
    };
    let path = dir.path().join(format!("example.{ext}"));
    std::fs::write(&path, script).unwrap();
    let out = Command::new(program)
        .args(args)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed to run the client examples: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{program} failed: {}\n{stdout}\n--- script ---\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn check_examples(app: &TestApp, hook: &Hook) {
    let ex = &hook.body["examples"];
    let mut incident_ids = Vec::new();
    for (program, args, key) in [
        ("bash", vec!["-e"], "curl"),
        ("python3", vec![], "python"),
        ("node", vec![], "javascript"),
    ] {
        let script = ex[key].as_str().unwrap();
        let out = tokio::task::spawn_blocking({
            let script = script.to_string();
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                run(program, &args, &script)
            }
        })
        .await
        .unwrap();
        let id = if key == "curl" {
            let v: Value =
                serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
            v["incident_id"].as_str().unwrap().to_string()
        } else {
            out.lines()
                .find_map(|l| l.strip_prefix("incident: "))
                .unwrap_or_else(|| panic!("{key} printed no incident id: {out}"))
                .trim()
                .to_string()
        };
        assert!(id.starts_with("inc_"), "{key}: {out}");
        incident_ids.push(id);
    }
    // The three sent the same sample: one incident, three occurrences.
    assert!(
        incident_ids.windows(2).all(|w| w[0] == w[1]),
        "{incident_ids:?}"
    );
    let inc = app.incident(&incident_ids[0]).await;
    assert_eq!(inc["occurrence_count"], 3);
}

#[tokio::test]
async fn the_curl_python_and_javascript_examples_work_verbatim() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    let ex = &hook.body["examples"];
    assert!(ex["python"]
        .as_str()
        .unwrap()
        .contains("result['incident_id']"));
    assert!(ex["javascript"]
        .as_str()
        .unwrap()
        .contains("result.incident_id"));
    check_examples(&app, &hook).await;
}

#[tokio::test]
async fn the_examples_sign_requests_for_hmac_webhooks() {
    let app = spawn_app().await;
    let hook = app
        .create_webhook(serde_json::json!({
            "name": "signed",
            "auth": {"type": "hmac_sha256", "header": "X-Signature", "prefix": "sha256=", "timestamp_header": "X-Timestamp"}
        }))
        .await;
    check_examples(&app, &hook).await;
}

#[tokio::test]
async fn the_examples_endpoint_never_reveals_the_secret() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    let ex: Value = app
        .admin_get(&format!("/api/v1/webhooks/{}/examples", hook.id))
        .await
        .json()
        .await
        .unwrap();
    let text = ex.to_string();
    assert!(!text.contains(&hook.secret));
    assert!(text.contains("<YOUR_WEBHOOK_SECRET>"));
    assert!(text.contains(&hook.url));
}
