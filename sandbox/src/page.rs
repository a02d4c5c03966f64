//! The HTML the sandbox serves to a browser: the sign-in + consent page and the authorize error page.
//!
//! Both are self-contained (inline CSS, no JavaScript, no external resources) and work without
//! JavaScript. They are sent with `Cache-Control: no-store`, `X-Frame-Options: DENY`,
//! `Referrer-Policy: no-referrer` and a CSP that allows only the page's own stylesheet (by hash) and
//! form posts to the sandbox itself and to the client's redirect origin (Chrome applies
//! `form-action` to the redirect that follows the post).

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// The form's action: the sign-in page posts back to the authorize path.
pub const FORM_ACTION: &str = "/restapi/oauth/authorize";

const CSS: &str = "\
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#f3f5f8;color:#1d2330}\
main{max-width:26rem;margin:3rem auto;background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:2rem}\
h1{font-size:1.35rem;margin:0 0 .25rem}\
.brand{color:#0073ae;font-weight:600;letter-spacing:.02em;font-size:.85rem;text-transform:uppercase}\
.app{font-weight:600}\
ul{padding-left:1.2rem;margin:.25rem 0 1rem}\
label{display:block;font-weight:600;margin:.75rem 0 .25rem}\
input[type=text],input[type=password]{box-sizing:border-box;width:100%;padding:.6rem;border:1px solid #b8c0cc;border-radius:6px;font:inherit}\
.error{background:#fdecea;color:#8a1c12;border-radius:6px;padding:.6rem .8rem;margin:1rem 0}\
.buttons{display:flex;gap:.75rem;margin-top:1.5rem}\
button{flex:1;padding:.7rem;border-radius:6px;font:inherit;font-weight:600;cursor:pointer;border:1px solid #0073ae}\
button[value=allow]{background:#0073ae;color:#fff}\
button[value=deny]{background:#fff;color:#0073ae}\
.note{color:#5b6575;font-size:.85rem;margin-top:1.25rem}";

/// Everything the sign-in page shows.
#[derive(Debug)]
pub struct SignIn<'a> {
    pub client_name: &'a str,
    pub permissions: &'a [String],
    /// Where the user will be sent back to (shown, and allowed in `form-action`).
    pub redirect_origin: &'a str,
    /// The hidden transaction id tying the post to the pending authorize request.
    pub txn: &'a str,
    /// A message shown above the form (e.g. wrong password).
    pub message: Option<&'a str>,
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn describe(permission: &str) -> String {
    match permission {
        "ReadAccounts" => "ReadAccounts: view your account and extension details".into(),
        "ReadCallLog" => "ReadCallLog: view your call history".into(),
        other => other.into(),
    }
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n\
         <div class=\"brand\">RingCentral sandbox</div>\n{body}</main>\n</body>\n</html>\n",
        escape(title)
    )
}

/// The sign-in + consent page.
pub fn sign_in(page: &SignIn<'_>, status: StatusCode) -> Response {
    let access = if page.permissions.is_empty() {
        "<li>No permissions</li>".to_owned()
    } else {
        page.permissions
            .iter()
            .map(|p| format!("<li>{}</li>", escape(&describe(p))))
            .collect()
    };
    let message = page
        .message
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(m)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in to continue to <span class=\"app\">{name}</span></h1>\n\
         <p><span class=\"app\">{name}</span> requests access to:</p>\n\
         <ul class=\"access\">{access}</ul>\n{message}\
         <form method=\"post\" action=\"{FORM_ACTION}\" autocomplete=\"off\">\n\
         <input type=\"hidden\" name=\"txn\" value=\"{txn}\">\n\
         <label for=\"username\">Email</label>\n\
         <input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\">\n\
         <label for=\"password\">Password</label>\n\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\">\n\
         <div class=\"buttons\">\n\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Sign in and allow</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\n\
         </div>\n</form>\n\
         <p class=\"note\">You will be returned to {origin}.</p>\n",
        name = escape(page.client_name),
        txn = escape(page.txn),
        origin = escape(page.redirect_origin),
    );
    html_response(
        status,
        &document("Sign in - RingCentral sandbox", &body),
        Some(page.redirect_origin),
    )
}

/// The page for authorize errors that must not redirect (unknown client, bad redirect URI) and for
/// an expired sign-in.
pub fn error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = format!(
        "<h1>Sign-in cannot continue</h1>\n<p class=\"error\" role=\"alert\">{}</p>\n\
         <p class=\"note\">Error: <code>{}</code>. Go back to the app and start again.</p>\n",
        escape(description),
        escape(error)
    );
    html_response(
        status,
        &document("Error - RingCentral sandbox", &body),
        None,
    )
}

fn html_response(status: StatusCode, html: &str, form_target: Option<&str>) -> Response {
    let style_hash = STANDARD.encode(Sha256::digest(CSS.as_bytes()));
    let form_action = match form_target {
        Some(origin) => format!("'self' {origin}"),
        None => "'none'".to_owned(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'sha256-{style_hash}'; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = (status, html.to_owned()).into_response();
    let h = response.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(CONTENT_SECURITY_POLICY, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn csp_hash_matches_the_inline_style() {
        let page = SignIn {
            client_name: "<App>",
            permissions: &["ReadCallLog".to_owned()],
            redirect_origin: "http://localhost:5000",
            txn: "t",
            message: None,
        };
        let r = sign_in(&page, StatusCode::OK);
        let csp = r
            .headers()
            .get(CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(csp.contains("form-action 'self' http://localhost:5000"));
        assert!(csp.contains(&format!(
            "'sha256-{}'",
            STANDARD.encode(Sha256::digest(CSS.as_bytes()))
        )));
    }
}
