//! A static host for the release bundle, behaving like the production hosting configs in
//! `deploy/`: hashed assets cached for a year, the other files revalidated on every use (`no-cache`
//! with an `ETag`, answered `304 Not Modified` when unchanged, as nginx and CDNs do), an SPA
//! fallback to `index.html` for app routes, `application/wasm` for the module, and the security
//! headers with a CSP computed from the served config. Bodies are plain unless the bench turns
//! brotli on ([`Site::set_compression`]) for its throttled figures, where bytes on the wire count.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};

/// What `config.json` answers.
#[derive(Clone, Debug)]
pub enum ConfigFile {
    /// This JSON text with status 200.
    Json(String),
    /// 404 Not Found.
    Missing,
}

/// One file the site served.
#[derive(Clone, Debug)]
pub struct Served {
    pub path: String,
    /// The query string, if the request had one (e.g. a callback's `code` and `state`).
    pub query: Option<String>,
    pub status: u16,
    pub bytes: usize,
}

#[derive(Clone)]
struct State {
    dist: PathBuf,
    config: Arc<Mutex<ConfigFile>>,
    csp: Arc<Mutex<String>>,
    log: Arc<Mutex<Vec<Served>>>,
    /// While true, the app's own module (not boot.js, not the first-load modules) is not answered.
    hold_app: tokio::sync::watch::Sender<bool>,
    /// While true, the app's own module answers 404 Not Found: the app cannot start.
    break_app: Arc<std::sync::atomic::AtomicBool>,
    /// While true, answers in brotli to clients that accept it (the bench's throttled phase).
    compress: Arc<std::sync::atomic::AtomicBool>,
    /// Brotli bodies by ETag, so each file is compressed once.
    brotli: Arc<Mutex<std::collections::HashMap<String, Vec<u8>>>>,
}

/// `bytes` compressed as a host would precompress static files: brotli quality 11, window 22.
pub fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).expect("brotli in memory");
    out
}

/// The app's hashed JS and wasm (`rc-pkce-<hex>.js`, `..._bg.wasm`), not the first-load modules.
pub fn is_app_module(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or("");
    name.strip_prefix("rc-pkce-").is_some_and(|rest| {
        let hash = rest
            .strip_suffix("_bg.wasm")
            .or_else(|| rest.strip_suffix(".js"))
            .unwrap_or("");
        is_hash(hash)
    })
}

/// The hex digits trunk (and `xtask hash-first-load`) put in a file name: a 64-bit hash without
/// leading zeros, so 15 digits in about one build of 16 (fewer than 12 is taken for a word, as by
/// `xtask deploy`).
fn is_hash(s: &str) -> bool {
    (12..=16).contains(&s.len()) && s.chars().all(|c| c.is_ascii_hexdigit())
}

pub struct Site {
    pub origin: String,
    state: State,
    task: tokio::task::JoinHandle<()>,
}

impl Site {
    /// Binds 127.0.0.1:0 and serves `dist`.
    pub async fn start(dist: PathBuf) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let state = State {
            dist,
            config: Arc::new(Mutex::new(ConfigFile::Missing)),
            csp: Arc::new(Mutex::new(String::new())),
            log: Arc::new(Mutex::new(Vec::new())),
            hold_app: tokio::sync::watch::channel(false).0,
            break_app: Arc::default(),
            compress: Arc::default(),
            brotli: Arc::default(),
        };
        let s = state.clone();
        let app = Router::new().fallback(move |req: Request<Body>| serve(s.clone(), req));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            origin: format!("http://{addr}"),
            state,
            task,
        })
    }

    /// Sets what `config.json` answers, and the CSP header to match it.
    pub fn set_config(&self, config: ConfigFile) {
        self.set_config_allowing(config, &[]);
    }

    /// [`Site::set_config`], with `extra_connect` origins added to the CSP's `connect-src`, as a
    /// deployment that still allows a server it used to be configured for would send. Without
    /// them, the CSP the app is served with blocks every request to a server the configuration
    /// no longer names (a revoke where an old session came from, say).
    pub fn set_config_allowing(&self, config: ConfigFile, extra_connect: &[String]) {
        let csp = match &config {
            ConfigFile::Json(text) => {
                rc_pkce_core::config::parse_config(text, &format!("{}/", self.origin))
                    .map(|c| rc_pkce_core::config::content_security_policy(&c))
                    .ok()
            }
            ConfigFile::Missing => None,
        };
        let csp = csp.map(|csp| {
            if extra_connect.is_empty() {
                return csp;
            }
            let extra = extra_connect.join(" ");
            csp.replacen("connect-src ", &format!("connect-src {extra} "), 1)
        });
        *self.state.csp.lock().unwrap() = csp.unwrap_or_else(|| {
            // An unusable config still gets a strict policy: the app only fetches config.json.
            "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'".into()
        });
        *self.state.config.lock().unwrap() = config;
    }

    pub fn csp(&self) -> String {
        self.state.csp.lock().unwrap().clone()
    }

    pub fn served(&self) -> Vec<Served> {
        self.state.log.lock().unwrap().clone()
    }

    pub fn clear_log(&self) {
        self.state.log.lock().unwrap().clear();
    }

    /// Holds back the app's module (see [`is_app_module`]) until [`Site::release_app`]: the page
    /// then has only what the first-load modules do, as on a slow network.
    pub fn hold_app(&self) {
        self.state.hold_app.send_replace(true);
    }

    pub fn release_app(&self) {
        self.state.hold_app.send_replace(false);
    }

    /// From now on the app's module (see [`is_app_module`]) answers 404 and `index.html` names one
    /// that is not there (the browser would take the real one from its cache): boot.js cannot
    /// start the app, as after a broken deployment, and only the first-load modules run.
    pub fn break_app(&self) {
        self.state
            .break_app
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// From now on (`on`) answers in brotli (`Content-Encoding: br`) when the browser accepts it,
    /// as a production host does; off by default, so the tests see plain bodies. Compresses every
    /// file of the bundle first, so no request waits for the encoder.
    pub fn set_compression(&self, on: bool) {
        if on {
            let mut files = Vec::new();
            let mut dirs = vec![self.state.dist.clone()];
            while let Some(dir) = dirs.pop() {
                for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        dirs.push(path);
                    } else {
                        files.push(path);
                    }
                }
            }
            let mut cache = self.state.brotli.lock().unwrap();
            for body in files.iter().filter_map(|f| std::fs::read(f).ok()) {
                cache.entry(etag(&body)).or_insert_with(|| brotli(&body));
            }
        }
        self.state
            .compress
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Hashed names (`name-0123456789abcdef.ext`) never change content, so they are cached for a year.
pub fn is_hashed(path: &str) -> bool {
    let stem = path
        .rsplit('/')
        .next()
        .unwrap_or("")
        .split('.')
        .next()
        .unwrap_or("");
    let stem = stem.trim_end_matches("_bg");
    stem.rsplit_once('-').is_some_and(|(_, h)| is_hash(h))
}

/// `page` with each name of the app's module (`rc-pkce-<hex>`) changed to one never served.
fn without_app_module(page: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(page);
    let mut out = String::new();
    let mut rest = text.as_ref();
    while let Some(at) = rest.find("rc-pkce-") {
        let (before, after) = rest.split_at(at + "rc-pkce-".len());
        out.push_str(before);
        rest = after;
        // The whole run of hex digits: trunk leaves out leading zeros, so a hash may be shorter
        // than 16 (then a 16-digit window would take the `.` in and the name stay as it was).
        let digits = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_hexdigit())
                .len();
        if is_hash(&rest[..digits]) {
            out.push_str(&"0".repeat(digits));
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out.into_bytes()
}

/// A strong validator for `body`.
fn etag(body: &[u8]) -> String {
    use std::hash::{DefaultHasher, Hasher};
    let mut h = DefaultHasher::new();
    h.write(body);
    format!("\"{:016x}-{:x}\"", h.finish(), body.len())
}

async fn serve(state: State, req: Request<Body>) -> Response<Body> {
    let path = req.uri().path().to_string();
    if is_app_module(&path) {
        let mut held = state.hold_app.subscribe();
        let _ = held.wait_for(|hold| !hold).await;
    }
    let if_none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let query = req.uri().query().map(str::to_string);
    let accepts_brotli = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("br")));
    let broken = is_app_module(&path) && state.break_app.load(std::sync::atomic::Ordering::SeqCst);
    let (status, body, file) = if broken {
        (
            StatusCode::NOT_FOUND,
            b"not found".to_vec(),
            "not-found.txt".to_string(),
        )
    } else if path == "/config.json" {
        match state.config.lock().unwrap().clone() {
            ConfigFile::Json(text) => {
                (StatusCode::OK, text.into_bytes(), "config.json".to_string())
            }
            ConfigFile::Missing => (
                StatusCode::NOT_FOUND,
                b"not found".to_vec(),
                "config.json".into(),
            ),
        }
    } else {
        let rel = path.trim_start_matches('/');
        let candidate = state.dist.join(rel);
        let is_file = !rel.is_empty() && !rel.contains("..") && candidate.is_file();
        if is_file {
            (
                StatusCode::OK,
                tokio::fs::read(&candidate).await.unwrap_or_default(),
                rel.to_string(),
            )
        } else if !rel.contains('.') {
            // An app route: the SPA handles it.
            (
                StatusCode::OK,
                tokio::fs::read(state.dist.join("index.html"))
                    .await
                    .unwrap_or_default(),
                "index.html".into(),
            )
        } else {
            (
                StatusCode::NOT_FOUND,
                b"not found".to_vec(),
                rel.to_string(),
            )
        }
    };
    // index.html is revalidated on every load, while the app's hashed files are cached for a
    // year: a broken deployment is one whose page names an app module that is not there.
    let body = if state.break_app.load(std::sync::atomic::Ordering::SeqCst) && file == "index.html"
    {
        without_app_module(&body)
    } else {
        body
    };
    let tag = etag(&body);
    let (status, body) = if status == StatusCode::OK && if_none_match.as_deref() == Some(&tag) {
        (StatusCode::NOT_MODIFIED, Vec::new())
    } else {
        (status, body)
    };
    state.log.lock().unwrap().push(Served {
        path: path.clone(),
        query,
        status: status.as_u16(),
        bytes: body.len(),
    });
    let compress = status == StatusCode::OK
        && accepts_brotli
        && state.compress.load(std::sync::atomic::Ordering::SeqCst);
    let (body, encoded) = if compress {
        let mut cache = state.brotli.lock().unwrap();
        let compressed = cache.entry(tag.clone()).or_insert_with(|| brotli(&body));
        (compressed.clone(), true)
    } else {
        (body, false)
    };
    let mut resp = Response::builder().status(status);
    let h = resp.headers_mut().expect("builder is fresh");
    if encoded {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&file)),
    );
    let cache = if is_hashed(&file) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&state.csp.lock().unwrap()) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp.body(Body::from(body)).expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        assert!(is_hashed("rc-pkce-59c249bd5cd2c804.js"));
        assert!(is_hashed("rc-pkce-59c249bd5cd2c804_bg.wasm"));
        assert!(is_hashed("main-550ebb3dbda9916a.css"));
        assert!(!is_hashed("index.html"));
        assert!(!is_hashed("config.json"));
        assert!(!is_hashed("boot.js"));
        assert!(is_hashed("boot-59c249bd5cd2c804.js"));
        assert!(is_hashed("rc-pkce-home-59c249bd5cd2c804_bg.wasm"));
    }

    #[test]
    fn a_broken_page_names_no_app_module_whatever_the_hashs_length() {
        let page = br#"<script data-js="/rc-pkce-58a950131d7f72.js" data-wasm="/rc-pkce-58a950131d7f72_bg.wasm" data-home="/rc-pkce-home-110de02ccbd4e1a4" data-callback="/rc-pkce-callback-4b77639bc0f5b6e0"></script><title>rc-pkce-demo</title> rc-pkce-59c249bd5cd2c804.js"#;
        let broken = String::from_utf8(without_app_module(page)).unwrap();
        assert_eq!(
            broken,
            r#"<script data-js="/rc-pkce-00000000000000.js" data-wasm="/rc-pkce-00000000000000_bg.wasm" data-home="/rc-pkce-home-110de02ccbd4e1a4" data-callback="/rc-pkce-callback-4b77639bc0f5b6e0"></script><title>rc-pkce-demo</title> rc-pkce-0000000000000000.js"#
        );
    }

    #[test]
    fn app_modules() {
        assert!(is_app_module("/rc-pkce-59c249bd5cd2c804.js"));
        assert!(is_app_module("/sub/rc-pkce-59c249bd5cd2c804_bg.wasm"));
        assert!(!is_app_module("/rc-pkce-home-59c249bd5cd2c804.js"));
        assert!(!is_app_module("/rc-pkce-callback-59c249bd5cd2c804_bg.wasm"));
        assert!(!is_app_module("/boot-59c249bd5cd2c804.js"));
        assert!(!is_app_module("/rc-pkce-59c249bd5cd2c804.json"));
    }
}
