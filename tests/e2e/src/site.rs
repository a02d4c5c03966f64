//! A static host for the release bundle, behaving like the production hosting configs in
//! `deploy/`: hashed assets cached for a year, `index.html` and `config.json` never cached, an SPA
//! fallback to `index.html` for app routes, `application/wasm` for the module, and the security
//! headers with a CSP computed from the served config.

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
        let csp = match &config {
            ConfigFile::Json(text) => {
                rc_pkce_core::config::parse_config(text, &format!("{}/", self.origin))
                    .map(|c| rc_pkce_core::config::content_security_policy(&c))
                    .ok()
            }
            ConfigFile::Missing => None,
        };
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
    stem.rsplit_once('-')
        .is_some_and(|(_, h)| h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit()))
}

async fn serve(state: State, req: Request<Body>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let (status, body, file) = if path == "/config.json" {
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
    state.log.lock().unwrap().push(Served {
        path: path.clone(),
        query,
        status: status.as_u16(),
        bytes: body.len(),
    });
    let mut resp = Response::builder().status(status);
    let h = resp.headers_mut().expect("builder is fresh");
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
    }
}
