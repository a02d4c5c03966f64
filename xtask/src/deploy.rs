//! `cargo xtask deploy` and `cargo xtask csp`: the hosting configuration of one deployment,
//! generated from the release build and the `config.json` that will be served beside it.
//!
//! The Content-Security-Policy lists the origins `config.json` points at, so the headers cannot be
//! a fixed file in the repository: they are rendered per deployment. `deploy` validates
//! `<dist>/config.json` with the app's own parser (so it refuses a `client_secret` with the app's
//! message), checks that the build's base path (trunk `--public-url`) matches the public URL,
//! writes `_headers` and `_redirects` (Netlify, Cloudflare Pages) and `robots.txt` into the
//! build, and renders the nginx server block from `deploy/nginx/rc-pkce.conf.template`. All three express one set of
//! rules, [`Site`]:
//!
//! - hashed assets (`name-<12 to 16 hex>.js|.wasm|.css`): `Cache-Control: public, max-age=31536000,
//!   immutable`;
//! - every other file, the base path and the app's routes: `Cache-Control: no-cache`, but the
//!   redirect URI `no-store` (its URL carried a code; nginx does not log it either);
//! - the app's routes ([`APP_ROUTES`]) serve `index.html` with 200, anything else missing is a 404;
//! - every response: the CSP of [`content_security_policy`], `Referrer-Policy: no-referrer`,
//!   `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
//!   `Cross-Origin-Opener-Policy: same-origin`; nginx over https also HSTS;
//! - the `.wasm` is `application/wasm`.
//!
//! With `"discovery": true` the endpoints are only known once the app reads the issuer's metadata
//! in the browser, so the policy covers the issuer's origin and the endpoints config.json names or
//! implies, and both commands say so ([`rc_pkce_core::discovery::policy_assumption`]): the
//! document's endpoints must be on those origins.

use std::path::{Path, PathBuf};

use rc_pkce_core::config::{AppConfig, content_security_policy, parse_config};
use rc_pkce_core::discovery::policy_assumption;
use rc_pkce_core::url::HttpUrl;

use crate::{Error, Result};

/// The nginx server block, with `{{placeholders}}`.
pub const NGINX_TEMPLATE: &str = include_str!("../../deploy/nginx/rc-pkce.conf.template");
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
pub const NO_CACHE: &str = "no-cache";
/// The redirect URI: its response is the same index.html, but a page whose URL carried a code is
/// kept in no cache (browser-based apps BCP).
pub const NO_STORE: &str = "no-store";
/// Opened windows of other origins get no handle on the app's window and the app none on theirs.
/// A popup sign-in would need `same-origin-allow-popups` (see deploy/README.md).
pub const OPENER_POLICY: &str = "same-origin";
/// For https deployments (nginx with `ssl` in its listen value): two years.
pub const HSTS: &str = "max-age=63072000";
/// The app's client-side routes besides the base path itself, all served by `index.html`. A test
/// keeps this list in step with the pages of `Page::at` in src/present.rs.
pub const APP_ROUTES: [&str; 3] = ["oauth2callback", "account", "settings"];
/// What `deploy` writes into the build for Netlify-style hosts; never served as content.
pub const HOST_FILES: [&str; 2] = ["_headers", "_redirects"];
/// The page URL `csp` assumes without `--url`: where `cargo xtask dev` serves the app.
pub const DEV_URL: &str = "http://localhost:5000/";
/// nginx's listen address when `--nginx-listen` is not given.
pub const DEFAULT_LISTEN: &str = "80";

/// `deploy`'s command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployOptions {
    pub dist: PathBuf,
    pub url: String,
    pub nginx_out: Option<PathBuf>,
    pub nginx_listen: String,
    pub nginx_root: Option<PathBuf>,
}

/// `csp`'s command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CspOptions {
    pub config: PathBuf,
    pub url: String,
}

fn flag_value<'a>(
    flag: &str,
    args: &mut impl Iterator<Item = &'a String>,
) -> std::result::Result<String, String> {
    match args.next() {
        Some(value) if !value.starts_with("--") => Ok(value.clone()),
        _ => Err(format!("{flag} needs a value")),
    }
}

pub fn parse_deploy(args: &[String]) -> std::result::Result<DeployOptions, String> {
    let (mut dist, mut url, mut out, mut listen, mut root) = (None, None, None, None, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let flag = arg.as_str();
        let slot = match flag {
            "--dist" => &mut dist,
            "--url" => &mut url,
            "--nginx-out" => &mut out,
            "--nginx-listen" => &mut listen,
            "--nginx-root" => &mut root,
            other => return Err(format!("unknown option '{other}' for 'deploy'")),
        };
        if slot.is_some() {
            return Err(format!("{flag} given twice"));
        }
        *slot = Some(flag_value(flag, &mut args)?);
    }
    let dist = dist.ok_or("deploy needs --dist <the trunk build folder>")?;
    let url = url.ok_or("deploy needs --url <the app's public URL, e.g. https://example.com/>")?;
    if out.is_none() && (listen.is_some() || root.is_some()) {
        return Err("--nginx-listen and --nginx-root only go with --nginx-out <file>".into());
    }
    Ok(DeployOptions {
        dist: PathBuf::from(dist),
        url,
        nginx_out: out.map(PathBuf::from),
        nginx_listen: listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string()),
        nginx_root: root.map(PathBuf::from),
    })
}

pub fn parse_csp(args: &[String]) -> std::result::Result<CspOptions, String> {
    let (mut config, mut url) = (None, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" if url.is_none() => url = Some(flag_value("--url", &mut args)?),
            other if !other.starts_with("--") && config.is_none() => {
                config = Some(PathBuf::from(other));
            }
            other => return Err(format!("unexpected argument '{other}' for 'csp'")),
        }
    }
    Ok(CspOptions {
        config: config.ok_or("csp needs the path of a config.json")?,
        url: url.unwrap_or_else(|| DEV_URL.to_string()),
    })
}

/// Where the app is served: `https://example.com/` or `https://example.github.io/rc-pkce/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `scheme://host[:port]`.
    pub origin: String,
    /// The host alone (nginx's `server_name`).
    pub host: String,
    /// The base path: `/` or `/sub/path/`, always with both slashes.
    pub base: String,
}

impl PublicUrl {
    pub fn parse(url: &str) -> std::result::Result<Self, String> {
        let parsed = HttpUrl::parse(url).map_err(|e| format!("is not a usable URL: {e}"))?;
        if !parsed.is_https() && !parsed.is_loopback() {
            return Err(
                "must be https: the page holds the tokens (plain http only for localhost and 127.0.0.1)"
                    .into(),
            );
        }
        let base = if parsed.rest.is_empty() {
            "/".to_string()
        } else {
            parsed.rest.clone()
        };
        if base.contains(['?', '#']) {
            return Err("must not have a query or fragment: give the folder the app is served from, e.g. https://example.com/rc-pkce/".into());
        }
        if !base.ends_with('/') {
            return Err(format!(
                "must end with a slash: the app is served from a folder (try {}{base}/)",
                parsed.origin()
            ));
        }
        let segments_ok = base
            .trim_matches('/')
            .split('/')
            .all(|s| base == "/" || (!s.is_empty() && s != "." && s != ".."));
        let chars_ok = base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~/".contains(c));
        if !segments_ok || !chars_ok {
            return Err(format!(
                "has a base path ({base}) with empty, dot or special segments; use letters, digits, '-', '_', '.' and '~'"
            ));
        }
        Ok(Self {
            origin: parsed.origin(),
            host: parsed
                .host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            base,
        })
    }

    /// The page base the app computes for itself, which `parse_config` needs.
    pub fn page_base(&self) -> String {
        format!("{}{}", self.origin, self.base)
    }
}

/// Whether a build file has a content hash in its name (`rc-pkce-0123456789abcdef_bg.wasm`): its
/// content can never change, so it can be cached forever.
pub fn is_hashed(file_name: &str) -> bool {
    let Some((stem, ext)) = file_name.split_once('.') else {
        return false;
    };
    if !matches!(ext, "js" | "wasm" | "css") {
        return false;
    }
    stem.trim_end_matches("_bg")
        .rsplit_once('-')
        .is_some_and(|(name, h)| {
            !name.is_empty()
                // trunk writes its 64-bit hash in hex without leading zeros: about one build in
                // 16 has a 15-digit name. Below 12 digits (1 in 65,536) it is taken for a word.
                && (12..=16).contains(&h.len())
                && h.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
        })
}

/// One deployment: the public URL, the validated config, its CSP and the build's files.
#[derive(Debug, Clone)]
pub struct Site {
    pub url: PublicUrl,
    pub config: AppConfig,
    pub csp: String,
    /// Files with a content hash, relative to the build folder with `/` separators, sorted.
    pub hashed: Vec<String>,
    /// Every other file of the build (without [`HOST_FILES`]), sorted.
    pub other: Vec<String>,
}

fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{prefix}{name}");
        if entry.file_type()?.is_dir() {
            files_under(&entry.path(), &format!("{rel}/"), out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

/// The value of the first `name="..."` attribute in `html`.
pub fn html_attribute<'a>(html: &'a str, name: &str) -> Option<&'a str> {
    let opening = format!("{name}=\"");
    let start = html.find(&opening)? + opening.len();
    let len = html[start..].find('"')?;
    Some(&html[start..start + len])
}

/// The value of `data-base="..."` on the element trunk wrote into index.html for the boot script.
fn built_base(index_html: &str) -> Option<&str> {
    html_attribute(index_html, "data-base")
}

impl Site {
    /// Reads and checks the build in `dist` for serving at `url`.
    pub fn load(dist: &Path, url: &PublicUrl) -> Result<Self> {
        let fail = |message: String| Error::new(format!("deploy: {message}")).with_code(2);
        let index_path = dist.join("index.html");
        let index = std::fs::read_to_string(&index_path).map_err(|e| {
            fail(format!(
                "cannot read {} ({e}): --dist must be the folder `trunk build --release` wrote",
                index_path.display()
            ))
        })?;
        let Some(base) = built_base(&index) else {
            return Err(fail(format!(
                "{} has no boot script with data-base: is it a `trunk build --release` of this repository?",
                index_path.display()
            )));
        };
        if base != url.base {
            return Err(fail(format!(
                "the build expects to be served from {base} but --url says {}: rebuild with `trunk build --release --public-url {}` (or fix --url)",
                url.base, url.base
            )));
        }
        let config_path = dist.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(|e| {
            fail(format!(
                "cannot read {} ({e}): put the deployment's config.json beside index.html",
                config_path.display()
            ))
        })?;
        let config = parse_config(&text, &url.page_base())
            .map_err(|e| fail(format!("{}: {e}", config_path.display())))?;
        let mut files = Vec::new();
        files_under(dist, "", &mut files)
            .map_err(|e| fail(format!("cannot list {}: {e}", dist.display())))?;
        files.retain(|f| !HOST_FILES.contains(&f.as_str()));
        files.sort();
        let (hashed, other) = files
            .into_iter()
            .partition(|f| is_hashed(f.rsplit('/').next().unwrap_or(f)));
        Ok(Self {
            url: url.clone(),
            csp: content_security_policy(&config),
            config,
            hashed,
            other,
        })
    }

    /// With discovery, which origins the CSP assumes the document's endpoints are on.
    pub fn assumption(&self) -> Option<String> {
        policy_assumption(&self.config)
    }

    /// The headers every response carries.
    pub fn security_headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("Content-Security-Policy", self.csp.clone()),
            ("Referrer-Policy", "no-referrer".into()),
            ("X-Content-Type-Options", "nosniff".into()),
            ("X-Frame-Options", "DENY".into()),
            ("Cross-Origin-Opener-Policy", OPENER_POLICY.into()),
        ]
    }

    /// The redirect URI's path.
    pub fn callback_path(&self) -> String {
        format!("{}oauth2callback", self.url.base)
    }

    /// URL paths of the app's routes, the base first.
    pub fn route_paths(&self) -> Vec<String> {
        std::iter::once(self.url.base.clone())
            .chain(APP_ROUTES.iter().map(|r| format!("{}{r}", self.url.base)))
            .collect()
    }

    /// The `_headers` rules in file order: one for all paths with the security headers, then one
    /// `Cache-Control` per path, so no two rules set the same header for a path (Cloudflare
    /// would join the values with a comma).
    pub fn header_rules(&self) -> Vec<(String, Vec<(&'static str, String)>)> {
        let base = &self.url.base;
        let mut rules = vec![(format!("{base}*"), self.security_headers())];
        for path in self.route_paths() {
            let cache = if path == self.callback_path() {
                NO_STORE
            } else {
                NO_CACHE
            };
            rules.push((path, vec![("Cache-Control", cache.into())]));
        }
        for file in &self.other {
            rules.push((
                format!("{base}{file}"),
                vec![("Cache-Control", NO_CACHE.into())],
            ));
        }
        for file in &self.hashed {
            let mut headers = vec![("Cache-Control", IMMUTABLE.to_string())];
            if file.ends_with(".wasm") {
                headers.push(("Content-Type", "application/wasm".into()));
            }
            rules.push((format!("{base}{file}"), headers));
        }
        rules
    }

    /// `_headers` for Netlify and Cloudflare Pages.
    pub fn headers_file(&self) -> String {
        let mut out = String::from(
            "# rc-pkce: response headers for Netlify and Cloudflare Pages, written by `cargo xtask deploy`\n\
             # for this build and this config.json (the Content-Security-Policy lists its endpoints'\n\
             # origins): render it again after changing either. nginx gets the same rules.\n",
        );
        for (path, headers) in self.header_rules() {
            out.push('\n');
            out.push_str(&path);
            out.push('\n');
            for (name, value) in headers {
                out.push_str(&format!("  {name}: {value}\n"));
            }
        }
        out
    }

    /// `robots.txt`: the sign-in page may be listed, the app's other routes are of no use to a
    /// crawler (the redirect URI least of all). Crawlers read only the origin's own
    /// `/robots.txt`: under a base path, these lines belong in that file.
    pub fn robots_file(&self) -> String {
        let base = &self.url.base;
        let mut out = format!(
            "# rc-pkce at {base}: the sign-in page may be listed; the other pages show a crawler nothing.\n\
             # Crawlers read only the origin's /robots.txt: under a base path, copy these lines into it.\n\
             User-agent: *\n"
        );
        for route in APP_ROUTES {
            out.push_str(&format!("Disallow: {base}{route}\n"));
        }
        out
    }

    /// `_redirects` for Netlify and Cloudflare Pages: each app route is a 200 rewrite to the base
    /// (which serves index.html). No catch-all, so a missing asset stays a 404.
    pub fn redirects_file(&self) -> String {
        let mut out = String::from(
            "# rc-pkce: the app's routes for Netlify and Cloudflare Pages, written by `cargo xtask deploy`.\n\
             # Each serves the single-page app (index.html) with status 200; other missing paths are 404s.\n",
        );
        for route in APP_ROUTES {
            out.push_str(&format!(
                "{base}{route}  {base}  200\n",
                base = self.url.base
            ));
        }
        out
    }

    /// The nginx server block for this deployment, serving files from `root` (the folder that
    /// holds the base path: the build folder itself when the base is `/`).
    pub fn nginx(&self, listen: &str, root: &Path) -> Result<String> {
        let fail = |message: String| Error::new(format!("deploy: {message}")).with_code(2);
        let root = root.to_string_lossy();
        // Both go inside double quotes, where only these characters mean something to nginx.
        let unsafe_for_nginx = |s: &str| s.contains(['"', '\\', '$', '{', '}', '\n', '\r']);
        if unsafe_for_nginx(&root) || !root.starts_with('/') {
            return Err(fail(format!(
                "nginx root {root} must be an absolute path without quotes, backslashes, '$' or braces"
            )));
        }
        if listen.is_empty()
            || !listen
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " .:[]_-=".contains(c))
        {
            return Err(fail(format!(
                "--nginx-listen {listen:?} is not an nginx listen value such as 8080, 127.0.0.1:8080 or \"443 ssl\""
            )));
        }
        if unsafe_for_nginx(&self.csp) {
            return Err(fail(format!(
                "the Content-Security-Policy has characters nginx would misread: {}",
                self.csp
            )));
        }
        let base = &self.url.base;
        let outside_base = if base == "/" {
            String::new()
        } else {
            format!(
                "\n    # Only the app's base path is served here.\n    location = {} {{\n        return 301 {base};\n    }}\n    location / {{\n        return 404;\n    }}\n",
                base.trim_end_matches('/')
            )
        };
        let rendered = NGINX_TEMPLATE
            .replace("{{listen}}", listen)
            .replace("{{server_name}}", &self.url.host)
            .replace("{{root}}", &root)
            .replace("{{csp}}", &self.csp)
            .replace("{{base_regex}}", &base.replace('.', "\\."))
            .replace("{{base}}", base)
            .replace("{{routes_regex}}", &APP_ROUTES.join("|"))
            .replace("{{routes_list}}", &APP_ROUTES.join(", "))
            .replace("{{outside_base}}", &outside_base)
            .replace(
                "{{hsts}}",
                &if listen.split_whitespace().any(|w| w == "ssl") {
                    format!("\n        add_header Strict-Transport-Security \"{HSTS}\" always;")
                } else {
                    String::new()
                },
            );
        if let Some(at) = rendered.find("{{") {
            return Err(fail(format!(
                "the nginx template has an unknown placeholder: {}",
                &rendered[at..rendered.len().min(at + 40)]
            )));
        }
        Ok(rendered)
    }
}

/// The nginx root for a build in `dist` served at `base`: `dist` itself for `/`; for `/a/b/`,
/// `dist` must end in `a/b` and the root is what lies above.
pub fn nginx_root(dist: &Path, base: &str) -> Result<PathBuf> {
    let dist = dist.canonicalize().map_err(|e| {
        Error::new(format!("deploy: cannot resolve {}: {e}", dist.display())).with_code(2)
    })?;
    let mut root = dist.clone();
    for segment in base
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .rev()
    {
        if root.file_name().and_then(|n| n.to_str()) != Some(segment) || !root.pop() {
            return Err(Error::new(format!(
                "deploy: nginx serves {base} from <root>{base}, but {} does not end in {}: put the build in a folder of that name or pass --nginx-root",
                dist.display(),
                base.trim_end_matches('/')
            ))
            .with_code(2));
        }
    }
    Ok(root)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text)
        .map_err(|e| Error::new(format!("deploy: cannot write {}: {e}", path.display())))
}

pub fn run_deploy(options: &DeployOptions) -> Result<u8> {
    let url = PublicUrl::parse(&options.url).map_err(|message| {
        Error::new(format!("deploy: --url {}: {message}", options.url)).with_code(2)
    })?;
    let site = Site::load(&options.dist, &url)?;
    println!(
        "deploy: {} is valid: client_id {}, token endpoint {}",
        options.dist.join("config.json").display(),
        site.config.client_id,
        site.config.token_endpoint
    );
    println!(
        "deploy: register this redirect URI for the app: {}",
        site.config.redirect_uri
    );
    let headers = options.dist.join("_headers");
    let redirects = options.dist.join("_redirects");
    let robots = options.dist.join("robots.txt");
    write(&headers, &site.headers_file())?;
    write(&redirects, &site.redirects_file())?;
    write(&robots, &site.robots_file())?;
    println!("deploy: wrote {}", robots.display());
    println!(
        "deploy: wrote {} and {} (Netlify, Cloudflare Pages)",
        headers.display(),
        redirects.display()
    );
    if let Some(out) = &options.nginx_out {
        let root = match &options.nginx_root {
            Some(root) => root.clone(),
            None => nginx_root(&options.dist, &url.base)?,
        };
        write(out, &site.nginx(&options.nginx_listen, &root)?)?;
        println!(
            "deploy: wrote {} (nginx server block: listen {}, root {}); include it inside http {{ }} and reload nginx",
            out.display(),
            options.nginx_listen,
            root.display()
        );
    }
    println!("deploy: Content-Security-Policy: {}", site.csp);
    if let Some(assumed) = site.assumption() {
        println!("deploy: note: {assumed}");
    }
    Ok(0)
}

/// The Content-Security-Policy header value for a config file served at `url`, and with
/// discovery what it assumes about the document's endpoints.
pub fn policy_for(
    config_text: &str,
    url: &str,
) -> std::result::Result<(String, Option<String>), String> {
    let url = PublicUrl::parse(url).map_err(|m| format!("--url {url}: {m}"))?;
    parse_config(config_text, &url.page_base())
        .map(|c| (content_security_policy(&c), policy_assumption(&c)))
        .map_err(|e| e.to_string())
}

pub fn run_csp(options: &CspOptions) -> Result<u8> {
    let text = std::fs::read_to_string(&options.config).map_err(|e| {
        Error::new(format!(
            "csp: cannot read {}: {e}",
            options.config.display()
        ))
        .with_code(2)
    })?;
    let (csp, assumed) = policy_for(&text, &options.url).map_err(|message| {
        Error::new(format!("csp: {}: {message}", options.config.display())).with_code(2)
    })?;
    println!("{csp}");
    // On stderr, so that stdout stays the header value alone.
    if let Some(assumed) = assumed {
        eprintln!("csp: note: {assumed}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    /// A throwaway build folder under the system temp dir.
    struct FakeDist(PathBuf);

    impl FakeDist {
        fn new(name: &str, base: &str, config: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("xtask-deploy-{name}-{}", std::process::id()))
                .join("site")
                .join(base.trim_matches('/'));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let index = format!(
                "<!doctype html><script type=\"module\" src=\"{base}boot.js\" data-base=\"{base}\" data-js=\"{base}rc-pkce-0123456789abcdef.js\"></script>"
            );
            for (file, text) in [
                ("index.html", index.as_str()),
                ("config.json", config),
                ("boot.js", "//"),
                ("favicon.svg", "<svg/>"),
                ("main-550ebb3dbda9916a.css", "p{}"),
                ("rc-pkce-0123456789abcdef.js", "//"),
                ("rc-pkce-0123456789abcdef_bg.wasm", "\0asm"),
                ("_headers", "stale"),
            ] {
                std::fs::write(dir.join(file), text).unwrap();
            }
            Self(dir)
        }
    }

    impl Drop for FakeDist {
        fn drop(&mut self) {
            let mut top = self.0.clone();
            while top.file_name().is_some_and(|n| n != "site") {
                top.pop();
            }
            top.pop();
            let _ = std::fs::remove_dir_all(top);
        }
    }

    const CONFIG: &str = r#"{"client_id":"abc","server":"https://platform.ringcentral.com"}"#;

    fn fake_site(name: &str, url: &str) -> (FakeDist, Site) {
        let url = PublicUrl::parse(url).unwrap();
        let dist = FakeDist::new(name, &url.base, CONFIG);
        let site = Site::load(&dist.0, &url).unwrap();
        (dist, site)
    }

    #[test]
    fn robots_txt_keeps_crawlers_off_the_app_routes_under_the_base() {
        let (_dist, site) = fake_site("robots", "https://me.github.io/rc-pkce/");
        let robots = site.robots_file();
        for route in APP_ROUTES {
            assert!(
                robots.contains(&format!("\nDisallow: /rc-pkce/{route}\n")),
                "{robots}"
            );
        }
        assert!(!robots.contains("Disallow: /rc-pkce/\n"), "{robots}");
        // The file trunk copies into every build is the one for the base `/`.
        let (_dist, root) = fake_site("robots-root", "https://example.com/");
        let shipped = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/robots.txt"),
        )
        .unwrap();
        assert_eq!(shipped, root.robots_file());
    }

    #[test]
    fn deploy_options() {
        let o = parse_deploy(&strings(&[
            "--dist",
            "dist",
            "--url",
            "https://example.com/",
            "--nginx-out",
            "x.conf",
            "--nginx-listen",
            "127.0.0.1:8080",
        ]))
        .unwrap();
        assert_eq!(o.dist, PathBuf::from("dist"));
        assert_eq!(o.nginx_out, Some(PathBuf::from("x.conf")));
        assert_eq!(o.nginx_listen, "127.0.0.1:8080");
        let o = parse_deploy(&strings(&["--url", "https://e.com/", "--dist", "d"])).unwrap();
        assert_eq!((o.nginx_out, o.nginx_listen.as_str()), (None, "80"));
        for bad in [
            &["--dist", "d"][..],
            &["--url", "https://e.com/"],
            &["--dist", "d", "--url", "u", "--dist", "e"],
            &["--dist", "--url", "u"],
            &["--dist", "d", "--url", "u", "--nginx-listen", "80"],
            &["--dist", "d", "--url", "u", "--base", "/x/"],
        ] {
            assert!(parse_deploy(&strings(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn csp_options() {
        assert_eq!(
            parse_csp(&strings(&["config.json"])).unwrap(),
            CspOptions {
                config: "config.json".into(),
                url: DEV_URL.into()
            }
        );
        let o = parse_csp(&strings(&["--url", "https://e.com/", "c.json"])).unwrap();
        assert_eq!(o.url, "https://e.com/");
        assert!(parse_csp(&[]).is_err());
        assert!(parse_csp(&strings(&["a", "b"])).is_err());
    }

    #[test]
    fn public_urls() {
        let u = PublicUrl::parse("https://Example.com").unwrap();
        assert_eq!(
            (u.origin.as_str(), u.host.as_str(), u.base.as_str()),
            ("https://example.com", "example.com", "/")
        );
        let u = PublicUrl::parse("https://me.github.io/rc-pkce/").unwrap();
        assert_eq!(u.page_base(), "https://me.github.io/rc-pkce/");
        let u = PublicUrl::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(u.origin, "http://127.0.0.1:8080");
        for (bad, why) in [
            ("http://example.com/", "must be https"),
            ("https://e.com/rc-pkce", "(try https://e.com/rc-pkce/)"),
            ("https://e.com/a/?x=1", "query"),
            ("https://e.com//", "segments"),
            ("https://e.com/a/../", "segments"),
            ("https://e.com/a b/", "not a usable URL"),
            ("example.com", "not a usable URL"),
        ] {
            let e = PublicUrl::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn hashed_names() {
        assert!(is_hashed("rc-pkce-59c249bd5cd2c804.js"));
        assert!(is_hashed("rc-pkce-59c249bd5cd2c804_bg.wasm"));
        assert!(is_hashed("main-550ebb3dbda9916a.css"));
        assert!(is_hashed("boot-9e5ada79c6ea79c.js"));
        assert!(is_hashed("boot-9e5ada79c6ea.js"));
        for plain in [
            "index.html",
            "config.json",
            "boot.js",
            "favicon.svg",
            "-59c249bd5cd2c804.js",
            "x-59C249BD5CD2C804.js",
            "x-59c249bd5cd.js",
            "x-59c249bd5cd2c8045.js",
            "x-59c249bd5cd2c804.json",
        ] {
            assert!(!is_hashed(plain), "{plain}");
        }
    }

    #[test]
    fn load_sorts_the_files_and_computes_the_csp() {
        let (_dist, site) = fake_site("load", "https://example.com/");
        assert_eq!(
            site.hashed,
            [
                "main-550ebb3dbda9916a.css",
                "rc-pkce-0123456789abcdef.js",
                "rc-pkce-0123456789abcdef_bg.wasm"
            ]
        );
        assert_eq!(
            site.other,
            ["boot.js", "config.json", "favicon.svg", "index.html"]
        );
        assert_eq!(
            site.config.redirect_uri,
            "https://example.com/oauth2callback"
        );
        assert!(
            site.csp
                .contains("connect-src 'self' https://platform.ringcentral.com")
        );
    }

    #[test]
    fn with_discovery_the_policy_covers_the_issuer_and_says_what_it_assumes() {
        let config = r#"{"client_id":"abc","issuer":"https://idp.example","discovery":true}"#;
        let url = PublicUrl::parse("https://example.com/").unwrap();
        let dist = FakeDist::new("discovery", &url.base, config);
        let site = Site::load(&dist.0, &url).unwrap();
        assert!(
            site.csp.contains(
                "connect-src 'self' https://idp.example https://platform.ringcentral.com"
            ),
            "{}",
            site.csp
        );
        let assumed = site.assumption().unwrap();
        assert!(
            assumed.contains("https://idp.example/.well-known/openid-configuration"),
            "{assumed}"
        );
        assert!(
            assumed.contains("It allows https://idp.example ("),
            "{assumed}"
        );
        let (csp, said) = policy_for(config, "https://example.com/").unwrap();
        assert_eq!((csp, said), (site.csp.clone(), Some(assumed)));
        let (_, said) = policy_for(CONFIG, "https://example.com/").unwrap();
        assert_eq!(
            said, None,
            "without discovery the policy covers every endpoint"
        );
        let (_dist, plain) = fake_site("no-discovery", "https://example.com/");
        assert_eq!(plain.assumption(), None);
    }

    #[test]
    fn a_client_secret_is_refused_with_the_cores_message() {
        let url = PublicUrl::parse("https://example.com/").unwrap();
        let dist = FakeDist::new(
            "secret",
            "/",
            r#"{"client_id":"abc","client_secret":"s3cret"}"#,
        );
        let e = Site::load(&dist.0, &url).unwrap_err();
        let core = parse_config(
            r#"{"client_id":"abc","client_secret":"s3cret"}"#,
            &url.page_base(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e.code, 2);
        assert!(e.message.ends_with(&core), "{}", e.message);
        assert!(
            e.message.contains("config.json: `client_secret`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_build_for_another_base_is_refused() {
        let url = PublicUrl::parse("https://me.github.io/rc-pkce/").unwrap();
        let dist = FakeDist::new("base", "/", CONFIG);
        let e = Site::load(&dist.0, &url).unwrap_err();
        assert!(
            e.message
                .contains("trunk build --release --public-url /rc-pkce/"),
            "{}",
            e.message
        );
    }

    /// `_headers` parsed back: (pattern, headers).
    fn parse_headers(text: &str) -> Vec<(String, Vec<(String, String)>)> {
        let mut rules: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            if let Some(header) = line.strip_prefix("  ") {
                let (name, value) = header.split_once(": ").unwrap();
                rules
                    .last_mut()
                    .unwrap()
                    .1
                    .push((name.into(), value.into()));
            } else {
                rules.push((line.to_string(), Vec::new()));
            }
        }
        rules
    }

    fn matches(pattern: &str, path: &str) -> bool {
        match pattern.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => pattern == path,
        }
    }

    #[test]
    fn headers_give_each_path_one_value_per_header() {
        for url in ["https://example.com/", "https://me.github.io/rc-pkce/"] {
            let (_dist, site) = fake_site("headers", url);
            let rules = parse_headers(&site.headers_file());
            let base = &site.url.base;
            let mut paths: Vec<(String, &str)> = site
                .route_paths()
                .into_iter()
                .map(|p| {
                    let cache = if p.ends_with("/oauth2callback") {
                        NO_STORE
                    } else {
                        NO_CACHE
                    };
                    (p, cache)
                })
                .collect();
            paths.extend(site.other.iter().map(|f| (format!("{base}{f}"), NO_CACHE)));
            paths.extend(
                site.hashed
                    .iter()
                    .map(|f| (format!("{base}{f}"), IMMUTABLE)),
            );
            for (path, cache) in paths {
                let headers: Vec<(String, String)> = rules
                    .iter()
                    .filter(|(p, _)| matches(p, &path))
                    .flat_map(|(_, h)| h.clone())
                    .collect();
                let mut names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
                names.sort();
                let before = names.len();
                names.dedup();
                assert_eq!(
                    before,
                    names.len(),
                    "{path}: a header set twice: {headers:?}"
                );
                let get = |n: &str| {
                    headers
                        .iter()
                        .find(|(k, _)| k == n)
                        .map(|(_, v)| v.as_str())
                };
                assert_eq!(get("Cache-Control"), Some(cache), "{path}");
                assert_eq!(
                    get("Content-Security-Policy"),
                    Some(site.csp.as_str()),
                    "{path}"
                );
                assert_eq!(get("Referrer-Policy"), Some("no-referrer"), "{path}");
                assert_eq!(get("X-Content-Type-Options"), Some("nosniff"), "{path}");
                assert_eq!(get("X-Frame-Options"), Some("DENY"), "{path}");
                assert_eq!(
                    get("Cross-Origin-Opener-Policy"),
                    Some(OPENER_POLICY),
                    "{path}"
                );
                let wasm = path.ends_with(".wasm").then_some("application/wasm");
                assert_eq!(get("Content-Type"), wasm, "{path}");
            }
        }
    }

    #[test]
    fn redirects_rewrite_exactly_the_app_routes() {
        let (_dist, site) = fake_site("redirects", "https://me.github.io/rc-pkce/");
        let rules: Vec<Vec<String>> = site
            .redirects_file()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().map(String::from).collect())
            .collect();
        assert_eq!(
            rules,
            [
                ["/rc-pkce/oauth2callback", "/rc-pkce/", "200"],
                ["/rc-pkce/account", "/rc-pkce/", "200"],
                ["/rc-pkce/settings", "/rc-pkce/", "200"],
            ]
        );
        // Every route with a rewrite also has its no-cache header rule, and vice versa.
        let header_paths: Vec<String> = parse_headers(&site.headers_file())
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        for route in site.route_paths().iter().skip(1) {
            assert!(header_paths.contains(route), "{route}");
        }
    }

    #[test]
    fn nginx_block_has_the_same_rules() {
        let (_dist, site) = fake_site("nginx", "https://example.com/");
        let conf = site
            .nginx("127.0.0.1:8080", Path::new("/srv/rc-pkce"))
            .unwrap();
        assert!(conf.contains("listen 127.0.0.1:8080;"));
        assert!(conf.contains("server_name example.com;"));
        assert!(conf.contains("root \"/srv/rc-pkce\";"));
        assert!(conf.contains("application/wasm wasm;"));
        assert!(conf.contains(r#"location ~ "^/(oauth2callback|account|settings)?$""#));
        assert!(conf.contains("try_files /index.html =404;"));
        // Every location sends the security headers; only the hashed one caches.
        let locations = conf.matches("\n    location ").count();
        assert_eq!(locations, 5);
        // The redirect URI's query (code and state) never reaches the access log.
        let callback = conf
            .split("\n    location = /oauth2callback {\n")
            .nth(1)
            .and_then(|rest| rest.split("\n    }").next())
            .expect("a location for the redirect URI");
        assert!(callback.contains("access_log off;"), "{callback}");
        assert!(
            callback.contains("try_files /index.html =404;"),
            "{callback}"
        );
        assert_eq!(conf.matches("access_log").count(), 1);
        let csp = format!("Content-Security-Policy \"{}\" always;", site.csp);
        for header in [
            csp.as_str(),
            "Referrer-Policy \"no-referrer\" always;",
            "X-Content-Type-Options \"nosniff\" always;",
            "X-Frame-Options \"DENY\" always;",
            "Cross-Origin-Opener-Policy \"same-origin\" always;",
        ] {
            assert_eq!(conf.matches(header).count(), locations, "{header}");
        }
        let immutable = format!("Cache-Control \"{IMMUTABLE}\";");
        let no_cache = format!("Cache-Control \"{NO_CACHE}\" always;");
        let no_store = format!("Cache-Control \"{NO_STORE}\" always;");
        assert_eq!(conf.matches(&immutable).count(), 1);
        assert_eq!(conf.matches(&no_cache).count(), locations - 2);
        assert!(callback.contains(&no_store), "{callback}");
        assert_eq!(conf.matches(&no_store).count(), 1);
        // HSTS only where nginx serves https.
        assert!(!conf.contains("Strict-Transport-Security"));
        let https = site.nginx("443 ssl", Path::new("/srv/rc-pkce")).unwrap();
        let hsts = format!("Strict-Transport-Security \"{HSTS}\" always;");
        assert_eq!(https.matches(&hsts).count(), locations);
        assert_eq!(conf.matches('{').count(), conf.matches('}').count());
        assert!(!conf.contains("return 301"));

        let (_dist, sub) = fake_site("nginx-sub", "https://example.com/apps/rc-pkce/");
        let conf = sub.nginx("80", Path::new("/srv")).unwrap();
        assert!(conf.contains(
            r#"location ~ "^/apps/rc-pkce/[^/]+-[0-9a-f]{12,16}(_bg)?\.(js|wasm|css)$""#
        ));
        assert!(conf.contains("location = /apps/rc-pkce {\n        return 301 /apps/rc-pkce/;"));
        assert!(conf.contains("try_files /apps/rc-pkce/index.html =404;"));
        assert!(
            conf.contains("location = /apps/rc-pkce/oauth2callback {\n        access_log off;")
        );
        assert!(conf.contains("location /apps/rc-pkce/ {"));
        assert_eq!(conf.matches('{').count(), conf.matches('}').count());
    }

    #[test]
    fn nginx_refuses_values_it_would_misread() {
        let (_dist, site) = fake_site("nginx-bad", "https://example.com/");
        assert!(
            site.nginx("80; include /etc/passwd", Path::new("/srv"))
                .is_err()
        );
        assert!(site.nginx("", Path::new("/srv")).is_err());
        assert!(site.nginx("80", Path::new("relative")).is_err());
        assert!(site.nginx("80", Path::new("/srv/$x")).is_err());
        assert!(site.nginx("443 ssl", Path::new("/srv")).is_ok());
    }

    #[test]
    fn nginx_root_strips_the_base_path() {
        let (dist, _site) = fake_site("root", "https://example.com/apps/rc-pkce/");
        let root = nginx_root(&dist.0, "/apps/rc-pkce/").unwrap();
        assert_eq!(root.join("apps/rc-pkce"), dist.0.canonicalize().unwrap());
        assert_eq!(
            nginx_root(&dist.0, "/").unwrap(),
            dist.0.canonicalize().unwrap()
        );
        let e = nginx_root(&dist.0, "/other/").unwrap_err();
        assert!(e.message.contains("--nginx-root"), "{}", e.message);
    }

    #[test]
    fn trunk_serve_sends_the_csp_of_the_repositorys_config() {
        let root = crate::workspace_root();
        let config = std::fs::read_to_string(root.join("config.json")).unwrap();
        let trunk = std::fs::read_to_string(root.join("Trunk.toml")).unwrap();
        let (csp, _) = policy_for(&config, DEV_URL).unwrap();
        assert!(
            trunk.contains(&format!("\"Content-Security-Policy\" = \"{csp}\"")),
            "Trunk.toml's [serve.headers] CSP differs from `cargo xtask csp config.json`:\n{csp}"
        );
    }

    #[test]
    fn app_routes_match_the_router() {
        // The app's pages by path are the arms of `Page::at`: `"/account" => Self::Account,`.
        let pages =
            std::fs::read_to_string(crate::workspace_root().join("src/present.rs")).unwrap();
        let mut routes: Vec<&str> = pages
            .lines()
            .filter_map(|line| line.trim().strip_prefix("\"/"))
            .filter_map(|rest| rest.split_once("\" => Self::"))
            .map(|(route, _)| route)
            .collect();
        routes.sort();
        routes.dedup();
        let mut known = APP_ROUTES.to_vec();
        known.sort();
        assert_eq!(
            routes, known,
            "update APP_ROUTES to the paths of `Page::at` in src/present.rs"
        );
    }
}
