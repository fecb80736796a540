//! Headless Chromium for the console tests, driven over WebDriver (chromedriver).
//!
//! Runs when Debian's `chromium` and `chromium-driver` are installed; `CRM_TEST_CHROMEDRIVER`
//! names another driver and makes browser tests mandatory (CI sets it), `CRM_TEST_CHROMIUM`
//! another browser binary. Screenshots at desktop and phone width land in
//! `target/tmp/console-screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// What makes a page hard to use, as a list of offending elements (empty when fine).
const USABILITY_CHECK: &str = r#"
const bad = [];
const shown = (el) => !el.closest('[hidden]') && el.getClientRects().length > 0;
for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
  if (!shown(el)) continue;
  const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
  if (!named) bad.push('unlabelled: ' + el.outerHTML.slice(0, 120));
}
for (const el of document.querySelectorAll('button, a[href]')) {
  if (shown(el) && !(el.textContent.trim() || el.getAttribute('aria-label'))) bad.push('nameless: ' + el.outerHTML.slice(0, 120));
}
for (const el of document.querySelectorAll('img')) {
  if (!el.hasAttribute('alt')) bad.push('no alt: ' + el.outerHTML.slice(0, 120));
}
if (!document.documentElement.lang) bad.push('no lang on <html>');
// Text contrast (WCAG AA: 4.5:1, 3:1 for large text) against the nearest opaque background.
const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
  .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
const background = (el) => {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
for (const el of document.querySelectorAll('body *')) {
  if (!shown(el) || el.closest('svg, iframe, .visually-hidden, .skip') || el.disabled) continue;
  if (!Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
  const style = getComputedStyle(el);
  const ratio = ((a, b) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05))(lum(rgb(style.color)), lum(background(el)));
  const large = parseFloat(style.fontSize) >= 24 || (parseFloat(style.fontSize) >= 18.66 && Number(style.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5)) bad.push('low contrast ' + ratio.toFixed(2) + ': ' + el.tagName + '.' + el.className + ' "' + el.textContent.trim().slice(0, 40) + '"');
}
if (document.documentElement.scrollWidth > window.innerWidth + 1) {
  const inTable = (el) => el.parentElement && el.parentElement.closest('.table-wrap');
  const spills = (el) => el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === 'visible' && el.clientWidth > 0;
  const wide = Array.from(document.querySelectorAll('body *')).filter((el) => !inTable(el)
    && (el.getBoundingClientRect().right > window.innerWidth + 1 || (spills(el) && !Array.from(el.children).some(spills))));
  bad.push('scrolls sideways (' + document.documentElement.scrollWidth + ' > ' + window.innerWidth + '): ' + wide.slice(0, 3).map((el) => el.tagName + '.' + el.className).join(', '));
}
return bad;
"#;

/// Headless Chromium behind chromedriver, and where its screenshots go.
pub(crate) struct Browser {
    /// The WebDriver session.
    pub(crate) client: Client,
    driver: Child,
    shots: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Starts chromedriver and a headless session, or `None` when no driver is installed (and
/// none was asked for).
pub(crate) async fn browser() -> Option<Browser> {
    let asked = std::env::var("CRM_TEST_CHROMEDRIVER").ok().filter(|p| !p.is_empty());
    let driver_path = asked.clone().unwrap_or_else(|| "/usr/bin/chromedriver".to_owned());
    if !std::path::Path::new(&driver_path).exists() {
        assert!(asked.is_none(), "CRM_TEST_CHROMEDRIVER={driver_path} does not exist");
        eprintln!("skipped: no chromedriver (install Debian's chromium and chromium-driver)");
        return None;
    }
    let port = free_port();
    let driver = Command::new(&driver_path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let binary = std::env::var("CRM_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": binary,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let url = format!("http://127.0.0.1:{port}");
    let mut last_error = None;
    for _ in 0..100 {
        match ClientBuilder::new(connector.clone()).capabilities(caps.clone()).connect(&url).await {
            Ok(client) => {
                let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
                std::fs::create_dir_all(&shots).expect("screenshot directory");
                return Some(Browser { client, driver, shots });
            }
            Err(error) => last_error = Some(error.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver never accepted a session: {last_error:?}");
}

impl Browser {
    pub(crate) async fn go(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    pub(crate) async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element `{css}`: {e}"))
    }

    pub(crate) async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    pub(crate) async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("click `{css}`: {e}"));
    }

    /// Waits until the element's text contains `want`.
    pub(crate) async fn wait_text(&self, css: &str, want: &str) -> String {
        let mut seen = String::new();
        for _ in 0..100 {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                seen = element.text().await.unwrap_or_default();
                if seen.contains(want) {
                    return seen;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("`{css}` never showed {want:?}; last seen {seen:?}");
    }

    pub(crate) async fn wait_url(&self, fragment: &str) -> String {
        for _ in 0..100 {
            let url = self.client.current_url().await.expect("url").to_string();
            if url.contains(fragment) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never reached a URL with {fragment:?}");
    }

    /// Saves the page at desktop, tablet and phone width, after checking at each width that it
    /// is usable: every visible control has a label, every button a name, every image an `alt`,
    /// text has AA contrast, and nothing scrolls sideways.
    pub(crate) async fn shoot(&self, name: &str) {
        for (label, width, height) in [("desktop", 1280, 900), ("tablet", 820, 1180), ("phone", 390, 844)] {
            self.client.set_window_size(width, height).await.expect("resize");
            tokio::time::sleep(Duration::from_millis(150)).await;
            let problems = self.client.execute(USABILITY_CHECK, vec![]).await.expect("usability check");
            assert_eq!(problems, json!([]), "{name} at {label} width");
            let png = self.client.screenshot().await.expect("screenshot");
            assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
            std::fs::write(self.shots.join(format!("{name}-{label}.png")), png).expect("save screenshot");
        }
        self.client.set_window_size(1280, 900).await.expect("resize");
    }
}
