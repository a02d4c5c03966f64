//! The user journeys of the app in headless Chromium against the sandbox. Each test asserts what
//! the user sees and what the sandbox saw.

use e2e::env::{EnvOptions, USER_COMPANY, USER_EXTENSION, USER_NAME, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_signs_in_and_shows_the_account() {
    run("happy_path", EnvOptions::default(), |env| {
        Box::pin(async move {
            env.sign_in().await;
            let b = &env.browser;
            assert_eq!(
                b.text("[data-testid=extension-number]").await,
                USER_EXTENSION
            );
            b.wait_for_text("[data-testid=company]", USER_COMPANY).await;
            b.wait_for("[data-testid=calls] .call-row").await;
            let url = b.url().await;
            assert!(url.ends_with("/account"), "{url}");
            assert!(!url.contains("code=") && !url.contains("state="), "{url}");
            let session = env
                .stored_session()
                .await
                .expect("session in sessionStorage");
            assert_eq!(session["v"], 1);
            let access = session["access_token"].as_str().unwrap().to_string();
            let local = b.local_storage().await.to_string();
            assert!(
                !local.contains(&access),
                "no token in localStorage: {local}"
            );
            let tokens = env.token_requests(None).await;
            assert_eq!(tokens.len(), 1, "{tokens:?}");
            assert_eq!(tokens[0]["grant_type"], "authorization_code");
            assert_eq!(tokens[0]["status"], 200);
            let _ = USER_NAME;
        })
    })
    .await;
}
