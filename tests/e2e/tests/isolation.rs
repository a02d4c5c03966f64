//! What other pages and other servers can get out of a session (issues 16.1 and 16.2). Every
//! page of the origin can list Web Locks, open any `BroadcastChannel` and read `localStorage`, and
//! on hosts such as `USER.github.io/` that origin holds other people's apps: such a page must learn
//! no token and must not be able to change the account the app's tabs show. And a stored session
//! is bound to the server it came from: pointed at another server, the app must send that server
//! none of the old session's tokens, and revoke them where they came from if it can.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use e2e::env::{Env, EnvOptions, Link, USER_NAME, eventually, run, sandbox_admin};
use e2e::site::ConfigFile;
use rc_pkce_core::tab_key::TabKey;
use serde_json::{Value, json};

/// Refreshed when half is left, i.e. every 6 s, as in tabs.rs.
const ACCESS_TTL: u64 = 12;

/// Installed in a same-origin page that does not run the app. Every 50 ms it lists the origin's
/// Web Locks, queues for each one it sees and holds it for ever once it has it, and it opens a channel on every name it can come up with: the fixed name of old
/// builds, each lock name, the lock's opaque part under the channel prefix, every `localStorage`
/// key and every `rc-pkce.*` string in `localStorage`. It answers whatever it hears with an `ask`
/// (old builds answered one with the whole session record), replays it, and every second posts
/// forgeries on every channel: the old plain JSON, the same as structured objects, and the new
/// `MAC.JSON` form with MACs it made up or made with a key of its own. The forged grant ID is the
/// real one (the test hands it over): only the missing key may stand in its way.
const ATTACK: &str = r#"
if (window.attack) return true;
const A = window.attack = { locks: [], names: [], received: [], storage: [], posted: 0, queries: 0, errors: [], held: [] };
const grant = __GRANT__;
const records = __RECORDS__;
const channels = new Map();
const heard = [];
const note = e => { if (A.errors.length < 20) A.errors.push(String(e)); };
const asText = d => typeof d === 'string' ? d : JSON.stringify(d);
const plain = (t, extra) => JSON.stringify(Object.assign({ t, grant, from: 'attacker-tab', generation: 0 }, extra));
const b64url = bytes => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const jsons = [
  plain('ask'),
  plain('hello', { generation: 1 }),
  plain('here', { generation: 1 }),
  plain('signed_out'),
  plain('bye'),
  ...records.map(record => plain('tokens', { record })),
  ...records.map(record => plain('tokens', { record: JSON.parse(record) })),
];
const post = (ch, m) => { try { ch.postMessage(m); A.posted++; } catch (e) { note(e); } };
const listen = name => {
  if (!name || channels.has(name)) return;
  let ch;
  try { ch = new BroadcastChannel(name); } catch (e) { note(e); return; }
  channels.set(name, ch);
  A.names.push(name);
  ch.onmessage = e => {
    if (A.received.length < 500) A.received.push({ name, text: asText(e.data) });
    if (heard.length < 50) heard.push(e.data);
    post(ch, plain('ask'));
    post(ch, e.data);
  };
};
const learn = () => {
  listen('rc-pkce.tabs');
  for (const lock of A.locks) {
    listen(lock);
    listen('rc-pkce.tabs.' + lock.slice(lock.lastIndexOf('.') + 1));
    listen(lock.replace('rc-pkce.refresh', 'rc-pkce.tabs'));
  }
  const all = {};
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    const v = localStorage.getItem(k) || '';
    all[k] = v;
    listen(k);
    listen('rc-pkce.tabs.' + k);
    for (const m of (k + ' ' + v).match(/rc-pkce\.[A-Za-z0-9._-]+/g) || []) listen(m);
  }
  const text = JSON.stringify(all);
  if (!A.storage.includes(text) && A.storage.length < 50) A.storage.push(text);
};
let hmac = null;
crypto.subtle.importKey('raw', crypto.getRandomValues(new Uint8Array(32)), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  .then(k => { hmac = k; }, note);
const forge = async () => {
  const out = [];
  for (const j of jsons) {
    out.push(j, JSON.parse(j), 'A'.repeat(43) + '.' + j, b64url(crypto.getRandomValues(new Uint8Array(32))) + '.' + j);
    if (hmac) out.push(b64url(await crypto.subtle.sign('HMAC', hmac, new TextEncoder().encode(j))) + '.' + j);
  }
  for (const ch of channels.values()) for (const m of [...out, ...heard]) post(ch, m);
};
learn();
A.timers = [
  setInterval(() => navigator.locks.query().then(s => {
    A.queries++;
    for (const l of [...(s.held || []), ...(s.pending || [])]) {
      if (l.name && !A.locks.includes(l.name)) {
        A.locks.push(l.name);
        // Queue for it and never let go: a tab that waits behind must not wait for ever.
        navigator.locks.request(l.name, () => { A.held.push(l.name); return new Promise(() => {}); })
          .catch(note);
      }
    }
    learn();
  }, note), 50),
  setInterval(() => forge().catch(note), 1000),
];
return true;
"#;

/// The test's own listener on the session's real channel, whose name it computes from the tab
/// key: a page on the right name does hear the tabs, so the attacker's silence means something.
const CONTROL: &str = r#"
if (window.control) return true;
window.control = { received: [] };
window.controlChannel = new BroadcastChannel(__CHANNEL__);
window.controlChannel.onmessage = e => {
  if (window.control.received.length < 500) window.control.received.push(String(e.data));
};
return true;
"#;

fn js(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).expect("serializable")
}

/// A page global, read as JSON.
async fn global(env: &Env, name: &str) -> Value {
    let text = env
        .browser
        .execute(&format!("return JSON.stringify(window.{name} || null);"))
        .await;
    serde_json::from_str(text.as_str().unwrap_or("null")).expect("JSON")
}

/// Adds the tokens of the current tab's stored session to `seen`; returns the record.
async fn note_tokens(env: &Env, seen: &mut BTreeSet<String>) -> Value {
    let s = env.stored_session().await.expect("a stored session");
    for k in ["access_token", "refresh_token", "tab_key"] {
        seen.insert(s[k].as_str().expect("a string").to_string());
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_origin_page_learns_no_token_and_changes_no_account() {
    let options = EnvOptions {
        access_ttl: ACCESS_TTL,
        ..Default::default()
    };
    run("isolation_same_origin", options, |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            let first = b.current_window().await;
            let second = b.duplicate_tab(&env.app("/account")).await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            env.wait_for_tabs_line(&second, "2 tabs share this session")
                .await;
            env.wait_for_tabs_line(&first, "2 tabs share this session")
                .await;
            // Each refresh takes 1.5 s at the sandbox, so the refresh lock is held long enough to
            // be listed, and the second tab waits for it in the meantime.
            env.fault(json!({"target": "token", "delay_ms": 1500, "count": 50}))
                .await;

            let mut secrets = BTreeSet::new();
            let session = note_tokens(env, &mut secrets).await;
            let grant = session["grant_id"].as_str().unwrap().to_string();
            let key = TabKey::from_text(session["tab_key"].as_str().unwrap()).expect("a tab key");
            let channel = key.channel_name(&grant);
            let generation = session["generation"].as_u64().unwrap();
            // Records that decode, with junk tokens and a key of the attacker's: one a refresh
            // ahead, one so far ahead it would win any comparison of generations.
            let records: Vec<String> = [1, 1u64 << 40]
                .iter()
                .map(|ahead| {
                    let mut r = session.clone();
                    r["access_token"] = json!("forged-access-token");
                    r["refresh_token"] = json!("forged-refresh-token");
                    r["tab_key"] = json!("A".repeat(43));
                    r["generation"] = json!(session["generation"].as_u64().unwrap() + ahead);
                    r.to_string()
                })
                .collect();

            let attacker = b.open_window(&env.app("/favicon.svg")).await;
            b.execute(
                &ATTACK
                    .replace("__GRANT__", &js(&grant))
                    .replace("__RECORDS__", &js(&records)),
            )
            .await;
            b.execute(&CONTROL.replace("__CHANNEL__", &js(&channel)))
                .await;

            // Two refreshes with the attacker listening and forging all along.
            let start = env.grants().await[0]["refresh_count"].as_u64().unwrap();
            b.switch_to(&first).await;
            let started = Instant::now();
            loop {
                let g = env.grants().await;
                assert!(
                    g.iter().all(|g| g["revoked"] == false),
                    "grant revoked while the attacker ran: {g:#?}\n{:#?}",
                    env.token_requests(None).await
                );
                // Every generation's tokens, to look for in what the attacker got.
                note_tokens(env, &mut secrets).await;
                if g[0]["refresh_count"].as_u64() >= Some(start + 2) {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(3 * ACCESS_TTL),
                    "no two refreshes: {g:#?}"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            // And the tabs go on talking: the next heartbeat or refresh reaches the control.
            b.switch_to(&attacker).await;
            eventually(
                "the control to hear the tabs",
                Duration::from_secs(20),
                || async {
                    global(env, "control").await["received"]
                        .as_array()
                        .is_some_and(|r| !r.is_empty())
                },
            )
            .await;
            let attack = global(env, "attack").await;
            let control = global(env, "control").await;

            // The attack ran: it listed locks, opened channels and posted.
            assert_eq!(attack["errors"], json!([]), "{attack:#}");
            assert!(attack["queries"].as_u64() > Some(20), "{attack:#}");
            assert!(attack["posted"].as_u64() > Some(100), "{attack:#}");
            let locks: Vec<&str> = attack["locks"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let names: Vec<&str> = attack["names"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            // It saw the refresh locks (a name per generation), queued for them and got them
            // once the tabs were done; the lock's name is no way onto the channel.
            let lock = (generation..generation + 4)
                .map(|g| key.lock_name(&grant, g))
                .find(|l| locks.contains(&l.as_str()))
                .unwrap_or_else(|| panic!("no refresh lock in {locks:?}"));
            assert!(names.contains(&lock.as_str()), "{names:?}");
            assert!(
                attack["held"].as_array().is_some_and(|h| !h.is_empty()),
                "{attack:#}"
            );
            assert!(names.contains(&"rc-pkce.tabs"), "{names:?}");
            assert!(!names.contains(&channel.as_str()), "{channel} in {names:?}");
            assert_ne!(
                channel["rc-pkce.tabs.".len()..],
                lock["rc-pkce.refresh.".len()..]
            );
            // The tabs did talk, on their channel only, and signed everything they said.
            let heard = control["received"].as_array().unwrap();
            for m in heard {
                let m = m.as_str().unwrap();
                assert_eq!(m.find('.'), Some(43), "not MAC.JSON: {m}");
            }
            // Not one message reached the attacker on any name it could learn.
            assert_eq!(attack["received"], json!([]), "{attack:#}");
            let captured = attack.to_string();
            for s in &secrets {
                assert!(!captured.contains(s.as_str()), "the attacker got {s}");
            }

            // The tabs show the same account, together, with the same session.
            for w in [&first, &second] {
                b.switch_to(w).await;
                b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
                b.wait_for("[data-testid=sign-out]").await;
                assert!(b.url().await.ends_with("/account"));
                let text = b.page_text().await;
                assert!(!text.contains("signed out"), "{text}");
                // The attacker's hellos did not make it a third tab.
                env.wait_for_tabs_line(w, "2 tabs share this session").await;
                let now = env.stored_session().await.expect("still stored");
                assert_eq!(now["grant_id"], session["grant_id"]);
                assert_eq!(now["tab_key"], session["tab_key"]);
                assert!(
                    now["generation"].as_u64() >= Some(start + 2),
                    "{now:#}, started at generation {start}"
                );
                assert_ne!(now["access_token"], "forged-access-token");
                let local = b.local_storage().await.to_string();
                for s in &secrets {
                    assert!(!local.contains(s.as_str()), "{s} in localStorage: {local}");
                }
            }

            let grants = env.grants().await;
            assert_eq!(grants.len(), 1, "{grants:#?}");
            assert_eq!(grants[0]["revoked"], false, "{grants:#?}");
            assert_eq!(grants[0]["live_refresh_token"], true, "{grants:#?}");
            // One request per refresh, none refused: no tab presented a forged or a rotated-out
            // refresh token, and every REST call had a live token.
            let refreshes = env.token_requests(Some("refresh_token")).await;
            assert_eq!(
                refreshes.len() as u64,
                grants[0]["refresh_count"].as_u64().unwrap(),
                "{refreshes:#?}"
            );
            assert!(
                refreshes.iter().all(|r| r["status"] == 200),
                "{refreshes:#?}"
            );
            let refused: Vec<_> = env
                .requests()
                .await
                .into_iter()
                .filter(|r| r["error"] == "invalid_grant" || r["error_code"] == "OAU-211")
                .collect();
            assert!(refused.is_empty(), "{refused:#?}");
            let api = env.api_requests("").await;
            assert!(api.iter().all(|r| r["status"] == 200), "{api:#?}");
            assert!(env.revoke_requests().await.is_empty());
        })
    })
    .await;
}

/// Requests sandbox `b` received (its admin API, like [`Env::requests`] for the first one).
async fn requests_of(env: &Env, b: &sandbox::RunningSandbox) -> Vec<Value> {
    match sandbox_admin(
        &env.http,
        b.base_url(),
        reqwest::Method::GET,
        "requests",
        None,
    )
    .await
    {
        Value::Array(a) => a,
        _ => Vec::new(),
    }
}

/// Signs in at sandbox A, points the app at sandbox B (reached through a link that keeps every
/// byte the browser sends it), and reloads. With `a_allowed`, the CSP still lets the app reach A.
async fn session_of_a_meets_config_of_b(env: &Env, a_allowed: bool) {
    let b = &env.browser;
    let other = env.another_sandbox().await;
    let link = Link::recording(other.addr()).await.expect("link starts");
    env.sign_in().await;
    b.wait_for("[data-testid=calls] .call-row").await;
    let old = env.stored_session().await.expect("a session from A");
    let a_tokens: Vec<String> = ["access_token", "refresh_token"]
        .iter()
        .map(|k| old[k].as_str().expect("a token").to_string())
        .collect();
    assert_eq!(env.api_status_with(&a_tokens[0]).await, 200);
    let a_calls = env.api_requests("").await.len();

    // config.json redeployed for B. The callback's `iss` is B's own base URL.
    let config = json!({
        "client_id": "rc-pkce-demo",
        "server": link.base_url(),
        "issuer": other.base_url(),
    });
    let extra = if a_allowed {
        vec![env.sandbox_origin()]
    } else {
        Vec::new()
    };
    env.site
        .set_config_allowing(ConfigFile::Json(config.to_string()), &extra);
    assert_eq!(
        env.site.csp().contains(env.sandbox.base_url()),
        a_allowed,
        "{}",
        env.site.csp()
    );
    b.reload().await;

    b.wait_for_page_text("You were signed out: the saved session belongs to another server or app (`token_endpoint` changed in the configuration since you signed in).").await;
    let outcome = if a_allowed {
        "the server they came from confirmed that they are revoked."
    } else {
        "The server they came from could not be told ("
    };
    let text = b.wait_for_page_text(outcome).await;
    assert!(
        text.contains("Its tokens were not sent to the server configured now"),
        "{text}"
    );
    b.wait_for("[data-testid=sign-in]").await;
    assert!(!b.exists("[data-testid=user-name]").await);
    assert!(
        env.stored_session().await.is_none(),
        "{}",
        b.session_storage().await
    );

    // B heard nothing at all of the old session: no request, no byte.
    let heard = requests_of(env, &other).await;
    assert!(heard.is_empty(), "{heard:#?}");
    assert!(
        link.sent().is_empty(),
        "{:?}",
        String::from_utf8_lossy(&link.sent())
    );

    // A was told, where the CSP let the app reach it; otherwise its tokens stay valid there
    // until they expire, and the notice says so.
    let revokes = env.revoke_requests().await;
    let grants = env.grants().await;
    if a_allowed {
        assert_eq!(revokes.len(), 1, "{revokes:#?}");
        assert_eq!(revokes[0]["status"], 200, "{revokes:#?}");
        assert_eq!(grants[0]["revoked"], true, "{grants:#?}");
        assert_eq!(grants[0]["revoked_reason"], "revoked", "{grants:#?}");
        assert_eq!(env.api_status_with(&a_tokens[0]).await, 401);
    } else {
        assert!(revokes.is_empty(), "{revokes:#?}");
        assert_eq!(grants[0]["revoked"], false, "{grants:#?}");
        assert_eq!(env.api_status_with(&a_tokens[0]).await, 200);
    }
    // ...and A got nothing else: no refresh, no REST call after the reload.
    assert!(env.token_requests(Some("refresh_token")).await.is_empty());
    // (One call more: the test's own, above.)
    assert_eq!(env.api_requests("").await.len(), a_calls + 1);

    // Signing in again works, at B.
    env.sign_in().await;
    b.wait_for("[data-testid=calls] .call-row").await;
    let new = env.stored_session().await.expect("a session from B");
    assert_eq!(
        new["binding"]["token_endpoint"],
        format!("{}/restapi/oauth/token", link.base_url())
    );
    let heard = requests_of(env, &other).await;
    let exchanges: Vec<_> = heard
        .iter()
        .filter(|r| r["path"] == "/restapi/oauth/token" && r["method"] == "POST")
        .collect();
    assert_eq!(exchanges.len(), 1, "{heard:#?}");
    assert_eq!(exchanges[0]["grant_type"], "authorization_code");
    assert_eq!(exchanges[0]["status"], 200);
    let refused: Vec<_> = heard
        .iter()
        .filter(|r| r["status"] == 401 || r["error"] != Value::Null)
        .collect();
    assert!(refused.is_empty(), "{refused:#?}");
    // What the browser sent B carries B's token (so the recording sees tokens) and none of A's.
    let sent = String::from_utf8_lossy(&link.sent()).to_string();
    let b_access = new["access_token"].as_str().unwrap();
    assert!(
        sent.contains(&format!("Bearer {b_access}"))
            || sent.contains(&format!("bearer {b_access}")),
        "B's token not in what B received"
    );
    for t in &a_tokens {
        assert!(!sent.contains(t.as_str()), "A's token {t} reached B");
    }
    drop(link);
    other.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_bound_to_sandbox_a_is_never_sent_to_sandbox_b() {
    run("isolation_server_binding", EnvOptions::default(), |env| {
        Box::pin(session_of_a_meets_config_of_b(env, true))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_bound_to_sandbox_a_is_dropped_unsent_when_a_is_out_of_reach() {
    run(
        "isolation_server_binding_unreachable",
        EnvOptions::default(),
        |env| Box::pin(session_of_a_meets_config_of_b(env, false)),
    )
    .await;
}
