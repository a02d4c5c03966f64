//! OpenID Connect against the sandbox's provider: the ID token verified before anyone is signed
//! in (each defect the sandbox can put in one is refused with its own message and no API call),
//! the verified identity and userinfo on the account page, keys rotated between sign-ins and
//! under a running session, and a refresh's new ID token.

use std::time::Duration;

use e2e::env::{Env, EnvOptions, eventually, run};
use serde_json::{Value, json};

fn openid() -> EnvOptions {
    EnvOptions {
        config_extra: json!({"openid": true, "scope": "email profile"}),
        ..EnvOptions::default()
    }
}

async fn admin_post(env: &Env, path: &str, body: Value) -> Value {
    e2e::env::sandbox_admin(
        &env.http,
        env.sandbox.base_url(),
        reqwest::Method::POST,
        path,
        Some(body),
    )
    .await
}

/// The inspector's steps as text (closed `<details>` included).
async fn inspector_text(env: &Env) -> String {
    env.browser
        .execute("return document.getElementById('inspector-steps')?.textContent ?? '';")
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openid_sign_in_shows_the_verified_identity_and_a_refresh_keeps_it() {
    run("oidc_identity", openid(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            let authorize = env.requests_to("/restapi/oauth/authorize").await;
            let query = authorize[0]["query"].as_str().unwrap_or_default();
            assert!(
                query.contains("nonce=") && query.contains("scope=openid+email+profile"),
                "{query}"
            );
            b.wait_for("[data-testid=identity]").await;
            let oidc = e2e::env::sandbox_admin(
                &env.http,
                env.sandbox.base_url(),
                reqwest::Method::GET,
                "oidc",
                None,
            )
            .await;
            let sub = b.text("[data-testid=id-sub]").await;
            assert!(!sub.is_empty() && sub != "—", "{sub}");
            assert!(
                b.text("[data-testid=id-email]").await.contains('@'),
                "the email claim (scope email)"
            );
            assert!(
                b.text("[data-testid=id-iss]")
                    .await
                    .starts_with("http://127.0.0.1:")
            );
            b.wait_for_text("[data-testid=userinfo]", "same subject")
                .await;
            let jwks = env.requests_to("/restapi/oauth/jwks").await;
            assert_eq!(jwks.len(), 1, "{jwks:#?}");
            assert!(
                jwks[0]["authorization"].is_null(),
                "the key set is fetched without a token: {jwks:#?}"
            );
            let steps = inspector_text(env).await;
            assert!(steps.contains("ID token verified (sign-in)"), "{steps}");
            assert!(steps.contains("check signature") && steps.contains(&sub));

            // The server rotates its keys, dropping the old one: the refresh's ID token names a
            // key the page has not seen, which is fetched once more.
            admin_post(env, "oidc/rotate-keys", json!({"keep_previous": false})).await;
            assert_ne!(
                oidc["current_kid"],
                e2e::env::sandbox_admin(
                    &env.http,
                    env.sandbox.base_url(),
                    reqwest::Method::GET,
                    "oidc",
                    None,
                )
                .await["current_kid"]
            );
            b.click("[data-testid=refresh-now]").await;
            b.wait_for_text("[data-testid=generation]", "1").await;
            eventually(
                "the refresh's ID token checked",
                Duration::from_secs(10),
                || async {
                    inspector_text(env)
                        .await
                        .contains("ID token verified (refresh)")
                },
            )
            .await;
            assert_eq!(env.requests_to("/restapi/oauth/jwks").await.len(), 2);
            assert_eq!(b.text("[data-testid=id-sub]").await, sub);
            assert!(b.exists("[data-testid=sign-out]").await, "still signed in");
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_id_token_is_refused_with_its_own_message_and_no_api_call() {
    run("oidc_bad_tokens", openid(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            let defects = [
                ("bad_signature", "signature"),
                ("alg_none", "alg"),
                ("hs256", "alg"),
                ("wrong_aud", "aud"),
                ("wrong_iss", "iss"),
                ("wrong_nonce", "nonce"),
                ("expired", "exp"),
                ("unknown_kid", "key"),
            ];
            for (defect, check) in defects {
                admin_post(env, "oidc/bad-id-token", json!({ "defect": defect })).await;
                env.clear_requests().await;
                b.goto(&env.app("/")).await;
                b.click("[data-testid=sign-in]").await;
                env.consent(e2e::env::USER, e2e::env::PASSWORD, "allow")
                    .await;
                let shown = b
                    .wait_for_page_text(&format!("the ID token failed its {check} check"))
                    .await;
                assert!(shown.contains("Nobody was signed in"), "{defect}: {shown}");
                assert!(!b.exists("[data-testid=sign-out]").await, "{defect}");
                assert!(
                    env.api_requests("").await.is_empty(),
                    "{defect}: no API call"
                );
                assert!(
                    env.requests_to("/restapi/oauth/userinfo").await.is_empty(),
                    "{defect}"
                );
                eventually(
                    &format!("{defect}: tokens revoked"),
                    Duration::from_secs(10),
                    || async { !env.revoke_requests().await.is_empty() },
                )
                .await;
                assert!(env.stored_session().await.is_none(), "{defect}");
            }
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotated_between_sign_ins_and_a_mixed_up_userinfo() {
    run("oidc_rotation", openid(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            b.wait_for_text("[data-testid=userinfo]", "same subject")
                .await;
            b.click("[data-testid=sign-out]").await;
            b.wait_for("[data-testid=sign-in]").await;
            admin_post(env, "oidc/rotate-keys", json!({"keep_previous": false})).await;
            // The next userinfo answer is about someone else: shown as refused, not used.
            admin_post(env, "oidc/userinfo-sub", json!({"sub": "123"})).await;
            env.sign_in().await;
            b.wait_for("[data-testid=identity]").await;
            let problem = b
                .wait_for_text("[data-testid=userinfo-problem]", "another user")
                .await;
            assert!(problem.contains("123"), "{problem}");
            assert!(b.exists("[data-testid=sign-out]").await);

            // A refresh whose ID token is meant for another client ends the session.
            admin_post(env, "oidc/bad-id-token", json!({"defect": "wrong_aud"})).await;
            env.clear_requests().await;
            b.click("[data-testid=refresh-now]").await;
            let shown = b
                .wait_for_page_text("the ID token of a refresh failed its aud check")
                .await;
            assert!(shown.contains("revoked"), "{shown}");
            eventually(
                "the refreshed tokens revoked",
                Duration::from_secs(10),
                || async { !env.revoke_requests().await.is_empty() },
            )
            .await;
            assert!(env.stored_session().await.is_none());
            // A reload still says why the session ended.
            b.reload().await;
            b.wait_for_page_text("the ID token of a refresh failed its aud check")
                .await;
        })
    })
    .await;
}
