//! Who may call the admin API: a loopback peer, addressing the sandbox by a loopback name, not
//! from another site's page, and, for anything but a read, declaring a JSON body.
//!
//! The admin API can revoke grants, clear the request log and inject faults, so a web page the
//! developer happens to have open must not be able to drive it. The peer check alone does not
//! stop that, because the developer's own browser is a loopback peer:
//! - **DNS rebinding**: a page on `attacker.example` whose name then resolves to 127.0.0.1 talks to
//!   the sandbox as if same-origin, and can read the answers. Its requests still say
//!   `Host: attacker.example:<port>`, so only loopback names are accepted ([`is_loopback_host`]).
//!   An IP literal cannot be rebound, hence any loopback address is fine, and `localhost` too.
//! - **Cross-site requests**: a form post or a `no-cors` fetch from another site reaches the sandbox
//!   without a preflight. They are refused when the browser says where they come from (an `Origin`
//!   other than the sandbox's own, or `Sec-Fetch-Site` other than `same-origin`/`none`:
//!   `same-site` too, because every page on `localhost`, whatever its port, is same-site with a
//!   sandbox on `localhost`). And a state-changing request must declare
//!   `Content-Type: application/json`, which no form and no "simple" request can send: a browser
//!   would first ask with a preflight, and the admin API answers none (it is not CORS-enabled).
//!
//! The app never calls the admin API from a page; tests and developers call it with an HTTP client
//! (reqwest, curl), which sends neither `Origin` nor `Sec-Fetch-Site`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::header::{CONTENT_TYPE, HOST, ORIGIN};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::errors::AdminError;

/// Whether `authority` (a `Host` header: `name[:port]`, `[v6][:port]`) names this machine by a
/// name no one else can make resolve to it: `localhost` or a loopback IP literal, any port.
pub fn is_loopback_host(authority: &str) -> bool {
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, port)) => (v6, port),
            None => return false,
        },
        None => match authority.rsplit_once(':') {
            Some((host, _)) => (host, &authority[host.len()..]),
            None => (authority, ""),
        },
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if !port_ok {
        return false;
    }
    if authority.starts_with('[') {
        return host.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Why a browser-made request comes from somewhere else, or `Ok`. `Origin` must be the sandbox's
/// own (`http://` + the `Host` it was addressed by); `Sec-Fetch-Site` must be `same-origin` or
/// `none` (typed into the address bar). Clients that send neither are not browsers.
fn check_site(headers: &HeaderMap, host: &str) -> Result<(), String> {
    if let Some(origin) = headers.get(ORIGIN) {
        let own = format!("http://{host}");
        let same = origin.to_str().is_ok_and(|o| o.eq_ignore_ascii_case(&own));
        if !same {
            let shown = origin.to_str().unwrap_or("(not text)");
            return Err(format!(
                "The admin API refuses requests made by another site's page (Origin {shown}, \
                 not {own})"
            ));
        }
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or_default();
        if !matches!(site, "same-origin" | "none") {
            return Err(format!(
                "The admin API refuses requests made by another page (Sec-Fetch-Site: {site})"
            ));
        }
    }
    Ok(())
}

/// Whether the request declares a JSON body (`application/json`, parameters allowed).
fn declares_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// The name the request was addressed by, when it is a loopback one: the `Host` header and the
/// request target's authority (HTTP/2's `:authority`, or an absolute-form target), whichever are
/// present, must all be. Otherwise the name to show in the refusal.
fn loopback_host<'a>(
    authority: Option<&'a str>,
    headers: &'a HeaderMap,
) -> Result<&'a str, String> {
    let header = match headers.get(HOST) {
        Some(h) => Some(h.to_str().map_err(|_| "(not text)".to_owned())?),
        None => None,
    };
    let names: Vec<&str> = header.into_iter().chain(authority).collect();
    match names.iter().find(|n| !is_loopback_host(n)) {
        Some(bad) => Err((*bad).to_owned()),
        None => names.first().copied().ok_or_else(|| "missing".to_owned()),
    }
}

/// Every rule of this module, in order; the refusal names the rule broken. `authority` is the
/// request target's, if it has one.
fn check(
    peer: Option<IpAddr>,
    method: &Method,
    authority: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), AdminError> {
    if !peer.is_some_and(|ip| ip.is_loopback()) {
        return Err(AdminError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "The admin API answers loopback clients only",
        ));
    }
    let host = loopback_host(authority, headers).map_err(|shown| {
        AdminError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_loopback",
            format!(
                "The admin API answers only requests addressed to 127.0.0.1, [::1] or localhost \
                 (Host was {shown}): another name resolving here may be DNS rebinding"
            ),
        )
    })?;
    check_site(headers, host)
        .map_err(|m| AdminError::new(StatusCode::FORBIDDEN, "cross_site", m))?;
    if !matches!(*method, Method::GET | Method::HEAD) && !declares_json(headers) {
        return Err(AdminError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "json_required",
            "Admin requests that change state must send Content-Type: application/json (the \
             body may be empty or {} when there is nothing to say)",
        ));
    }
    Ok(())
}

/// The admin routes' layer: answers the refusal of [`check`], or runs the route.
pub async fn guard(request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let authority = request.uri().authority().map(|a| a.as_str());
    match check(peer, request.method(), authority, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn loopback_names_with_any_port() {
        for ok in [
            "127.0.0.1",
            "127.0.0.1:5001",
            "127.3.4.5:80",
            "localhost",
            "LocalHost:5001",
            "[::1]",
            "[::1]:5001",
            "localhost:",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "attacker.example",
            "attacker.example:5001",
            "localhost.attacker.example:5001",
            "127.0.0.1.nip.io:5001",
            "evil.localhost:5001",
            "localhost.:5001",
            "10.0.0.1:5001",
            "0.0.0.0:5001",
            "[::ffff:127.0.0.1]:5001",
            "[::1",
            "::1",
            "[::1]x",
            "localhost:50011234",
            "localhost:ab",
            "127.0.0.1:5001:1",
            "[fe80::1]:5001",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    const LOCAL: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));

    fn refusal(method: Method, pairs: &[(&'static str, &str)]) -> Option<&'static str> {
        check(LOCAL, &method, None, &headers(pairs))
            .err()
            .map(|e| e.error)
    }

    #[test]
    fn each_rule_names_itself() {
        let host = ("host", "127.0.0.1:5001");
        let json = ("content-type", "application/json; charset=utf-8");
        assert_eq!(refusal(Method::GET, &[host]), None);
        assert_eq!(refusal(Method::POST, &[host, json]), None);
        assert_eq!(refusal(Method::DELETE, &[host, json]), None);
        assert_eq!(
            check(
                Some("192.0.2.1".parse().unwrap()),
                &Method::GET,
                None,
                &headers(&[host])
            )
            .err()
            .map(|e| e.error),
            Some("forbidden")
        );
        assert_eq!(refusal(Method::GET, &[]), Some("host_not_loopback"));
        assert_eq!(
            refusal(Method::GET, &[("host", "rebound.example:5001")]),
            Some("host_not_loopback")
        );
        // HTTP/2 has no Host header, only the target's authority; an absolute-form target must
        // agree with the header.
        let h2 = |authority, pairs: &[(&'static str, &str)]| {
            check(LOCAL, &Method::GET, Some(authority), &headers(pairs))
                .err()
                .map(|e| e.error)
        };
        assert_eq!(h2("localhost:5001", &[]), None);
        assert_eq!(h2("rebound.example:5001", &[]), Some("host_not_loopback"));
        assert_eq!(
            h2("rebound.example:5001", &[host]),
            Some("host_not_loopback")
        );
        // The sandbox's own pages, and the address bar, are fine; any other page is not.
        for fine in [
            ("origin", "http://127.0.0.1:5001"),
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-site", "none"),
        ] {
            assert_eq!(refusal(Method::POST, &[host, json, fine]), None, "{fine:?}");
        }
        for other in [
            ("origin", "http://localhost:5000"),
            ("origin", "http://localhost:5001"),
            ("origin", "http://127.0.0.1:5000"),
            ("origin", "null"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-site", "same-site"),
        ] {
            assert_eq!(
                refusal(Method::GET, &[host, other]),
                Some("cross_site"),
                "{other:?}"
            );
        }
        for not_json in [
            "application/x-www-form-urlencoded",
            "text/plain",
            "multipart/form-data; boundary=x",
            "application/json-seq",
        ] {
            assert_eq!(
                refusal(Method::POST, &[host, ("content-type", not_json)]),
                Some("json_required"),
                "{not_json}"
            );
        }
        assert_eq!(refusal(Method::POST, &[host]), Some("json_required"));
        assert_eq!(refusal(Method::DELETE, &[host]), Some("json_required"));
    }
}
