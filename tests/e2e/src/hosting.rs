//! Hosting the release bundle the way a deployment does, for tests/nginx.rs: a copy of the bundle
//! with its own `config.json`, the hosting files written by the very command the README documents
//! (`cargo xtask deploy`), and Debian's nginx serving it as a foreground process from a temporary
//! prefix (never /etc/nginx, never the system service).
//!
//! The bundle can also be built for a sub-path (trunk `--public-url /rc-pkce/`, as for GitHub
//! Pages), and `_headers` and `_redirects` can be read the way Netlify-style hosts apply them, so a
//! test can check that nginx answers every path exactly as those files say.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sandbox::{ClientRegistration, RunningSandbox, SandboxConfig};
use serde_json::json;

use crate::browser::Browser;
use crate::bundle::{release_bundle, tool_path, workspace_root};
use crate::env::{PASSWORD, USER, USER_NAME};

/// Debian's nginx, installed by `cargo xtask setup --browser`.
pub const NGINX: &str = "/usr/sbin/nginx";

/// A loopback port held by this listener until nginx is about to bind it (see [`Nginx::start`]):
/// a port only looked up and released could meanwhile go to another test's server, which would
/// then answer this test's requests.
pub fn reserve_port() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port")
}

/// Copies the files and folders under `from` into `to` (created).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()))
    {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

/// The release bundle built to be served under `base` (e.g. `/rc-pkce/`): `trunk build --release
/// --public-url <base>` into `target/e2e/dist-<name>`, with the e2e build's cargo target
/// directory (so only wasm-bindgen and wasm-opt run again). Rebuilt only when the root bundle of
/// [`release_bundle`] has changed since.
pub fn subpath_bundle(base: &str) -> PathBuf {
    use std::hash::{DefaultHasher, Hasher};
    let root_bundle = release_bundle();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root_bundle)
        .expect("the release bundle is readable")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut hasher = DefaultHasher::new();
    hasher.write(base.as_bytes());
    for f in &files {
        hasher.write(f.file_name().unwrap_or_default().as_encoded_bytes());
        hasher.write(&std::fs::read(f).unwrap_or_default());
    }
    let stamp = format!("{:016x}", hasher.finish());
    let root = workspace_root();
    let e2e = root.join("target/e2e");
    let name = base.trim_matches('/').replace('/', "-");
    let dist = e2e.join(format!("dist-{name}"));
    let stamp_file = e2e.join(format!("dist-{name}.stamp"));
    std::fs::create_dir_all(&e2e).expect("target/e2e can be created");
    // The lock `release_bundle` takes around its own trunk run (released before it returned):
    // two trunk builds never share the cargo target directory at once.
    let lock = std::fs::File::create(e2e.join("build.lock")).expect("build lock file");
    lock.lock().expect("build lock");
    let fresh = dist.join("index.html").is_file()
        && std::fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp);
    if !fresh {
        let _ = std::fs::remove_file(&stamp_file);
        let (ok, text) = run_command(
            Command::new("trunk")
                .current_dir(&root)
                .env("PATH", tool_path())
                .env("CARGO_TARGET_DIR", e2e.join("cargo"))
                .args(["build", "--release", "--public-url", base, "--dist"])
                .arg(&dist),
        );
        assert!(
            ok,
            "trunk build --release --public-url {base} failed:\n{text}"
        );
        std::fs::write(&stamp_file, &stamp).expect("write the stamp");
    }
    drop(lock);
    dist
}

/// `cargo xtask deploy <args>`, run from the workspace root with the cargo that runs the tests.
/// Cargo releases its build lock before it runs test binaries, so this does not wait on the
/// `cargo test` that started us.
pub fn deploy_command(args: &[String]) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args(["xtask", "deploy"])
        .args(args);
    command
}

/// Runs `command`, returning (success, stdout + stderr).
pub fn run_command(command: &mut Command) -> (bool, String) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("could not run {command:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// nginx in the foreground with a private prefix, serving one rendered server block.
pub struct Nginx {
    child: Child,
    pub dir: PathBuf,
    log: PathBuf,
}

impl Nginx {
    /// The main configuration around the server block: what Debian's /etc/nginx/nginx.conf
    /// provides (an `http` block that includes conf.d/*.conf), with every path inside `dir`. One
    /// process (no master), so stopping the child stops nginx.
    pub fn main_conf(dir: &Path, server_block: &Path) -> String {
        let d = dir.display();
        format!(
            "# Written by tests/e2e/src/hosting.rs; a stand-in for Debian's /etc/nginx/nginx.conf.\n\
             worker_processes 1;\n\
             master_process off;\n\
             events {{\n    worker_connections 64;\n}}\n\
             http {{\n\
             \x20   access_log {d}/access.log;\n\
             \x20   client_body_temp_path {d}/tmp/body;\n\
             \x20   proxy_temp_path {d}/tmp/proxy;\n\
             \x20   fastcgi_temp_path {d}/tmp/fastcgi;\n\
             \x20   uwsgi_temp_path {d}/tmp/uwsgi;\n\
             \x20   scgi_temp_path {d}/tmp/scgi;\n\
             \x20   include {};\n\
             }}\n",
            server_block.display()
        )
    }

    fn args(dir: &Path, conf: &Path) -> Vec<String> {
        vec![
            "-e".into(),
            "stderr".into(),
            "-p".into(),
            dir.display().to_string(),
            "-c".into(),
            conf.display().to_string(),
            "-g".into(),
            format!(
                "daemon off; pid {}; error_log stderr;",
                dir.join("nginx.pid").display()
            ),
        ]
    }

    /// Checks the configuration with `nginx -t`, then releases `reserved` (the listener holding
    /// `addr`), starts nginx and waits until `addr` accepts connections.
    pub fn start(
        dir: &Path,
        server_block: &Path,
        addr: SocketAddr,
        reserved: std::net::TcpListener,
    ) -> Self {
        assert!(
            Path::new(NGINX).exists(),
            "{NGINX} is missing: run `cargo xtask setup --browser`"
        );
        std::fs::create_dir_all(dir.join("tmp")).expect("nginx temp folder");
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, Self::main_conf(dir, server_block)).expect("write nginx.conf");
        let (ok, text) = run_command(Command::new(NGINX).arg("-t").args(Self::args(dir, &conf)));
        assert!(ok, "nginx -t refused the configuration:\n{text}");
        let log = dir.join("nginx.stderr");
        let stderr = std::fs::File::create(&log).expect("nginx log file");
        drop(reserved);
        let mut child = Command::new(NGINX)
            .args(Self::args(dir, &conf))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {NGINX}: {e}"));
        let started = Instant::now();
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "nginx exited ({status}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if started.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                panic!("nginx did not listen on {addr} within 15 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            dir: dir.to_path_buf(),
            log,
        }
    }

    /// What nginx wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The release bundle behind nginx, configured for an in-process sandbox, on ephemeral loopback
/// ports. Everything lives in one temporary folder, removed by [`Hosted::close`].
pub struct Hosted {
    pub origin: String,
    /// The base path the app is served under: `/` or e.g. `/rc-pkce/`.
    pub base: String,
    /// The served copy of the build (under nginx's root), with the `_headers` and `_redirects`
    /// the deploy step wrote.
    pub dist: PathBuf,
    pub config_json: String,
    /// What `cargo xtask deploy` printed.
    pub deploy_output: String,
    /// The deploy command line, as a user would type it.
    pub deploy_line: String,
    pub sandbox: RunningSandbox,
    pub nginx: Nginx,
    dir: PathBuf,
}

impl Hosted {
    /// The root bundle served at `/`.
    pub async fn start(name: &str) -> Self {
        Self::start_at(name, "/").await
    }

    /// The bundle built for `base` served there: the files go to `<tmp>/www<base>`, nginx's root
    /// is `<tmp>/www`.
    pub async fn start_at(name: &str, base: &str) -> Self {
        let base = base.to_string();
        let b = base.clone();
        let bundle = tokio::task::spawn_blocking(move || {
            if b == "/" {
                release_bundle().to_path_buf()
            } else {
                subpath_bundle(&b)
            }
        })
        .await
        .expect("bundle build task");
        let reserved = reserve_port();
        let port = reserved.local_addr().expect("reserved port").port();
        let origin = format!("http://127.0.0.1:{port}");
        let dir = std::env::temp_dir().join(format!(
            "rc-pkce-nginx-{name}-{}-{port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);

        let config = SandboxConfig {
            clients: vec![ClientRegistration::public(
                "rc-pkce-demo",
                &format!("{origin}{base}oauth2callback"),
            )],
            allowed_origins: vec![origin.clone()],
            rate_limits: None,
            ..Default::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sandbox");
        let sandbox = sandbox::spawn(config, listener)
            .await
            .expect("sandbox starts");
        let config_json = json!({
            "client_id": "rc-pkce-demo",
            "server": sandbox.base_url(),
            "issuer": sandbox.base_url(),
        })
        .to_string();

        // The deploy section's steps: the build folder gets the deployment's config.json, `cargo
        // xtask deploy` writes _headers, _redirects and the server block (naming the web root the
        // files will be copied to), the files are copied there, nginx includes the block.
        let build = dir.join("dist");
        copy_dir(&bundle, &build);
        std::fs::write(build.join("config.json"), &config_json).expect("write config.json");
        let web_root = dir.join("www");
        let server_block = dir.join("rc-pkce.conf");
        let listen = format!("127.0.0.1:{port}");
        let args: Vec<String> = vec![
            "--dist".into(),
            build.display().to_string(),
            "--url".into(),
            format!("{origin}{base}"),
            "--nginx-root".into(),
            web_root.display().to_string(),
            "--nginx-listen".into(),
            listen.clone(),
            "--nginx-out".into(),
            server_block.display().to_string(),
        ];
        let deploy_line = format!("cargo xtask deploy {}", args.join(" "));
        let mut deploy = deploy_command(&args);
        let (ok, deploy_output) = tokio::task::spawn_blocking(move || run_command(&mut deploy))
            .await
            .expect("deploy task");
        assert!(ok, "{deploy_line} failed:\n{deploy_output}");
        let dist = web_root.join(base.trim_matches('/'));
        copy_dir(&build, &dist);

        let addr: SocketAddr = listen.parse().expect("listen address");
        let nginx = Nginx::start(&dir, &server_block, addr, reserved);
        Self {
            origin,
            base,
            dist,
            config_json,
            deploy_output,
            deploy_line,
            sandbox,
            nginx,
            dir,
        }
    }

    /// `path` under the origin (not the base): `url("/rc-pkce/account")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// The app's page for `route` (`""`, `"account"`, ...), under the base.
    pub fn page(&self, route: &str) -> String {
        format!("{}{}{route}", self.origin, self.base)
    }

    /// The sandbox's request log.
    pub async fn sandbox_requests(&self) -> Vec<serde_json::Value> {
        let url = format!("{}/__sandbox/requests", self.sandbox.base_url());
        reqwest::get(&url)
            .await
            .expect("admin requests")
            .json()
            .await
            .expect("request log is JSON")
    }

    pub async fn close(self) {
        let Self {
            sandbox,
            nginx,
            dir,
            ..
        } = self;
        drop(nginx);
        sandbox.shutdown().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// From the home page at `home` through the sandbox's consent page to the account page.
pub async fn sign_in(browser: &Browser, home: &str) {
    browser.goto(home).await;
    browser.click("[data-testid=sign-in]").await;
    browser.wait_for("input[name=username]").await;
    browser.type_into("input[name=username]", USER).await;
    browser.type_into("input[name=password]", PASSWORD).await;
    browser.click("button[name=decision][value=allow]").await;
    browser
        .wait_for_text("[data-testid=user-name]", USER_NAME)
        .await;
}

/// What a Netlify-style host answers for a path, according to `_headers` and `_redirects`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Predicted {
    pub status: u16,
    /// The file whose content is served (relative to the build), for a 200.
    pub file: Option<String>,
    /// The headers the `_headers` rules give the path (names as written there).
    pub headers: Vec<(String, String)>,
}

/// `_headers` and `_redirects` of a build, read the way Netlify and Cloudflare Pages read them.
#[derive(Debug, Clone)]
pub struct HostRules {
    /// (path pattern, headers) in file order.
    pub headers: Vec<(String, Vec<(String, String)>)>,
    /// (from, to, status) in file order.
    pub redirects: Vec<(String, String, u16)>,
}

fn pattern_matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    }
}

impl HostRules {
    pub fn read(dist: &Path) -> Self {
        let read = |name: &str| {
            std::fs::read_to_string(dist.join(name))
                .unwrap_or_else(|e| panic!("{name} in {}: {e}", dist.display()))
        };
        Self::parse(&read("_headers"), &read("_redirects"))
    }

    pub fn parse(headers_file: &str, redirects_file: &str) -> Self {
        let mut headers: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for line in headers_file.lines() {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            if line.starts_with(char::is_whitespace) {
                let (name, value) = line
                    .trim()
                    .split_once(':')
                    .unwrap_or_else(|| panic!("_headers line without a colon: {line:?}"));
                headers
                    .last_mut()
                    .expect("a header belongs to a path")
                    .1
                    .push((name.trim().to_string(), value.trim().to_string()));
            } else {
                headers.push((line.trim().to_string(), Vec::new()));
            }
        }
        let redirects = redirects_file
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                assert!(words.len() == 3, "_redirects line: {l:?}");
                (
                    words[0].to_string(),
                    words[1].to_string(),
                    words[2].parse().expect("status"),
                )
            })
            .collect();
        Self { headers, redirects }
    }

    /// The answer for `path` (a query is ignored): an existing file, the base folder's
    /// index.html, a 200 rewrite, or a 404. Headers of every matching rule are combined; a header
    /// set by two rules gets both values joined by ", " (as Cloudflare Pages does).
    pub fn predict(&self, dist: &Path, base: &str, path: &str) -> Predicted {
        let path = path.split('?').next().unwrap_or(path);
        let file_for = |p: &str| -> Option<String> {
            let rel = p.strip_prefix(base)?;
            if rel.is_empty() {
                return Some("index.html".into());
            }
            let hidden = rel == "_headers" || rel == "_redirects";
            (!hidden && !rel.contains("..") && dist.join(rel).is_file()).then(|| rel.to_string())
        };
        let file = file_for(path).or_else(|| {
            self.redirects
                .iter()
                .find(|(from, _, status)| *status == 200 && pattern_matches(from, path))
                .and_then(|(_, to, _)| file_for(to))
        });
        let mut headers: Vec<(String, String)> = Vec::new();
        for (pattern, rule) in &self.headers {
            if !pattern_matches(pattern, path) {
                continue;
            }
            for (name, value) in rule {
                match headers
                    .iter_mut()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                {
                    Some((_, v)) => *v = format!("{v}, {value}"),
                    None => headers.push((name.clone(), value.clone())),
                }
            }
        }
        Predicted {
            status: if file.is_some() { 200 } else { 404 },
            file,
            headers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_redirects_are_read_like_a_netlify_host() {
        let rules = HostRules::parse(
            "# c\n/*\n  X-Frame-Options: DENY\n\n/\n  Cache-Control: no-cache\n/a.js\n  Cache-Control: x\n/*\n  Cache-Control: y\n",
            "# c\n/account  /  200\n",
        );
        let dist = std::env::temp_dir().join(format!("hosting-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::write(dist.join("a.js"), "").unwrap();
        std::fs::write(dist.join("index.html"), "").unwrap();
        let p = rules.predict(&dist, "/", "/account?x=1");
        assert_eq!(p.status, 200);
        assert_eq!(p.file.as_deref(), Some("index.html"));
        assert_eq!(
            p.headers,
            [
                ("X-Frame-Options".to_string(), "DENY".to_string()),
                ("Cache-Control".into(), "y".into())
            ]
        );
        let p = rules.predict(&dist, "/", "/a.js");
        assert_eq!(p.headers[1], ("Cache-Control".into(), "x, y".into()));
        assert_eq!(rules.predict(&dist, "/", "/b.js").status, 404);
        assert_eq!(rules.predict(&dist, "/", "/other").status, 404);
        let _ = std::fs::remove_dir_all(dist);
    }
}
