//! Hostile text everywhere a sender or an admin can put it — alert titles, descriptions,
//! services, labels, links, webhook names — rendered by every page in a real browser: no script
//! runs, no element is injected, no `javascript:` link exists, and the text reads literally.

use serde_json::{json, Value};

use crate::browser::{browser, Browser};
use crate::helpers::*;

/// Each entry would run `window.__xss = 1` (or raise an alert) if it reached the page as markup.
const CORPUS: &[&str] = &[
    "<script>window.__xss=1</script>",
    "<img src=x onerror=\"window.__xss=1\">",
    "\"><svg onload=window.__xss=1>",
    "' onmouseover='window.__xss=1' x='",
    "</textarea><script>alert(1)</script>",
    "</title><script>window.__xss=1</script>",
    "<iframe srcdoc=\"<script>parent.__xss=1</script>\"></iframe>",
    "<a href=\"javascript:window.__xss=1\">click me</a>",
    "<div hx-get=\"/ui/sign-out\" hx-trigger=\"load\">htmx</div>",
    "{{constructor.constructor('window.__xss=1')()}}",
    "\u{202e}fdp.exe \u{200b}java\u{200b}script: \u{feff}zero-width",
    "＜script＞window.__xss=1＜/script＞ fullwidth",
    "<scr<script>ipt>window.__xss=1</script>",
    "&lt;script&gt;already escaped&lt;/script&gt; & ampersands",
];

/// What must never be on a rendered page.
const INJECTED: &str =
    "script:not([src]), [onerror], [onload], [onmouseover], iframe, object, embed, svg, img";

async fn check_page(b: &Browser, page: &str) {
    // An alert() would leave a prompt open; WebDriver reports it.
    assert!(
        b.client.get_alert_text().await.is_err(),
        "{page}: an alert dialog opened"
    );
    let marker = b.js("return window.__xss === undefined", vec![]).await;
    assert_eq!(marker, true, "{page}: a script ran");
    let injected = b
        .js(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.outerHTML.slice(0, 120))",
            vec![json!(INJECTED)],
        )
        .await;
    assert_eq!(injected, json!([]), "{page}: injected elements");
    let bad_links = b
        .js(
            "return [...document.querySelectorAll('a[href], [hx-get], [hx-post]')]
               .map(a => a.getAttribute('href') || a.getAttribute('hx-get') || a.getAttribute('hx-post'))
               .filter(h => !/^(\\/|https?:|#|\\?)/i.test(h.trim()))",
            vec![],
        )
        .await;
    assert_eq!(
        bad_links,
        json!([]),
        "{page}: links that are not http(s) or local"
    );
    assert!(
        b.path().await.starts_with("/ui/"),
        "{page}: still signed in"
    );
}

/// Every corpus entry appears as text, character for character, in `css` elements.
async fn shown_literally(b: &Browser, page: &str, css: &str, expected: &[&str]) {
    let texts = b
        .js(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)",
            vec![json!(css)],
        )
        .await;
    let texts: Vec<String> = serde_json::from_value(texts).unwrap();
    for want in expected {
        assert!(
            texts.iter().any(|t| t.contains(want)),
            "{page}: {want:?} is not shown literally in {css}: {texts:?}"
        );
    }
}

#[tokio::test]
async fn hostile_text_is_shown_literally_and_never_runs() {
    let app = spawn_app().await;
    let Some(b) = browser("ui xss", &app.base).await else {
        return;
    };
    let name = "<img src=x onerror=\"window.__xss=1\"> ops";
    let hook = app
        .create_webhook(json!({"name": name, "description": CORPUS[0]}))
        .await;
    for (i, text) in CORPUS.iter().enumerate() {
        let next = CORPUS[(i + 1) % CORPUS.len()];
        let (status, body) = app
            .send(
                &hook,
                &json!({
                    "title": text,
                    "description": next,
                    "services": [text, "checkout"],
                    "severity": "high",
                    "source_url": "javascript:window.__xss=1",
                    "labels": {"note": text},
                    "dedup_key": format!("xss-{i}"),
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    // A refused delivery with hostile bytes, for the delivery log.
    let (status, _) = app
        .send_raw(
            &hook,
            "<script>window.__xss=1</script>",
            &[("authorization", &format!("Bearer {}", hook.secret))],
        )
        .await;
    assert_eq!(status, 400);

    b.goto("/ui/sign-in").await;
    b.fill("#api_key", ADMIN).await;
    b.click("form button[type=submit]").await;
    b.wait_path("/ui/incidents").await;

    b.wait_text("#incidents", "checkout").await;
    check_page(&b, "incidents").await;
    shown_literally(&b, "incidents", ".incident-title", CORPUS).await;
    shown_literally(&b, "incidents", "#webhook option", &[name]).await;
    b.screenshot("20-xss-incidents").await;

    let incidents: Vec<Value> = app.incidents("limit=200").await;
    assert_eq!(incidents.len(), CORPUS.len());
    for (n, inc) in incidents.iter().enumerate() {
        let id = inc["id"].as_str().unwrap();
        b.goto(&format!("/ui/incidents/{id}")).await;
        b.find("#incident-title").await;
        check_page(&b, "incident detail").await;
        let title = inc["title"].as_str().unwrap();
        shown_literally(&b, "incident detail", "#incident-title", &[title]).await;
        shown_literally(&b, "incident detail", ".alert-title", &[title]).await;
        shown_literally(&b, "incident detail", ".tag", &[title]).await;
        if n == 0 {
            b.screenshot("21-xss-incident-detail").await;
        }
    }
    shown_literally(&b, "incident detail", ".alert-description", &[CORPUS[1]]).await;
    // The javascript: link is shown as text, not as a link.
    shown_literally(
        &b,
        "incident detail",
        ".mono-text",
        &["javascript:window.__xss=1"],
    )
    .await;

    b.goto("/ui/integrations").await;
    b.find("#webhooks").await;
    check_page(&b, "integrations").await;
    shown_literally(&b, "integrations", "#webhooks a", &[name]).await;

    for tab in ["setup", "test", "mapping", "deliveries"] {
        b.goto(&format!("/ui/webhooks/{}?tab={tab}", hook.id)).await;
        b.find("#dialog-title").await;
        check_page(&b, tab).await;
    }
    shown_literally(&b, "webhook", "#dialog-title", &[name]).await;
    shown_literally(&b, "webhook", "title", &[name]).await;
    shown_literally(&b, "webhook", ".description", &[CORPUS[0]]).await;
    // Open every delivery: bodies, headers and extracted fields are text.
    b.js(
        "document.querySelectorAll('details.delivery').forEach(d => d.open = true)",
        vec![],
    )
    .await;
    check_page(&b, "delivery log").await;
    shown_literally(&b, "delivery log", "details.delivery", CORPUS).await;
    shown_literally(
        &b,
        "delivery log",
        "details.delivery",
        &["<script>window.__xss=1</script>"],
    )
    .await;
    b.screenshot("22-xss-delivery-log").await;

    // The Test tab renders a hostile payload's fields as text, through htmx.
    b.click("#tab-test").await;
    b.set_value(
        "#test-payload",
        &json!({"title": CORPUS[1], "service": CORPUS[2]}).to_string(),
    )
    .await;
    b.click("#send-test").await;
    b.wait_text("#test-result", "Dry run").await;
    check_page(&b, "test result").await;
    shown_literally(&b, "test result", ".extracted-title", &[CORPUS[1]]).await;
    shown_literally(&b, "test result", "#test-result .tag", &[CORPUS[2]]).await;
    b.screenshot("23-xss-test-result").await;

    b.goto(&format!("/ui/correlation?webhook={}", hook.id))
        .await;
    b.find("#scope").await;
    check_page(&b, "correlation").await;
    shown_literally(&b, "correlation", "#scope option", &[name]).await;
    b.close().await;
}
