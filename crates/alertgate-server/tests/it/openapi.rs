//! The OpenAPI document at `/api/v1/openapi.json` against the route table: every route is
//! described, nothing else is, and each operation's security and error answers say what the
//! route table enforces. (schemathesis checks the replies against it: scripts/schemathesis.sh.)

use std::collections::BTreeSet;

use serde_json::Value;

use alertgate_server::api::{route_specs, Access, Role};

use crate::helpers::*;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn served_document(app: &TestApp) -> Value {
    // Public: no credentials.
    let resp = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    resp.json().await.unwrap()
}

fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[tokio::test]
async fn the_document_describes_every_route_and_only_the_routes_that_exist() {
    let app = spawn_app().await;
    let doc = served_document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    let documented = documented_operations(&doc);
    // The web UI (HTML under /ui) is not part of the API and not in the route table.
    let declared: BTreeSet<(String, String)> = route_specs()
        .iter()
        .filter(|s| !s.path.starts_with("/ui"))
        .map(|s| (s.method.to_string(), s.path.to_string()))
        .collect();
    let undocumented: Vec<_> = declared.difference(&documented).collect();
    let phantom: Vec<_> = documented.difference(&declared).collect();
    assert!(
        undocumented.is_empty(),
        "routes the document does not describe: {undocumented:?}"
    );
    assert!(
        phantom.is_empty(),
        "operations in the document that no route serves: {phantom:?}"
    );
    assert!(declared.contains(&("POST".into(), "/webhook/{token}/trigger".into())));
    assert!(declared.contains(&("GET".into(), "/api/v1/openapi.json".into())));
}

#[tokio::test]
async fn each_operation_declares_the_credentials_the_route_table_enforces() {
    let app = spawn_app().await;
    let doc = served_document(&app).await;
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "alertgate_session");
    assert_eq!(schemes["csrf"]["in"], "header");
    assert_eq!(schemes["csrf"]["name"], "X-CSRF-Token");

    for spec in route_specs() {
        let op = &doc["paths"][spec.path][spec.method.to_lowercase()];
        let what = format!("{} {}", spec.method, spec.path);
        let responses = op["responses"].as_object().unwrap();
        if spec.access == Access::Public {
            assert!(op.get("security").is_none(), "{what} is public");
            continue;
        }
        let security = op["security"].as_array().unwrap();
        assert!(
            security.iter().any(|r| r.get("bearer").is_some()),
            "{what} takes a bearer key"
        );
        let session = security
            .iter()
            .find(|r| r.get("session").is_some())
            .unwrap_or_else(|| panic!("{what} takes a session"));
        assert_eq!(
            session.get("csrf").is_some(),
            spec.method != "GET",
            "{what}: a session needs its CSRF token exactly on state-changing requests"
        );
        assert!(responses.contains_key("401"), "{what} documents 401");
        let forbids = spec.method != "GET" || !matches!(spec.access, Access::Role(Role::Viewer));
        assert_eq!(responses.contains_key("403"), forbids, "{what}: 403");
        assert!(
            op["description"]
                .as_str()
                .is_some_and(|d| d.contains("**Access:**")),
            "{what} says who may call it"
        );
    }
}

#[tokio::test]
async fn every_documented_error_reply_is_the_error_body() {
    let app = spawn_app().await;
    let doc = served_document(&app).await;
    let error_body = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(
        error_body["required"],
        serde_json::json!(["error", "message"])
    );
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                // readyz answers 503 with its readiness report, not an error.
                if !status.starts_with(['4', '5']) || path == "/readyz" {
                    continue;
                }
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn an_error_reply_matches_what_the_document_promises() {
    let app = spawn_app().await;
    let (status, body) = {
        let r = app.admin_get("/api/v1/webhooks/whk_nope").await;
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_error(&(status, body), 404, "not_found");
}

#[tokio::test]
async fn optional_bodies_may_be_empty_or_null() {
    let app = spawn_app().await;
    let hook = app.generic_webhook().await;
    for body in ["", "null", "{}"] {
        let r = app
            .client
            .post(app.url(&format!("/api/v1/webhooks/{}/rotate-secret", hook.id)))
            .bearer_auth(ADMIN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "rotate-secret with body {body:?}");
        let v: Value = r.json().await.unwrap();
        assert!(v["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_")));
        assert!(v["examples"]["curl"].as_str().is_some());
    }
}
