//! What the binary's integration tests share.

use std::io::{BufRead, BufReader};
use std::process::Child;

/// Read `child`'s stdout up to its `alertgate listening on <url>` line and return the URL. The
/// line is printed once the listener is bound, so no test sleeps for readiness. The rest of
/// stdout is drained in the background so the child never blocks on a full pipe. `None` when the
/// child closed stdout (exited) before listening.
pub fn listening_url(child: &mut Child) -> Option<String> {
    let mut stdout = BufReader::new(child.stdout.take()?);
    let mut line = String::new();
    while stdout.read_line(&mut line).ok()? > 0 {
        if let Some(addr) = line.trim().strip_prefix("alertgate listening on ") {
            let url = addr.to_string();
            std::thread::spawn(move || for _ in stdout.lines().map_while(Result::ok) {});
            return Some(url);
        }
        line.clear();
    }
    None
}

/// POST `body` to `base` + `path` as the admin and return the created object (asserting 201).
/// Not every test binary creates objects over HTTP.
#[allow(dead_code)]
pub async fn admin_post(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let resp = client
        .post(format!("{base}{path}"))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "POST {path}");
    resp.json().await.unwrap()
}

/// GET `base` + `path` as the admin and return the JSON (asserting 200).
#[allow(dead_code)]
pub async fn admin_get(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    path: &str,
) -> serde_json::Value {
    let resp = client
        .get(format!("{base}{path}"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "GET {path}");
    resp.json().await.unwrap()
}

/// Every item of the list at `path` (which has a query string), page after page as the admin,
/// following `next_cursor`.
#[allow(dead_code)]
pub async fn admin_list(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    path: &str,
) -> Vec<serde_json::Value> {
    let mut all = Vec::new();
    let mut page = admin_get(client, base, admin, path).await;
    loop {
        all.extend(page["items"].as_array().unwrap().iter().cloned());
        let Some(cursor) = page["next_cursor"].as_str() else {
            return all;
        };
        page = admin_get(client, base, admin, &format!("{path}&before={cursor}")).await;
    }
}
