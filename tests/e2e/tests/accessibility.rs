//! Accessibility and layout basics in the real browser: landmarks and a skip link, a label for every
//! form control, the machine-checkable WCAG rules on every page ([`A11Y_PROBLEMS`]), announced
//! status messages, pages that fit a 320 px wide screen without horizontal scrolling, and tables
//! that show every column at 1280 px.

use e2e::env::{Env, EnvOptions, run};
use serde_json::json;

const NO_OVERFLOW: &str = "return document.documentElement.scrollWidth <= window.innerWidth;";

/// Every table of the page shows all its columns without scrolling its box sideways.
const TABLES_FIT: &str = r#"
    return [...document.querySelectorAll('.table-wrap')]
        .filter(w => w.scrollWidth > w.clientWidth)
        .map(w => `${w.scrollWidth} > ${w.clientWidth}: ${w.querySelector('tr')?.innerText}`);"#;

/// The rules of WCAG 2.2 a script can check without judgement, in the spirit of axe-core's (which
/// cannot be installed here): a language and a title, unique IDs, ID references that resolve, an
/// accessible name for every link, button and summary, alternative text for images, SVGs either
/// hidden or named images, data tables with header cells, headings that do not skip a level, one
/// `main`. Returns what is wrong.
const A11Y_PROBLEMS: &str = r#"
    const problems = [];
    const byId = id => document.getElementById(id);
    const named = el => [
        el.getAttribute('aria-label'),
        (el.getAttribute('aria-labelledby') || '').split(/\s+/).map(id => byId(id)?.textContent || '').join(' '),
        el.textContent,
        el.getAttribute('title'),
        [...el.querySelectorAll('img[alt], svg title')].map(i => i.alt || i.textContent).join(' '),
    ].some(t => t && t.trim());
    if (!document.documentElement.lang) problems.push('<html> has no lang');
    if (!document.title.trim()) problems.push('the page has no title');
    const seen = new Set();
    for (const el of document.querySelectorAll('[id]')) {
        if (seen.has(el.id)) problems.push(`duplicate id ${el.id}`);
        seen.add(el.id);
    }
    for (const attr of ['aria-labelledby', 'aria-describedby', 'aria-controls', 'for']) {
        for (const el of document.querySelectorAll(`[${attr}]`)) {
            for (const id of el.getAttribute(attr).split(/\s+/).filter(Boolean)) {
                if (!byId(id)) problems.push(`${attr}="${id}" points at nothing: ${el.outerHTML.slice(0, 100)}`);
            }
        }
    }
    for (const el of document.querySelectorAll('a[href], button, [role=button], summary')) {
        if (!named(el)) problems.push(`no accessible name: ${el.outerHTML.slice(0, 100)}`);
    }
    for (const el of document.querySelectorAll('img:not([alt])')) problems.push(`image without alt: ${el.outerHTML.slice(0, 100)}`);
    for (const el of document.querySelectorAll('svg')) {
        const hidden = el.closest('[aria-hidden=true]');
        if (!hidden && !(el.getAttribute('role') === 'img' && named(el))) {
            problems.push(`an SVG neither hidden nor a named image: ${el.outerHTML.slice(0, 100)}`);
        }
    }
    for (const t of document.querySelectorAll('table')) {
        if (!t.querySelector('th')) problems.push(`a table without header cells: ${t.outerHTML.slice(0, 100)}`);
    }
    let last = 0;
    for (const h of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
        const level = Number(h.tagName[1]);
        if (level > last + 1) problems.push(`heading ${h.tagName} "${h.textContent.trim()}" after h${last}`);
        last = level;
    }
    if (document.querySelectorAll('main').length !== 1) problems.push('not exactly one <main>');
    return problems;"#;

const UNLABELLED: &str = r#"
    return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(el => !(el.id && document.querySelector(`label[for="${el.id}"]`)) && !el.closest('label') && !el.getAttribute('aria-label'))
        .map(el => el.outerHTML);"#;

async fn no_a11y_problems(env: &Env, page: &str) {
    let problems = env.browser.execute(A11Y_PROBLEMS).await;
    assert_eq!(problems, json!([]), "{page}");
}

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
            no_a11y_problems(env, "home").await;
            // The check does find what it looks for.
            let planted = b
                .execute(
                    "const i = document.createElement('img'); document.body.append(i); \
                     const b = document.createElement('button'); document.body.append(b); \
                     const found = (() => { ... })(); i.remove(); b.remove(); return found;"
                        .replace("...", A11Y_PROBLEMS)
                        .as_str(),
                )
                .await;
            let planted = planted.to_string();
            assert!(
                planted.contains("image without alt") && planted.contains("no accessible name"),
                "{planted}"
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
            no_a11y_problems(env, "settings").await;
            b.goto(&env.app("/no-such-page")).await;
            b.wait_for_page_text("Page not found").await;
            no_a11y_problems(env, "not found").await;
            b.goto(&env.app("/oauth2callback?error=access_denied&state=x"))
                .await;
            b.wait_for_page_text("did not complete").await;
            no_a11y_problems(env, "a failed callback").await;

            b.client.set_window_size(1280, 900).await.expect("resize");
            env.sign_in().await;
            b.wait_for("[data-testid=calls] .call-row").await;
            assert_eq!(
                b.execute(UNLABELLED).await,
                serde_json::json!([]),
                "account controls need labels"
            );
            no_a11y_problems(env, "account").await;
            assert_eq!(
                b.execute(TABLES_FIT).await,
                json!([]),
                "a table hides columns at 1280 px"
            );
            b.client.set_window_size(320, 800).await.expect("resize");
            assert_eq!(
                b.execute(NO_OVERFLOW).await,
                true,
                "account page overflows at 320 px"
            );
            // There the table scrolls in its own box instead (which the 1280 px check would see).
            assert_ne!(b.execute(TABLES_FIT).await, json!([]));

            // Status changes are announced: signing out shows its result in a live region.
            b.client.set_window_size(1280, 900).await.expect("resize");
            b.click("[data-testid=sign-out]").await;
            b.wait_for_text("[role=status]", "signed out").await;
            // The home page then draws the sign-in that ended, its revoke last.
            b.wait_until(
                "the diagram of the sign-in that ended, with its revoke",
                "const d = document.querySelector('[data-testid=sequence] svg'); \
                 return !!d && d.textContent.includes('/revoke');",
            )
            .await;
            no_a11y_problems(env, "home after sign-out, with the sequence diagram").await;
        })
    })
    .await;
}
