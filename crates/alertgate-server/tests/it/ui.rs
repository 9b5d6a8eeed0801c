//! The web UI over plain HTTP: sessions, CSRF, headers, and the webhook Test's dry run (through
//! its API twin, `POST /api/v1/webhooks/{id}/test`).

use reqwest::redirect::Policy;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';')
                .next()
                .and_then(|kv| kv.split_once('='))
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
}

/// The value of the hidden `csrf_token` field in a page.
fn csrf_in(html: &str) -> String {
    html.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page has a CSRF field")
        .to_string()
}

/// Sign in through the form, as a browser does; returns the session cookie and CSRF token.
async fn sign_in(app: &TestApp, key: &str) -> (String, String) {
    let c = no_redirects();
    let page = c.get(app.url("/ui/sign-in")).send().await.unwrap();
    let pre = set_cookie(&page, "alertgate_signin").expect("a pre-session cookie");
    let token = csrf_in(&page.text().await.unwrap());
    let resp = c
        .post(app.url("/ui/sign-in"))
        .header("cookie", format!("alertgate_signin={pre}"))
        .form(&[
            ("api_key", key),
            ("csrf_token", &token),
            ("next", "/ui/incidents"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/ui/incidents");
    let session = set_cookie(&resp, "alertgate_session").expect("a session cookie");
    let home = c
        .get(app.url("/ui/incidents"))
        .header("cookie", format!("alertgate_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    let csrf = csrf_in(&home.text().await.unwrap());
    (session, csrf)
}

async fn open_incident(app: &TestApp) -> String {
    let hook = app.generic_webhook().await;
    let (status, body) = app.send(&hook, &seed_alert()).await;
    assert_eq!(status, 201);
    body["incident_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn ui_pages_send_a_signed_out_browser_to_sign_in() {
    let app = spawn_app().await;
    let c = no_redirects();
    for path in [
        "/ui/incidents",
        "/ui/integrations",
        "/ui/correlation",
        "/ui/webhooks/whk_x",
    ] {
        let r = c.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        let to = r.headers()["location"].to_str().unwrap().to_string();
        assert!(to.starts_with("/ui/sign-in?next=/ui/"), "{path} → {to}");
    }
    let r = c
        .get(app.url("/ui/incidents"))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    assert!(r.headers()["hx-redirect"]
        .to_str()
        .unwrap()
        .starts_with("/ui/sign-in"));
    let r = c.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/ui/incidents");
    // The API keeps answering JSON 401s.
    let r = c.get(app.url("/api/v1/incidents")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_state_changing_ui_post_without_the_csrf_token_is_refused() {
    let app = spawn_app().await;
    let incident = open_incident(&app).await;
    let (session, csrf) = sign_in(&app, ADMIN).await;
    let c = no_redirects();
    let path = format!("/ui/incidents/{incident}/resolve");
    let cookie = format!("alertgate_session={session}");

    let no_token = c
        .post(app.url(&path))
        .header("cookie", &cookie)
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 403);
    let wrong = c
        .post(app.url(&path))
        .header("cookie", &cookie)
        .form(&[("csrf_token", "0".repeat(64).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    let wrong_header = c
        .post(app.url(&path))
        .header("cookie", &cookie)
        .header("x-csrf-token", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_header.status(), 403);
    // Another session's token does not work with this cookie.
    let (_, other_csrf) = sign_in(&app, ADMIN).await;
    let other = c
        .post(app.url(&path))
        .header("cookie", &cookie)
        .form(&[("csrf_token", other_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
    assert_eq!(
        app.incident(&incident).await["status"],
        "open",
        "nothing changed"
    );

    // Every other state-changing UI route refuses too.
    for p in [
        "/ui/sign-out".to_string(),
        format!("/ui/incidents/{incident}/acknowledge"),
        "/ui/correlation".to_string(),
        "/ui/integrations/new/generic".to_string(),
    ] {
        let r = c
            .post(app.url(&p))
            .header("cookie", &cookie)
            .form(&[("a", "b")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{p}");
    }
    // Signing in needs the pre-session token too (no login CSRF).
    let r = c
        .post(app.url("/ui/sign-in"))
        .form(&[("api_key", ADMIN)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // With the token (form field or header), it works.
    let ok = c
        .post(app.url(&format!("/ui/incidents/{incident}/acknowledge")))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    let ok = c
        .post(app.url(&path))
        .header("cookie", &cookie)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    assert_eq!(app.incident(&incident).await["status"], "resolved");
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let (session, csrf) = sign_in(&app, ADMIN).await;
    let c = no_redirects();
    let cookie = format!("alertgate_session={session}");
    let r = c
        .post(app.url("/ui/sign-out"))
        .header("cookie", &cookie)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(set_cookie(&r, "alertgate_session").as_deref(), Some(""));
    // The old cookie no longer works, in the UI or the API.
    let r = c
        .get(app.url("/ui/incidents"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = c
        .get(app.url("/api/v1/sessions/current"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn ui_responses_forbid_inline_script_framing_and_caching() {
    let app = spawn_app().await;
    let (session, _) = sign_in(&app, ADMIN).await;
    let r = no_redirects()
        .get(app.url("/ui/integrations"))
        .header("cookie", format!("alertgate_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    // Assets are embedded and served with their types.
    for (asset, kind) in [
        ("htmx.min.js", "text/javascript"),
        ("app.js", "text/javascript"),
        ("app.css", "text/css"),
    ] {
        let r = app
            .client
            .get(app.url(&format!("/ui/assets/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
    }
}

#[tokio::test]
async fn a_viewer_sees_pages_but_cannot_change_anything() {
    let app = spawn_app().await;
    let incident = open_incident(&app).await;
    let r = app
        .admin_json(
            Method::POST,
            "/api/v1/workspaces/wks_00000000000000000000000000/api-keys",
            json!({"name": "viewer", "role": "viewer"}),
        )
        .await;
    let key = r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let (session, csrf) = sign_in(&app, &key).await;
    let c = no_redirects();
    let cookie = format!("alertgate_session={session}");
    let page = c
        .get(app.url(&format!("/ui/incidents/{incident}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("High CPU on production-api"));
    assert!(
        !page.contains("id=\"resolve\""),
        "no buttons a viewer cannot use"
    );
    let r = c
        .post(app.url(&format!("/ui/incidents/{incident}/resolve")))
        .header("cookie", &cookie)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.incident(&incident).await["status"], "open");
}

async fn test_hook(app: &TestApp, hook: &Hook, body: Value) -> Value {
    let r = app
        .admin_json(
            Method::POST,
            &format!("/api/v1/webhooks/{}/test", hook.id),
            body,
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_webhook_test_is_a_dry_run_that_says_what_would_happen() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;

    // Nothing open yet: a new incident would be created, and none is.
    let r = test_hook(&app, &hook, json!({})).await;
    assert_eq!(r["dry_run"], true);
    assert_eq!(r["status_code"], 201);
    let a = &r["alerts"][0];
    assert_eq!(a["fields"]["title"], "High CPU on production-api");
    assert_eq!(a["severity"], "high");
    assert_eq!(a["outcome"]["status"], "created");
    assert_eq!(
        a["outcome"]["incident_id"],
        Value::Null,
        "invented ids are not shown"
    );
    assert!(a["explanation"]
        .as_str()
        .unwrap()
        .contains("would open a new incident"));
    assert!(app.incidents("").await.is_empty());
    assert!(
        app.deliveries(&hook).await.is_empty(),
        "a dry run leaves no delivery row"
    );

    // After a real delivery, the same payload would be deduplicated into that incident.
    let (_, sent) = app.send(&hook, &seed_alert()).await;
    let r = test_hook(&app, &hook, json!({"payload": seed_alert()})).await;
    let a = &r["alerts"][0];
    assert_eq!(a["outcome"]["status"], "deduplicated");
    assert_eq!(a["outcome"]["incident_id"], sent["incident_id"]);
    let id = sent["incident_id"].as_str().unwrap();
    assert_eq!(
        app.incident(id).await["occurrence_count"],
        1,
        "still a dry run"
    );

    // A resolve would resolve it.
    let mut resolve = seed_alert();
    resolve["status"] = json!("resolved");
    let r = test_hook(&app, &hook, json!({"payload": resolve})).await;
    assert_eq!(r["alerts"][0]["outcome"]["status"], "resolved");
    assert_eq!(app.incident(id).await["status"], "open");

    // "Create a test incident": the same pipeline for real, with a delivery-log row.
    let r = test_hook(
        &app,
        &hook,
        json!({"payload": seed_alert(), "create_incident": true}),
    )
    .await;
    assert_eq!(r["dry_run"], false);
    assert_eq!(r["alerts"][0]["outcome"]["status"], "deduplicated");
    assert_eq!(app.incident(id).await["occurrence_count"], 2);
    assert_eq!(app.deliveries(&hook).await.len(), 2);

    // The exact errors a sender would get.
    let r = test_hook(&app, &hook, json!({"body": "{not json"})).await;
    assert_eq!(r["error"]["code"], "invalid_json");
    assert_eq!(r["status_code"], 400);
    let r = test_hook(&app, &hook, json!({"payload": {"nothing": "here"}})).await;
    assert_eq!(r["error"]["code"], "title_not_found");
    assert_eq!(r["status_code"], 422);
    let r = app
        .admin_json(
            Method::PATCH,
            &format!("/api/v1/webhooks/{}", hook.id),
            json!({"field_mapping": {"title": "$.labels.nope"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = test_hook(&app, &hook, json!({})).await;
    assert_eq!(
        r["error"]["message"],
        "the title path `$.labels.nope` matched nothing in the payload"
    );
}

#[tokio::test]
async fn a_webhook_test_previews_correlation_with_its_reason() {
    let app = spawn_app().await;
    let hook = app
        .create_webhook(json!({"name": "corr", "enable_correlation": true}))
        .await;
    let (_, first) = app.send(&hook, &seed_alert()).await;
    let mut other = seed_alert();
    other["title"] = json!("Memory pressure on production-api");
    let r = test_hook(&app, &hook, json!({"payload": other})).await;
    let a = &r["alerts"][0];
    assert_eq!(a["outcome"]["status"], "correlated");
    assert_eq!(a["outcome"]["incident_id"], first["incident_id"]);
    assert!(
        a["explanation"]
            .as_str()
            .unwrap()
            .contains("would join incident"),
        "{a}"
    );
    assert_eq!(
        app.incidents("").await[0]["alert_count"],
        1,
        "nothing joined"
    );
}
