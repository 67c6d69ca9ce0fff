//! The gallery page at `/` in a real browser (Debian's headless Chromium over
//! WebDriver): photos uploaded through its file picker show their thumbnails
//! and a completed four-stage timeline, a corrupt file and a non-image show
//! their errors, the layout fits a 375 px phone, and the page is captured
//! (the README's docs/gallery.png, with `THUMBFLOW_UPDATE_SCREENSHOT=1`). Also checks how the page's
//! files are served (types, nosniff, a same-origin-only CSP).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::time::{Duration, Instant};

use common::browser::Browser;
use common::{root, Pipeline, Redis};
use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
use fantoccini::key::Key;
use serde_json::Value;

/// Real photos from the fixtures, uploaded through the page.
const PHOTOS: [&str; 3] = ["upright.jpg", "rocket.jpg", "chelsea_rgba.png"];

/// Per card: key, overall state, error line, the thumbnail's natural width
/// once loaded, the transitions of its state, and each stage's row.
const CARDS: &str = r#"
return [...document.querySelectorAll('#grid > li.card')].map(card => {
  const img = card.querySelector('.thumbnail img');
  const error = card.querySelector('.error');
  const rows = {};
  for (const li of card.querySelectorAll('.timeline > li')) {
    rows[li.dataset.stage] = {
      state: li.dataset.state,
      time: li.querySelector('time') ? li.querySelector('time').textContent : '',
      took: li.querySelector('.took') ? li.querySelector('.took').textContent : '',
      detail: li.querySelector('.detail') ? li.querySelector('.detail').textContent : '',
    };
  }
  return {
    key: card.dataset.key,
    state: card.dataset.state,
    badge: card.querySelector('.badge').textContent,
    error: error.hidden ? '' : error.textContent,
    thumb_width: img && !img.hidden && img.complete ? img.naturalWidth : 0,
    seen: (window.__seen || {})[card.dataset.key] || [],
    stages: rows,
  };
});
"#;

/// Records every state each card passes through, to show the page updates
/// live (from `uploading` to `done` without a reload).
const RECORD_STATES: &str = r#"
window.__seen = {};
const note = card => {
  const seen = (window.__seen[card.dataset.key] ||= []);
  if (seen[seen.length - 1] !== card.dataset.state) seen.push(card.dataset.state);
};
new MutationObserver(records => {
  for (const r of records) {
    for (const node of r.addedNodes || []) if (node.matches && node.matches('li.card')) note(node);
    if (r.type === 'attributes' && r.target.matches('li.card')) note(r.target);
  }
}).observe(document.getElementById('grid'), {
  subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'],
});
"#;

async fn cards(browser: &Browser) -> Vec<Value> {
    browser
        .js(CARDS, vec![])
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Poll the page until `done(card)` holds for the card of each key.
async fn wait_cards(browser: &Browser, keys: &[&str], what: &str, done: impl Fn(&Value) -> bool) {
    let start = Instant::now();
    loop {
        let cards = cards(browser).await;
        let ready = keys
            .iter()
            .all(|key| cards.iter().any(|card| card["key"] == *key && done(card)));
        if ready {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what} of {keys:?}; the page shows {}",
            pretty(&cards)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn pretty(cards: &[Value]) -> String {
    serde_json::to_string_pretty(cards).unwrap()
}

fn card<'a>(cards: &'a [Value], key: &str) -> &'a Value {
    cards
        .iter()
        .find(|c| c["key"] == key)
        .unwrap_or_else(|| panic!("no card for {key}: {}", pretty(cards)))
}

/// Choose `paths` in the page's file picker, as a user does (WebDriver
/// types the paths into the `<input type=file multiple>`).
async fn choose_files(browser: &Browser, paths: &[std::path::PathBuf]) {
    // chromedriver takes only canonical paths (no `..`).
    let list: Vec<String> = paths
        .iter()
        .map(|p| p.canonicalize().unwrap().display().to_string())
        .collect();
    browser
        .client
        .find(fantoccini::Locator::Css("#files"))
        .await
        .unwrap()
        .send_keys(&list.join("\n"))
        .await
        .unwrap();
}

/// Bytes no decoder takes for an image: a fixed pseudo-random sequence.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gallery_uploads_show_thumbnails_timelines_and_errors_in_chromium() {
    // Fail before any set-up when there is no browser, saying how to get one.
    if let Err(why) = common::browser::find() {
        panic!("{why}");
    }
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[]).await;
    let browser = Browser::start(1280, 900).await;
    browser.client.goto(&p.url("/")).await.unwrap();
    assert_eq!(browser.client.title().await.unwrap(), "thumbflow gallery");
    browser.js(RECORD_STATES, vec![]).await;

    // The file picker is the first thing Tab reaches.
    browser
        .client
        .perform_actions(
            KeyActions::new("keyboard".into())
                .then(KeyAction::Down {
                    value: Key::Tab.into(),
                })
                .then(KeyAction::Up {
                    value: Key::Tab.into(),
                }),
        )
        .await
        .unwrap();
    let focused = browser
        .js("return document.activeElement.id;", vec![])
        .await;
    assert_eq!(
        focused, "files",
        "Tab from the top of the page reaches the file picker"
    );

    // Real photos through the file picker: each card ends with its thumbnail
    // loaded and every stage done.
    let fixtures = root().join("tests/fixtures/images");
    let photos: Vec<_> = PHOTOS.iter().map(|name| fixtures.join(name)).collect();
    choose_files(&browser, &photos).await;
    wait_cards(
        &browser,
        &PHOTOS,
        "a loaded thumbnail and a done timeline",
        |c| c["state"] == "done" && c["thumb_width"].as_u64().unwrap_or(0) > 0,
    )
    .await;
    let shown = cards(&browser).await;
    for key in PHOTOS {
        let c = card(&shown, key);
        let status = p
            .status(key)
            .await
            .expect("the page shows a status the gateway has");
        assert_eq!(
            c["thumb_width"], status["thumbnails"][0]["width"],
            "{key}: the page shows the thumbnail the status lists; card {c:#}"
        );
        for stage in ["gateway", "normalizer", "thumbnailer", "notifier"] {
            let row = &c["stages"][stage];
            assert_eq!(row["state"], "done", "{key} {stage}: {c:#}");
            assert!(
                row["time"].as_str().unwrap().len() == "12:00:00.000".len(),
                "{key} {stage} shows when it happened: {c:#}"
            );
            assert!(
                row["took"].as_str().unwrap().ends_with(" ms")
                    || row["took"].as_str().unwrap().ends_with(" s"),
                "{key} {stage} shows how long it took: {c:#}"
            );
        }
        assert_eq!(c["error"], "", "{key}: no error on a good photo");
        let seen: Vec<&str> = c["seen"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            (seen.first(), seen.last()),
            (Some(&"uploading"), Some(&"done")),
            "{key}: the card updated live from upload to done: {seen:?}"
        );
    }

    // A JPEG cut in half passes the gateway (its bytes start as a JPEG) and
    // fails in the thumbnailer; random bytes named .jpg are refused on upload.
    let corrupt = tempfile::tempdir().unwrap();
    let progressive = std::fs::read(fixtures.join("rocket_progressive.jpg")).unwrap();
    let truncated = corrupt.path().join("truncated.jpg");
    std::fs::write(&truncated, &progressive[..progressive.len() / 2]).unwrap();
    let random = corrupt.path().join("random.jpg");
    std::fs::write(&random, random_bytes(4096)).unwrap();
    choose_files(&browser, &[truncated, random]).await;
    wait_cards(
        &browser,
        &["truncated.jpg", "random.jpg"],
        "a failure",
        |c| c["state"] == "failed",
    )
    .await;
    let shown = cards(&browser).await;
    let c = card(&shown, "truncated.jpg");
    let status = p.status("truncated.jpg").await.unwrap();
    let reason = status["stages"]["thumbnailer"]["detail"].as_str().unwrap();
    assert_eq!(status["stages"]["thumbnailer"]["state"], "failed");
    assert!(!reason.is_empty());
    assert_eq!(c["stages"]["thumbnailer"]["state"], "failed", "{c:#}");
    assert_eq!(c["stages"]["thumbnailer"]["detail"], reason, "{c:#}");
    assert_eq!(c["stages"]["notifier"]["state"], "skipped", "{c:#}");
    assert!(
        c["error"].as_str().unwrap().contains(reason),
        "the card's error line names the thumbnailer's reason {reason:?}: {c:#}"
    );
    assert_eq!(c["thumb_width"], 0);
    let c = card(&shown, "random.jpg");
    assert_eq!(c["stages"]["gateway"]["state"], "failed", "{c:#}");
    assert!(
        c["error"].as_str().unwrap().contains("415"),
        "the card says the gateway refused the upload (415): {c:#}"
    );

    // Desktop screenshot for the README: the whole page, every card settled.
    browser.emulate_screen(1280, 900, false).await;
    let height = browser
        .js("return document.documentElement.scrollHeight;", vec![])
        .await
        .as_u64()
        .unwrap();
    let height = u32::try_from(height.clamp(600, 2400)).unwrap();
    browser.emulate_screen(1280, height, false).await;
    let png = browser.client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "WebDriver returned a PNG");
    // Into target/ on every run; into the README's docs/gallery.png only when
    // asked (THUMBFLOW_UPDATE_SCREENSHOT=1), so `make test` leaves the tree clean.
    let out = match std::env::var_os("THUMBFLOW_UPDATE_SCREENSHOT") {
        Some(_) => root().join("docs/gallery.png"),
        None => root().join("target/gallery.png"),
    };
    std::fs::write(&out, &png).unwrap();

    // Phone width (375 px, mobile: the viewport meta tag decides the layout
    // width): nothing is wider than the screen.
    browser.emulate_screen(375, 812, true).await;
    let fit = browser
        .js(
            "const d = document.documentElement; return [d.scrollWidth, d.clientWidth];",
            vec![],
        )
        .await;
    assert!(
        fit[0].as_u64() <= fit[1].as_u64(),
        "no horizontal scroll at 375 px: scrollWidth {} > clientWidth {}",
        fit[0],
        fit[1]
    );
    browser.close().await;
}

/// With `api_token` set, the page's uploads carry the token the user gives
/// it: without one an upload is refused (401) with the fix on the card;
/// typed into the token field, the next upload goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gallery_sends_the_api_token_the_user_enters() {
    if let Err(why) = common::browser::find() {
        panic!("{why}");
    }
    const TOKEN: &str = "gallery-token";
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[("api_token", TOKEN)]).await;
    let browser = Browser::start(1280, 900).await;
    browser.client.goto(&p.url("/")).await.unwrap();
    let fixtures = root().join("tests/fixtures/images");
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("before-token.jpg");
    std::fs::copy(fixtures.join("rocket.jpg"), &first).unwrap();
    choose_files(&browser, &[first]).await;
    wait_cards(&browser, &["before-token.jpg"], "the refusal", |c| {
        c["state"] == "failed"
    })
    .await;
    let shown = cards(&browser).await;
    let error = card(&shown, "before-token.jpg")["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains("401") && error.contains("API token"),
        "{error}"
    );

    // Typed, not even saved: the upload uses what the field holds.
    browser
        .client
        .find(fantoccini::Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(TOKEN)
        .await
        .unwrap();
    let second = dir.path().join("with-token.jpg");
    std::fs::copy(fixtures.join("upright.jpg"), &second).unwrap();
    choose_files(&browser, &[second]).await;
    wait_cards(&browser, &["with-token.jpg"], "a done timeline", |c| {
        c["state"] == "done" && c["thumb_width"].as_u64().unwrap_or(0) > 0
    })
    .await;
    let status = p.status("with-token.jpg").await.unwrap();
    assert_eq!(status["stages"]["notifier"]["state"], "done", "{status:#}");
    assert!(
        p.status("before-token.jpg").await.is_none(),
        "the refused upload stored nothing"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gallery_files_are_typed_nosniff_and_same_origin_only() {
    let redis = Redis::start();
    let p = Pipeline::start(&redis, &[]).await;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/style.css", "text/css; charset=utf-8"),
        ("/assets/icon.svg", "image/svg+xml"),
    ] {
        let response = p.http.get(p.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        assert_eq!(header("content-type"), content_type, "GET {path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "GET {path}");
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' blob:",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(
                csp.contains(directive),
                "GET {path}: CSP {csp:?} lacks {directive:?}"
            );
        }
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("http://") && !body.contains("https://") || path.ends_with(".svg"),
            "GET {path}: the page loads nothing from another origin"
        );
    }
    let missing = p.http.get(p.url("/assets/nope.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    // The gateway's other routes are unchanged beside the page.
    let status = p.http.get(p.url("/status")).send().await.unwrap();
    assert_eq!(status.status(), 200);
}
