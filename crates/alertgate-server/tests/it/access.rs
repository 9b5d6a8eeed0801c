//! Workspaces, API keys, sessions and traffic control, tested as an attacker would.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{json, Value};

use alertgate_server::api::{route_specs, Access, Role};

use crate::helpers::*;

struct Key {
    id: String,
    key: String,
}

impl TestApp {
    async fn create_workspace(&self, name: &str) -> String {
        let r = self
            .admin_json(Method::POST, "/api/v1/workspaces", json!({"name": name}))
            .await;
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn create_key(&self, workspace: &str, role: &str) -> Key {
        let r = self
            .admin_json(
                Method::POST,
                &format!("/api/v1/workspaces/{workspace}/api-keys"),
                json!({"name": format!("{role} key"), "role": role}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        Key {
            id: v["id"].as_str().unwrap().to_string(),
            key: v["key"].as_str().unwrap().to_string(),
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

const DEFAULT_WS: &str = "wks_00000000000000000000000000";

/// Objects of a workspace for the matrix to aim at.
struct Objects {
    workspace: String,
    webhook: String,
    incident: String,
    key_id: String,
    destination: String,
    /// The incident's investigation request (an outbox message).
    message: String,
}

async fn objects(app: &TestApp, workspace: &str, admin: &str) -> Objects {
    // The workspace's investigation endpoint (once; a second is refused) and a channel of this
    // call's own. `.invalid` never resolves, so nothing is ever sent anywhere.
    let (s, _) = app
        .call(
            "POST",
            "/api/v1/destinations",
            Some(admin),
            Some(json!({"kind": "investigation", "name": "rca", "url": "https://rca.example.invalid/x"})),
        )
        .await;
    assert!(s == 201 || s == 409, "{s}");
    let (s, d) = app
        .call(
            "POST",
            "/api/v1/destinations",
            Some(admin),
            Some(json!({"kind": "webhook", "name": "target", "url": "https://hooks.example.invalid/x"})),
        )
        .await;
    assert_eq!(s, 201, "{d}");
    let (s, w) = app
        .call(
            "POST",
            "/api/v1/webhooks",
            Some(admin),
            Some(json!({"name": "target", "auto_trigger_rca": true})),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    let hook = Hook {
        id: w["id"].as_str().unwrap().into(),
        url: w["intake_url"].as_str().unwrap().into(),
        secret: w["secret"].as_str().unwrap().into(),
        body: w.clone(),
    };
    let (_, r) = app.send(&hook, &seed_alert()).await;
    let key = app.create_key(workspace, "viewer").await;
    let incident = r["incident_id"].as_str().unwrap().to_string();
    let (s, m) = app
        .call(
            "GET",
            &format!("/api/v1/incidents/{incident}/deliveries"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(s, 200, "{m}");
    Objects {
        workspace: workspace.to_string(),
        webhook: hook.id,
        incident,
        key_id: key.id,
        destination: d["id"].as_str().unwrap().to_string(),
        message: m["items"][0]["id"].as_str().unwrap().to_string(),
    }
}

fn fill(path: &str, o: &Objects) -> String {
    let id = if path.starts_with("/api/v1/workspaces") {
        o.workspace.as_str()
    } else if path.starts_with("/api/v1/incidents") {
        o.incident.as_str()
    } else if path.starts_with("/api/v1/platforms") {
        "generic"
    } else if path.starts_with("/api/v1/destinations") {
        o.destination.as_str()
    } else {
        o.webhook.as_str()
    };
    path.replace("{id}", id)
        .replace("{key_id}", &o.key_id)
        .replace("{delivery_id}", &o.message)
}

fn body_for(method: &str, path: &str) -> Option<Value> {
    let body = match (method, path) {
        ("POST", "/api/v1/webhooks") => json!({"name": "made by matrix", "rate_limit_per_hour": 0}),
        ("PATCH", "/api/v1/webhooks/{id}") => json!({"description": "changed by matrix"}),
        ("POST", "/api/v1/webhooks/{id}/rotate-secret") => json!({}),
        ("POST", "/api/v1/webhooks/{id}/test") => json!({}),
        ("POST", "/api/v1/workspaces") => json!({"name": "made by matrix"}),
        ("POST", "/api/v1/workspaces/{id}/api-keys") => json!({"name": "k", "role": "viewer"}),
        ("PUT", "/api/v1/correlation") => json!({"enable_correlation": false}),
        ("POST", "/api/v1/destinations") => {
            json!({"kind": "webhook", "name": "made by matrix", "url": "https://m.example.invalid/x"})
        }
        ("PATCH", "/api/v1/destinations/{id}") => json!({"name": "changed by matrix"}),
        ("POST", "/api/v1/incidents/{id}/deliveries/{delivery_id}/retry") => json!({}),
        (_, _)
            if method == "GET"
                || method == "DELETE"
                || path.ends_with("/acknowledge")
                || path.ends_with("/resolve") =>
        {
            return None
        }
        _ => panic!("the authorization matrix has no request body for {method} {path}: add one"),
    };
    Some(body)
}

/// Every declared route × every kind of caller → the expected status class. The route list comes
/// from the router's own table, so a new endpoint is covered (or fails here) automatically.
#[tokio::test]
async fn authorization_matrix_for_every_route_and_caller() {
    let app = spawn_app().await;
    let ws_a = DEFAULT_WS.to_string();
    let ws_b = app.create_workspace("other team").await;
    let mut keys: HashMap<&str, String> = HashMap::new();
    for role in ["viewer", "responder", "admin"] {
        keys.insert(role, app.create_key(&ws_a, role).await.key);
    }
    let revoked = app.create_key(&ws_a, "admin").await;
    let r = app
        .admin_json(
            Method::DELETE,
            &format!("/api/v1/workspaces/{ws_a}/api-keys/{}", revoked.id),
            Value::Null,
        )
        .await;
    assert_eq!(r.status(), 204);
    let other_admin = app.create_key(&ws_b, "admin").await.key;

    let specs = route_specs();
    assert!(specs.len() >= 25, "the route table lists every route");
    let mut checked = 0;
    for spec in specs.iter().filter(|s| s.access != Access::Public) {
        let body = body_for(spec.method, spec.path);
        // Fresh objects per route: some calls delete or resolve them.
        let o = objects(&app, &ws_a, ADMIN).await;
        let path = fill(spec.path, &o);
        let what = format!("{} {}", spec.method, spec.path);

        let (s, e) = app.call(spec.method, &path, None, body.clone()).await;
        assert_eq!(
            (s, e["error"].as_str()),
            (401, Some("unauthorized")),
            "no key: {what}"
        );
        let (s, _) = app
            .call(spec.method, &path, Some(&revoked.key), body.clone())
            .await;
        assert_eq!(s, 401, "revoked key: {what}");
        let (s, _) = app
            .call(
                spec.method,
                &path,
                Some("agk_not-a-real-key-at-all-000000000000000000"),
                body.clone(),
            )
            .await;
        assert_eq!(s, 401, "unknown key: {what}");

        for (role_name, role) in [
            ("viewer", Role::Viewer),
            ("responder", Role::Responder),
            ("admin", Role::Admin),
        ] {
            let allowed = match spec.access {
                Access::Role(r) => role >= r,
                Access::Superuser => false,
                Access::Public => true,
            };
            let (s, e) = app
                .call(spec.method, &path, Some(&keys[role_name]), body.clone())
                .await;
            if allowed {
                assert!(
                    s != 401 && s != 403 && s != 404 && s < 500,
                    "{role_name} may {what}: got {s} {e}"
                );
            } else {
                assert_eq!(s, 403, "{role_name} may not {what}: {e}");
                assert_eq!(e["error"], "forbidden");
            }
        }
        // An admin of another workspace never reaches this workspace's objects.
        let (s, e) = app
            .call(spec.method, &path, Some(&other_admin), body.clone())
            .await;
        if spec.access == Access::Superuser {
            assert_eq!(s, 403, "other workspace admin: {what}");
        } else if spec.path.contains('{') && !spec.path.starts_with("/api/v1/platforms") {
            assert_eq!(s, 404, "other workspace admin must not see {what}: {e}");
        } else {
            assert!(
                s < 500 && s != 401 && s != 403,
                "other workspace admin on its own data: {what}: {s}"
            );
        }
        // The admin token can do everything.
        let o = objects(&app, &ws_a, ADMIN).await;
        let (s, e) = app
            .call(spec.method, &fill(spec.path, &o), Some(ADMIN), body.clone())
            .await;
        assert!(s < 400, "admin token: {what}: {s} {e}");
        checked += 1;
    }
    assert!(checked >= 20);
}

#[tokio::test]
async fn workspaces_are_isolated_and_their_keys_see_only_their_own_data() {
    let app = spawn_app().await;
    let ws_b = app.create_workspace("team b").await;
    let b_admin = app.create_key(&ws_b, "admin").await.key;
    let (s, w) = app
        .call(
            "POST",
            "/api/v1/webhooks",
            Some(&b_admin),
            Some(json!({"name": "b hook"})),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(w["workspace_id"], ws_b.as_str());
    let hook_b = Hook {
        id: w["id"].as_str().unwrap().into(),
        url: w["intake_url"].as_str().unwrap().into(),
        secret: w["secret"].as_str().unwrap().into(),
        body: w,
    };
    let (_, rb) = app.send(&hook_b, &seed_alert()).await;
    let hook_a = app.generic_webhook().await;
    let (_, ra) = app.send(&hook_a, &seed_alert()).await;
    assert_ne!(
        ra["incident_id"], rb["incident_id"],
        "the same alert in two workspaces is two incidents"
    );

    let (_, list) = app
        .call("GET", "/api/v1/incidents", Some(&b_admin), None)
        .await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![rb["incident_id"].as_str().unwrap()]);
    let (_, hooks) = app
        .call("GET", "/api/v1/webhooks", Some(&b_admin), None)
        .await;
    assert_eq!(hooks["items"].as_array().unwrap().len(), 1);
    let (s, _) = app
        .call(
            "GET",
            &format!("/api/v1/incidents/{}", ra["incident_id"].as_str().unwrap()),
            Some(&b_admin),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .call(
            "GET",
            &format!("/api/v1/webhooks/{}/deliveries", hook_a.id),
            Some(&b_admin),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .call(
            "GET",
            &format!("/api/v1/workspaces/{DEFAULT_WS}/api-keys"),
            Some(&b_admin),
            None,
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn api_keys_are_shown_once_stored_hashed_and_revocable() {
    let app = spawn_app().await;
    let key = app.create_key(DEFAULT_WS, "viewer").await;
    assert!(key.key.starts_with("agk_") && key.key.len() >= 40);
    let (s, _) = app
        .call("GET", "/api/v1/incidents", Some(&key.key), None)
        .await;
    assert_eq!(s, 200);
    let (_, list) = app
        .call(
            "GET",
            &format!("/api/v1/workspaces/{DEFAULT_WS}/api-keys"),
            Some(ADMIN),
            None,
        )
        .await;
    let listed = &list["items"][0];
    assert_eq!(listed["name"], "viewer key");
    assert!(listed["last_used_at"].is_string(), "last use is recorded");
    assert!(
        !list.to_string().contains(&key.key),
        "the key is never shown again"
    );
    let stored = app.stored_bytes().await;
    assert!(
        String::from_utf8_lossy(&stored).contains("viewer key"),
        "read the database"
    );
    assert!(
        !stored
            .windows(key.key.len())
            .any(|w| w == key.key.as_bytes()),
        "stored only as a hash"
    );
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/workspaces/{DEFAULT_WS}/api-keys/{}", key.id),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, e) = app
        .call("GET", "/api/v1/incidents", Some(&key.key), None)
        .await;
    assert_eq!(s, 401);
    assert!(e["message"].as_str().unwrap().contains("revoked"));
}

#[tokio::test]
async fn a_session_cookie_works_needs_csrf_for_changes_and_ends_on_sign_out() {
    let app = spawn_app().await;
    let key = app.create_key(DEFAULT_WS, "responder").await;
    let client = reqwest::Client::new();
    let resp = client
        .post(app.url("/api/v1/sessions"))
        .json(&json!({"api_key": key.key}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(set_cookie.contains(attr), "{attr} in {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain http here");
    let session: Value = resp.json().await.unwrap();
    let csrf = session["csrf_token"].as_str().unwrap().to_string();
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    let get = client
        .get(app.url("/api/v1/incidents"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    let hook = app.generic_webhook().await;
    let (_, r) = app.send(&hook, &seed_alert()).await;
    let ack = format!(
        "/api/v1/incidents/{}/acknowledge",
        r["incident_id"].as_str().unwrap()
    );
    let no_csrf = client
        .post(app.url(&ack))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), 403);
    assert_eq!(
        no_csrf.json::<Value>().await.unwrap()["error"],
        "csrf_failed"
    );
    let wrong = client
        .post(app.url(&ack))
        .header("cookie", &cookie)
        .header("x-csrf-token", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    let ok = client
        .post(app.url(&ack))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // The role of the key holds for its session.
    let admin_only = client
        .post(app.url("/api/v1/webhooks"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(admin_only.status(), 403);

    let out = client
        .delete(app.url("/api/v1/sessions/current"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert!(out.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let after = client
        .get(app.url("/api/v1/incidents"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status(),
        401,
        "sign-out ends the session on the server"
    );

    let bad = client
        .post(app.url("/api/v1/sessions"))
        .json(&json!({"api_key": "agk_wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
}

#[tokio::test]
async fn the_rate_limit_refuses_at_exactly_the_configured_count_and_lets_resolves_through() {
    let clock = manual_clock();
    let app = spawn_with_clock(clock.clone()).await;
    let hook = app
        .create_webhook(json!({"name": "limited", "rate_limit_per_hour": 5}))
        .await;
    for i in 0..5 {
        let (s, _) = app
            .send(
                &hook,
                &json!({"title": format!("a{i}"), "dedup_key": format!("k{i}")}),
            )
            .await;
        assert_eq!(s, 201, "request {i} is within the limit");
    }
    let resp = app
        .client
        .post(&hook.url)
        .bearer_auth(&hook.secret)
        .json(&json!({"title": "one too many"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "720", "3600 s / 5 requests");
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"], "rate_limited");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("5 requests per hour"));
    // A resolve is never limited, and resolves what it should.
    let (s, r) = app
        .send(
            &hook,
            &json!({"title": "a0", "dedup_key": "k0", "status": "resolved"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["status"], "resolved");
    // A resolve that matches nothing creates nothing.
    let (s, r) = app
        .send(
            &hook,
            &json!({"title": "sneaky", "dedup_key": "new", "status": "resolved"}),
        )
        .await;
    assert_eq!((s, r["status"].as_str()), (200, Some("ignored")));
    let log = app.deliveries(&hook).await;
    assert!(
        log.iter()
            .any(|d| d["status_code"] == 429 && d["outcome"] == "rate_limited"),
        "the refusal is logged"
    );

    clock.advance_millis(719_000);
    assert_eq!(
        app.send(&hook, &json!({"title": "still limited"})).await.0,
        429
    );
    clock.advance_millis(1_000);
    assert_eq!(
        app.send(&hook, &json!({"title": "one more after 720 s"}))
            .await
            .0,
        201
    );
    assert_eq!(
        app.send(&hook, &json!({"title": "and no more"})).await.0,
        429
    );

    let resp = app
        .admin_json(
            Method::PATCH,
            &format!("/api/v1/webhooks/{}", hook.id),
            json!({"rate_limit_per_hour": 0}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    for i in 0..150 {
        assert_eq!(
            app.send(&hook, &json!({"title": format!("unlimited {i}")}))
                .await
                .0,
            201
        );
    }
    for bad in [-1, 10_001] {
        let r = app
            .admin_json(
                Method::PATCH,
                &format!("/api/v1/webhooks/{}", hook.id),
                json!({"rate_limit_per_hour": bad}),
            )
            .await;
        assert_eq!(r.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn unauthenticated_floods_do_not_spend_the_budget_and_repeated_failures_are_limited() {
    let clock = manual_clock();
    let app = spawn_with_clock(clock.clone()).await;
    let hook = app
        .create_webhook(json!({"name": "guarded", "rate_limit_per_hour": 3}))
        .await;
    let wrong = Hook {
        secret: "whsec_wrong".into(),
        ..Hook {
            id: hook.id.clone(),
            url: hook.url.clone(),
            secret: String::new(),
            body: Value::Null,
        }
    };
    for _ in 0..20 {
        assert_eq!(app.send(&wrong, &seed_alert()).await.0, 401);
    }
    let limited = app.send(&wrong, &seed_alert()).await;
    assert_error(&limited, 429, "too_many_auth_failures");
    // Now even the right secret from this address waits…
    assert_eq!(app.send(&hook, &seed_alert()).await.0, 429);
    // …until the failure window has passed; the webhook's own budget was never charged.
    clock.advance_millis(61_000);
    assert_eq!(app.send(&hook, &json!({"title": "1"})).await.0, 201);
    assert_eq!(app.send(&hook, &json!({"title": "2"})).await.0, 201);
    assert_eq!(app.send(&hook, &json!({"title": "3"})).await.0, 201);
    assert_eq!(app.send(&hook, &json!({"title": "4"})).await.0, 429);
}

#[tokio::test]
async fn webhook_secrets_are_encrypted_at_rest_with_a_private_key_file() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    let stored = app.stored_bytes().await;
    assert!(
        String::from_utf8_lossy(&stored).contains(&hook.id),
        "read the database"
    );
    assert!(!stored
        .windows(hook.secret.len())
        .any(|w| w == hook.secret.as_bytes()));
    let key_file = app.dir.path().join("secret.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // And they still work.
    assert_eq!(app.send(&hook, &seed_alert()).await.0, 201);
}
