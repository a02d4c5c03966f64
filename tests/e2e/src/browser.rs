//! Headless Chromium through the system chromedriver: a fresh profile per browser, the console log
//! kept, and screenshots on demand.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
pub use fantoccini::key::Key;
use fantoccini::wd::WebDriverCompatibleCommand;
pub use fantoccini::wd::WindowHandle;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// How long waits for the page wait before failing.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

fn chromedriver_path() -> PathBuf {
    std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"))
}

fn chromium_path() -> PathBuf {
    for p in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    PathBuf::from("chromium")
}

/// Reads chromedriver's standard output up to the line naming the port it listens on, then keeps
/// draining it so that chromedriver never blocks on a full pipe.
/// Starts chromedriver on a port it picks; returns it with that port once it says it listens.
async fn start_chromedriver() -> Result<(tokio::process::Child, u16), String> {
    let mut driver = Command::new(chromedriver_path())
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("could not start chromedriver ({e}); run `cargo xtask setup --browser`")
        });
    let stdout = driver.stdout.take().expect("chromedriver's piped stdout");
    match tokio::time::timeout(Duration::from_secs(20), listening_port(stdout)).await {
        Ok(Some(port)) => Ok((driver, port)),
        outcome => {
            let _ = driver.kill().await;
            Err(match outcome {
                Ok(_) => "it exited without saying which port it listens on".to_string(),
                Err(_) => "it did not say which port it listens on within 20 s".to_string(),
            })
        }
    }
}

async fn listening_port(stdout: tokio::process::ChildStdout) -> Option<u16> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await.ok()? {
        if let Some(rest) = line.split("started successfully on port ").nth(1) {
            let port = rest.trim_end_matches('.').trim().parse().ok()?;
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Some(port);
        }
    }
    None
}

/// A chromedriver command outside the W3C standard, POSTed under the session: its log
/// (`se/log`, the only way to read console errors such as failed loads and CSP reports) and
/// DevTools (`goog/cdp/execute`).
#[derive(Debug)]
struct VendorCommand {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for VendorCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// `text` as an XPath string literal (XPath 1.0 has no escapes; `concat` joins quote kinds).
fn xpath_literal(text: &str) -> String {
    if !text.contains('"') {
        format!("\"{text}\"")
    } else if !text.contains('\'') {
        format!("'{text}'")
    } else {
        let parts: Vec<String> = text.split('"').map(|p| format!("\"{p}\"")).collect();
        format!("concat({})", parts.join(", '\"', "))
    }
}

impl Browser {
    /// Runs a DevTools command (e.g. `Page.addScriptToEvaluateOnNewDocument`) and returns its
    /// result.
    pub async fn cdp(&self, command: &'static str, params: Value) -> Value {
        self.client
            .issue_cmd(VendorCommand {
                path: "goog/cdp/execute",
                body: json!({ "cmd": command, "params": params }),
            })
            .await
            .unwrap_or_else(|e| panic!("DevTools {command}: {e}"))
    }

    /// Starts chromedriver and a new headless Chromium with an empty profile.
    pub async fn launch() -> Self {
        // chromedriver picks a free port itself: a port picked here and released could be taken
        // by another test's server before chromedriver binds it, and the session request would
        // then go to that server.
        // On a machine loaded by parallel builds chromedriver has been seen to print nothing for
        // 20 s now and then; a fresh one is tried before the test is failed for it.
        let mut attempt = 0;
        let (mut driver, port) = loop {
            attempt += 1;
            match start_chromedriver().await {
                Ok(started) => break started,
                Err(why) if attempt < 3 => {
                    eprintln!("chromedriver attempt {attempt}: {why}; again")
                }
                Err(why) => panic!("chromedriver: {why} (3 attempts)"),
            }
        };
        let profile =
            std::env::temp_dir().join(format!("rc-pkce-e2e-{port}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium_path(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--disable-features=Translate,MediaRouter,OptimizationHints",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let caps = caps.as_object().cloned().expect("object");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let mut builder =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            builder.capabilities(caps.clone());
            match builder.connect(&url).await {
                Ok(c) => break c,
                Err(e) if started.elapsed() < Duration::from_secs(20) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    let _ = driver.kill().await;
                    panic!("could not start a Chromium session: {e}");
                }
            }
        };
        Self {
            client,
            driver,
            profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// Waits for an element matching `css` to exist.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("waited {WAIT:?} for `{css}`: {e}"))
    }

    /// Waits until the element matching `css` contains `text`.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> String {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < WAIT {
            if let Ok(e) = self.client.find(Locator::Css(css)).await
                && let Ok(t) = e.text().await
            {
                if t.contains(text) {
                    return t;
                }
                last = t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("waited {WAIT:?} for `{css}` to contain {text:?}; last text: {last:?}");
    }

    /// Waits until `check` returns true (polling the page with a script).
    pub async fn wait_until(&self, what: &str, script: &str) {
        let started = Instant::now();
        while started.elapsed() < WAIT {
            if self.execute(script).await == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("waited {WAIT:?} for {what} ({script})");
    }

    /// The text of the element matching `css`, once it exists.
    ///
    /// Here and in [`Browser::click`] and [`Browser::type_into`], an element that is replaced
    /// between finding and using it (a re-render; or the app taking over the page a first-load
    /// module drew, see src/first_load) is looked up again.
    pub async fn text(&self, css: &str) -> String {
        for _ in 0..RELOOKUPS {
            match self.wait_for(css).await.text().await {
                Ok(t) => return t,
                Err(e) if is_stale(&e) => continue,
                Err(_) => return String::new(),
            }
        }
        panic!("`{css}` kept being replaced while its text was read")
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    pub async fn click(&self, css: &str) {
        for _ in 0..RELOOKUPS {
            match self.wait_for(css).await.click().await {
                Ok(_) => return,
                Err(e) if is_stale(&e) => continue,
                Err(e) => panic!("click `{css}`: {e}"),
            }
        }
        panic!("`{css}` kept being replaced before it could be clicked")
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        for _ in 0..RELOOKUPS {
            let e = self.wait_for(css).await;
            e.clear().await.ok();
            match e.send_keys(text).await {
                Ok(_) => return,
                Err(e) if is_stale(&e) => continue,
                Err(e) => panic!("type into `{css}`: {e}"),
            }
        }
        panic!("`{css}` kept being replaced before it could be typed into")
    }

    /// Runs a script in the page (`return ...;`) and returns its value.
    pub async fn execute(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    pub async fn session_storage(&self) -> Value {
        self.execute("const o = {}; for (let i = 0; i < sessionStorage.length; i++) { const k = sessionStorage.key(i); o[k] = sessionStorage.getItem(k); } return o;").await
    }

    pub async fn local_storage(&self) -> Value {
        self.execute("const o = {}; for (let i = 0; i < localStorage.length; i++) { const k = localStorage.key(i); o[k] = localStorage.getItem(k); } return o;").await
    }

    /// The browser console since the last call: `(level, message)` pairs.
    pub async fn console(&self) -> Vec<(String, String)> {
        let Ok(Value::Array(entries)) = self
            .client
            .issue_cmd(VendorCommand {
                path: "se/log",
                body: json!({ "type": "browser" }),
            })
            .await
        else {
            return Vec::new();
        };
        entries
            .into_iter()
            .map(|e| {
                (
                    e["level"].as_str().unwrap_or_default().to_string(),
                    e["message"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// The text the user sees on the page (`document.body.innerText`).
    pub async fn page_text(&self) -> String {
        self.execute("return document.body ? document.body.innerText : '';")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits until the page shows `text` anywhere; returns the page text.
    pub async fn wait_for_page_text(&self, text: &str) -> String {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < WAIT {
            last = self.page_text().await;
            if last.contains(text) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("waited {WAIT:?} for the page to show {text:?}; it shows:\n{last}");
    }

    /// Clicks the button whose visible text is `text`.
    pub async fn click_button(&self, text: &str) {
        let xpath = format!("//button[normalize-space()={}]", xpath_literal(text));
        let e = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("waited {WAIT:?} for a button {text:?}: {e}"));
        e.click()
            .await
            .unwrap_or_else(|err| panic!("click button {text:?}: {err}"));
    }

    /// The value of attribute `name` of the element matching `css` (waiting for the element).
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.wait_for(css).await.attr(name).await.ok().flatten()
    }

    /// Presses `key` (e.g. [`Key::Tab`], [`Key::Enter`]) on whatever has the focus, as a keyboard
    /// user would.
    pub async fn press(&self, key: Key) {
        let active = self
            .client
            .active_element()
            .await
            .unwrap_or_else(|e| panic!("no active element: {e}"));
        active
            .send_keys(&char::from(key).to_string())
            .await
            .unwrap_or_else(|e| panic!("press {key:?}: {e}"));
    }

    /// Types `text` into whatever has the focus.
    pub async fn type_active(&self, text: &str) {
        let active = self
            .client
            .active_element()
            .await
            .unwrap_or_else(|e| panic!("no active element: {e}"));
        active
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into the focused element: {e}"));
    }

    /// Reloads the page.
    pub async fn reload(&self) {
        self.client
            .refresh()
            .await
            .unwrap_or_else(|e| panic!("reload: {e}"));
    }

    /// The browser's Back button.
    pub async fn back(&self) {
        self.client
            .back()
            .await
            .unwrap_or_else(|e| panic!("back: {e}"));
    }

    /// The browser's Forward button.
    pub async fn forward(&self) {
        self.client
            .forward()
            .await
            .unwrap_or_else(|e| panic!("forward: {e}"));
    }

    /// The window (tab) that commands go to.
    pub async fn current_window(&self) -> WindowHandle {
        self.client
            .window()
            .await
            .unwrap_or_else(|e| panic!("current window: {e}"))
    }

    /// Every open window and tab.
    pub async fn windows(&self) -> Vec<WindowHandle> {
        self.client
            .windows()
            .await
            .unwrap_or_else(|e| panic!("list windows: {e}"))
    }

    /// Sends later commands to `window`.
    pub async fn switch_to(&self, window: &WindowHandle) {
        self.client
            .switch_to_window(window.clone())
            .await
            .unwrap_or_else(|e| panic!("switch to window: {e}"));
    }

    /// Opens a new top-level window of the same browser (its own, empty sessionStorage, like a
    /// window the user opens), switches to it and loads `url`.
    pub async fn open_window(&self, url: &str) -> WindowHandle {
        let opened = self
            .client
            .new_window(false)
            .await
            .unwrap_or_else(|e| panic!("new window: {e}"));
        self.switch_to(&opened.handle).await;
        self.goto(url).await;
        opened.handle
    }

    /// Runs `window.open(url)` in the current page, as a click on a link with a new-tab target
    /// would: the new tab gets a copy of this tab's sessionStorage. Switches to the new tab and
    /// returns its handle.
    pub async fn duplicate_tab(&self, url: &str) -> WindowHandle {
        let before = self.windows().await;
        let script = format!(
            "window.open({}, '_blank'); return true;",
            serde_json::to_string(url).expect("a string")
        );
        self.execute(&script).await;
        let started = Instant::now();
        loop {
            let now = self.windows().await;
            if let Some(new) = now.into_iter().find(|w| !before.contains(w)) {
                self.switch_to(&new).await;
                return new;
            }
            assert!(
                started.elapsed() < WAIT,
                "window.open({url}) opened no new tab"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a screenshot, the page and the URL of every window, and the console log, under
    /// `target/e2e-artifacts/<name>/`.
    pub async fn save_artifacts(&self, name: &str) -> PathBuf {
        let dir = crate::bundle::workspace_root()
            .join("target/e2e-artifacts")
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::create_dir_all(&dir);
        let log: Vec<String> = self
            .console()
            .await
            .into_iter()
            .map(|(l, m)| format!("{l}\t{m}"))
            .collect();
        let _ = std::fs::write(dir.join("console.log"), log.join("\n"));
        let current = self.client.window().await.ok();
        let windows = self.client.windows().await.unwrap_or_default();
        for (i, w) in windows.iter().enumerate() {
            let suffix = if windows.len() > 1 {
                format!("-{}", i + 1)
            } else {
                String::new()
            };
            if windows.len() > 1 && self.client.switch_to_window(w.clone()).await.is_err() {
                continue;
            }
            if let Ok(png) = self.client.screenshot().await {
                let _ = std::fs::write(dir.join(format!("screenshot{suffix}.png")), png);
            }
            let _ = std::fs::write(dir.join(format!("url{suffix}.txt")), self.url().await);
            if let Ok(html) = self.client.source().await {
                let _ = std::fs::write(dir.join(format!("page{suffix}.html")), html);
            }
        }
        if let Some(w) = current {
            let _ = self.client.switch_to_window(w).await;
        }
        dir
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// How often [`Browser::click`] and friends look an element up again after it was replaced.
const RELOOKUPS: usize = 5;

fn is_stale(e: &fantoccini::error::CmdError) -> bool {
    e.to_string().contains("stale element")
}
