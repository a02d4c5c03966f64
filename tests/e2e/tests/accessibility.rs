//! Accessibility and layout basics in the real browser: landmarks and a skip link, a label for every
//! form control, announced status messages, and pages that fit a 320 px wide screen without
//! horizontal scrolling.

use e2e::env::{EnvOptions, run};

const NO_OVERFLOW: &str = "return document.documentElement.scrollWidth <= window.innerWidth;";

const UNLABELLED: &str = r#"
    return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(el => !(el.id && document.querySelector(`label[for="${el.id}"]`)) && !el.closest('label') && !el.getAttribute('aria-label'))
        .map(el => el.outerHTML);"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landmarks_labels_and_a_320_px_layout() {
    run("accessibility", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            b.goto(&env.app("/")).await;
            b.wait_for("[data-testid=sign-in]").await;
            for landmark in ["header", "nav[aria-label]", "main#main", "footer"] {
                assert!(b.exists(landmark).await, "missing landmark {landmark}");
            }
            let first_link = b
                .execute("return document.querySelector('a[href]').className;")
                .await;
            assert_eq!(
                first_link, "skip-link",
                "the first link skips to the content"
            );

            b.client.set_window_size(320, 800).await.expect("resize");
            let width = b.execute("return window.innerWidth;").await;
            assert!(
                width.as_u64().is_some_and(|w| w <= 330),
                "window is {width} px wide"
            );
            assert_eq!(
                b.execute(NO_OVERFLOW).await,
                true,
                "home page overflows at 320 px"
            );

            b.goto(&env.app("/settings")).await;
            b.wait_for("#client-id").await;
            assert_eq!(
                b.execute(NO_OVERFLOW).await,
                true,
                "settings overflow at 320 px"
            );
            assert_eq!(
                b.execute(UNLABELLED).await,
                serde_json::json!([]),
                "settings controls need labels"
            );

            b.client.set_window_size(1280, 900).await.expect("resize");
            env.sign_in().await;
            b.wait_for("[data-testid=calls] .call-row").await;
            assert_eq!(
                b.execute(UNLABELLED).await,
                serde_json::json!([]),
                "account controls need labels"
            );
            b.client.set_window_size(320, 800).await.expect("resize");
            assert_eq!(
                b.execute(NO_OVERFLOW).await,
                true,
                "account page overflows at 320 px"
            );

            // Status changes are announced: signing out shows its result in a live region.
            b.client.set_window_size(1280, 900).await.expect("resize");
            b.click("[data-testid=sign-out]").await;
            b.wait_for_text("[role=status]", "signed out").await;
        })
    })
    .await;
}
