//! The web UI in a real browser: what an on-call engineer does, click by click, with a
//! screenshot of every page (target/ui-screenshots/).

use serde_json::{json, Value};

use crate::browser::{browser, Browser};

/// Every visible form control has a label (or an accessible name).
async fn assert_labelled(b: &Browser, page: &str) {
    let unlabelled = b
        .js(
            "return [...document.querySelectorAll('input, select, textarea')]
               .filter(e => e.type !== 'hidden')
               .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
               .map(e => e.outerHTML.slice(0, 100))",
            vec![],
        )
        .await;
    assert_eq!(unlabelled, json!([]), "{page}: controls without a label");
}
use crate::helpers::*;

async fn sign_in(b: &Browser, key: &str) {
    b.fill("#api_key", key).await;
    b.click("form button[type=submit]").await;
}

/// The URL and the `Authorization` header of a cURL example, as a person would copy them.
fn curl_url_and_auth(curl: &str) -> (String, String) {
    let url = curl
        .split("curl -sS -X POST '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the example has a URL")
        .to_string();
    let auth = curl
        .split("-H 'Authorization: ")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the example has an Authorization header")
        .to_string();
    (url, auth)
}

#[tokio::test]
async fn an_engineer_connects_alertmanager_sends_an_alert_and_handles_the_incident() {
    let app = spawn_app().await;
    let Some(b) = browser("ui flow", &app.base).await else {
        return;
    };

    // Signed out: every page leads to sign-in.
    b.goto("/ui/incidents").await;
    b.wait_path("/ui/sign-in").await;
    sign_in(&b, "not-a-key-at-all").await;
    b.wait_text(".field-error", "not valid").await;
    assert_labelled(&b, "sign-in").await;
    b.screenshot("01-sign-in-error").await;
    sign_in(&b, ADMIN).await;
    b.wait_path("/ui/incidents").await;
    b.wait_text("main", "No incidents yet").await;
    b.screenshot("02-incidents-empty").await;

    // Integrations: 14 platforms in the seed's five groups.
    b.click("nav.sidebar a[href='/ui/integrations']").await;
    b.wait_path("/ui/integrations").await;
    assert_eq!(b.count(".platform-card").await, 14);
    let groups = b
        .js(
            "return [...document.querySelectorAll('.category h3')].map(h => h.textContent)",
            vec![],
        )
        .await;
    assert_eq!(
        groups,
        json!([
            "Incident Management",
            "Monitoring & Observability",
            "Cloud Provider Alerting",
            "APM & Error Tracking",
            "Custom"
        ])
    );
    b.screenshot("03-integrations-empty").await;

    // The wizard, step 1: basic info.
    b.click("a[href='/ui/integrations/new/prometheus']").await;
    b.wait_text("#wizard-title", "Basic info").await;
    b.fill("#name", "").await;
    b.click("button[value=next]").await;
    b.wait_text(".field-error", "Name must not be empty").await;
    b.fill("#name", "Production Alertmanager").await;
    b.fill("#description", "eu-1 cluster, routed by the SRE team")
        .await;
    assert_labelled(&b, "wizard step 1").await;
    b.screenshot("04-wizard-basic-info").await;
    b.click("button[value=next]").await;

    // Step 2: the platform's default paths, with a live preview of the sample payload.
    b.wait_text("#wizard-title", "field mapping").await;
    assert_eq!(
        b.value("#map_title").await,
        "$['annotations','labels']['summary','alertname']"
    );
    b.wait_text("#mapping-preview", "5xx error rate > 5% on web-1:9100")
        .await;
    b.fill("#map_title", "$.labels.alertname").await;
    b.wait_text("#mapping-preview", "HighErrorRate").await;
    b.fill("#map_title", "$.[").await;
    b.wait_text("#mapping-preview", "Not valid JSONPath").await;
    b.fill(
        "#map_title",
        "$['annotations','labels']['summary','alertname']",
    )
    .await;
    b.wait_text("#mapping-preview", "web-2:9100").await;
    assert_labelled(&b, "wizard step 2").await;
    b.screenshot("05-wizard-field-mapping").await;
    b.click("button[value=next]").await;

    // Step 3: auto-trigger settings.
    b.wait_text("#wizard-title", "Auto-trigger").await;
    assert_eq!(b.value("#dedup_window_hours").await, "24");
    b.fill("#rate_limit_per_hour", "20000").await;
    b.click("button[value=next]").await;
    b.wait_text(".field-error", "0 (unlimited) to 10,000").await;
    b.fill("#rate_limit_per_hour", "500").await;
    b.fill("#dedup_window_hours", "12").await;
    assert_labelled(&b, "wizard step 3").await;
    b.screenshot("06-wizard-auto-trigger").await;
    b.click("button[value=next]").await;

    // Step 4: the Setup tab, with the secret shown once.
    b.wait_text("#dialog-title", "Production Alertmanager")
        .await;
    let webhook_path = b.wait_path("/ui/webhooks/whk_").await;
    let webhook_id = webhook_path
        .trim_start_matches("/ui/webhooks/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let secret = b.value("#webhook-secret").await;
    assert!(
        secret.starts_with("whsec_"),
        "the secret is shown: {secret}"
    );
    assert_labelled(&b, "webhook dialog").await;
    b.screenshot("07-webhook-setup-secret-once").await;
    let curl = b.text("#example-curl").await;
    let (url, auth) = curl_url_and_auth(&curl);
    assert_eq!(auth, format!("Bearer {secret}"));
    assert_eq!(b.value("#intake-url").await, url);

    // Copy the example's URL and credentials, and send Alertmanager's sample with them.
    let sample = alertgate_core::platforms::get("prometheus").unwrap().sample;
    let resp = reqwest::Client::new()
        .post(&url)
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .body(sample)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let sent: Value = resp.json().await.unwrap();
    let incident_id = sent["incident_id"].as_str().unwrap().to_string();

    // The settings were stored.
    let stored: Value = app
        .admin_get(&format!("/api/v1/webhooks/{webhook_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["rate_limit_per_hour"], 500);
    assert_eq!(stored["dedup_window_hours"], 12);

    // A reload does not show the secret again.
    b.client.refresh().await.unwrap();
    b.wait_text("#dialog-title", "Production Alertmanager")
        .await;
    let source = b.client.source().await.unwrap();
    assert!(!source.contains(&secret), "the secret is shown only once");
    assert!(b.value("#webhook-secret").await.contains('•'));

    // Tabs by keyboard: arrow keys move between them.
    b.find("#tab-setup").await.click().await.unwrap();
    b.find("#tab-setup")
        .await
        .send_keys("\u{E014}")
        .await
        .unwrap(); // ArrowRight
    let active = b.js("return document.activeElement.id", vec![]).await;
    assert_eq!(active, "tab-test");
    assert_eq!(
        b.js(
            "return document.getElementById('panel-test').hidden",
            vec![]
        )
        .await,
        false
    );
    b.find("#tab-test")
        .await
        .send_keys("\u{E010}")
        .await
        .unwrap(); // End
    assert_eq!(
        b.js("return document.activeElement.id", vec![]).await,
        "tab-deliveries"
    );

    // Delivery Logs: the request just sent, its redacted headers and what was extracted.
    b.wait_text("#deliveries", "created").await;
    b.click("details.delivery summary").await;
    let row = b.wait_text("details.delivery[open]", "[redacted]").await;
    assert!(row.contains("201"));
    assert!(row.contains("5xx error rate > 5% on web-1:9100"));
    assert!(!row.contains(&secret));
    b.screenshot("08-delivery-logs").await;

    // The log refreshes itself: a repeat shows up without a reload, and the filter narrows it.
    b.click("details.delivery[open] summary").await;
    let resp = reqwest::Client::new()
        .post(&url)
        .header("Authorization", &auth)
        .body(sample)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    b.wait_text("#deliveries", "deduplicated").await;
    assert_eq!(b.count("details.delivery").await, 2);
    b.find("#outcome-filter")
        .await
        .select_by_value("created")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while b.count("details.delivery").await != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the filter did not apply"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(b.text("#deliveries").await.contains("created"));

    // Test: a dry run of the sample says what would happen, and writes nothing.
    b.click("#tab-test").await;
    b.click("#send-test").await;
    let result = b.wait_text("#test-result", "Dry run").await;
    assert!(result.contains("deduplicated"), "{result}");
    assert!(
        result.contains("resolve for an alert that is not open"),
        "{result}"
    );
    assert!(result.contains("critical"));
    b.screenshot("09-test-dry-run").await;
    let inc = app.incident(&incident_id).await;
    assert_eq!(inc["occurrence_count"], 2, "a dry run writes nothing");

    // Field Mapping: an invalid path is refused next to its field...
    b.click("#tab-mapping").await;
    // The preview can use a real delivery instead of the sample.
    let option = b
        .js(
            "return document.querySelector('#preview-source option[value^=dlv_]').value",
            vec![],
        )
        .await;
    b.find("#preview-source")
        .await
        .select_by_value(option.as_str().unwrap())
        .await
        .unwrap();
    b.wait_text("#mapping-preview", "Extracted from delivery dlv_")
        .await;
    b.fill("#map_title", "$.[").await;
    b.wait_text("#mapping-preview", "Not valid JSONPath").await;
    b.click(".mapping-form button[type=submit]").await;
    b.wait_text("#map_title-error", "Not valid JSONPath").await;
    b.screenshot("10-mapping-invalid-path").await;
    // ...a path that finds nothing is saved, and the Test shows the exact error.
    b.fill("#map_title", "$.labels.nope").await;
    b.wait_text("#mapping-preview", "matched nothing").await;
    b.click(".mapping-form button[type=submit]").await;
    b.wait_text(".notice-success", "Field mapping saved").await;
    b.click("#tab-test").await;
    b.click("#send-test").await;
    let error = b.wait_text("#test-error", "matched nothing").await;
    assert_eq!(
        error,
        "the title path `$.labels.nope` matched nothing in the payload"
    );
    b.wait_text("#test-result", "422 title_not_found").await;
    b.screenshot("11-test-broken-mapping").await;
    // Put the mapping back.
    b.click("#tab-mapping").await;
    b.fill(
        "#map_title",
        "$['annotations','labels']['summary','alertname']",
    )
    .await;
    b.click(".mapping-form button[type=submit]").await;
    b.wait_text(".notice-success", "Field mapping saved").await;

    // Incidents: the incident, filtered and searched.
    b.click("nav.sidebar a[href='/ui/incidents']").await;
    let row = b
        .wait_text("#incidents", "5xx error rate > 5% on web-1:9100")
        .await;
    assert!(row.contains("critical") && row.contains("checkout") && row.contains("open"));
    assert_labelled(&b, "incidents").await;
    b.screenshot("12-incidents").await;
    b.fill("#q", "web-1").await;
    b.click(".filters button[type=submit]").await;
    b.wait_path("/ui/incidents?").await;
    assert_eq!(b.count("#incidents tbody tr").await, 1);
    b.fill("#q", "no such incident").await;
    b.click(".filters button[type=submit]").await;
    b.wait_text("main", "No incidents match").await;

    // Incident detail: acknowledge, then resolve.
    b.goto("/ui/incidents").await;
    b.click("a.incident-title").await;
    b.wait_text("#incident-title", "web-1:9100").await;
    b.wait_text(".explanation", "opened a new incident").await;
    b.screenshot("13-incident-open").await;
    b.click("#acknowledge").await;
    b.wait_text("#incident-status", "acknowledged").await;
    b.wait_text("#timeline", "Acknowledged by a person").await;
    b.click("#resolve").await;
    b.wait_text("#incident-status", "resolved").await;
    assert_eq!(b.count("#acknowledge, #resolve").await, 0);
    b.screenshot("14-incident-resolved").await;
    assert_eq!(app.incident(&incident_id).await["status"], "resolved");

    // Integrations now lists the webhook with its last delivery.
    b.goto("/ui/integrations").await;
    let row = b.wait_text("#webhooks", "Production Alertmanager").await;
    assert!(
        row.contains("deduplicated") && row.contains("2 ok"),
        "{row}"
    );
    b.screenshot("15-integrations").await;

    // Correlation rules: a problem is shown next to its rule; a good rule is saved.
    b.click("nav.sidebar a[href='/ui/correlation']").await;
    b.fill("#rule0_name", "same service").await;
    b.set_value(
        "#rule0_conditions",
        r#"{"field": "service", "operator": "sounds_like"}"#,
    )
    .await;
    b.click(".correlation-form button[type=submit]").await;
    let problem = b
        .wait_text("fieldset.rule[data-rule='0'] .rule-errors", "sounds_like")
        .await;
    assert!(problem.contains("conditions"), "{problem}");
    assert_labelled(&b, "correlation").await;
    b.screenshot("16-correlation-rule-error").await;
    b.set_value(
        "#rule0_conditions",
        r#"{"field": "services", "operator": "intersects"}"#,
    )
    .await;
    b.click("#enable_correlation").await;
    b.click(".correlation-form button[type=submit]").await;
    b.wait_text(".notice-success", "saved").await;
    let settings: Value = app
        .admin_get("/api/v1/correlation")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        settings["correlation_rules"]["rules"][0]["name"],
        "same service"
    );
    b.screenshot("17-correlation-rules").await;

    // Sign out: the session ends, pages lead to sign-in again.
    b.click("nav.sidebar .session button").await;
    b.wait_text("main", "You are signed out").await;
    b.goto("/ui/incidents").await;
    b.wait_path("/ui/sign-in").await;
    b.close().await;
}
