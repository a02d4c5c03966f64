//! The pages the first-load modules draw: the signed-out home page and the start of the account
//! page. They are the same markup and text (`crate::present::text`) as
//! the app's components, so nothing moves when the app takes over.

use rc_pkce_core::config::AppConfig;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlButtonElement, Node};

use super::dom::{Built, el, node, text, with_text};
use crate::api::Extension;
use crate::browser::location;
use crate::present::text as copy;

/// Which navigation link is the current page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Current {
    Home,
    Account,
}

/// Replaces the page's `#app` content with the frame around `page`.
pub fn show(current: Current, page: Element) -> Built<()> {
    let app = super::dom::document()?
        .get_element_by_id("app")
        .ok_or_else(|| wasm_bindgen::JsValue::from_str("no #app"))?;
    let base = location::base_url();
    let link = |href: String, label: &str, is: bool| -> Built<Node> {
        let mut attrs = vec![("href", href.as_str())];
        if is {
            attrs.push(("aria-current", "page"));
        }
        Ok(node(el(
            "li",
            &[],
            vec![node(with_text("a", &attrs, label)?)],
        )?))
    };
    let header = el(
        "header",
        &[("class", "site-header")],
        vec![
            node(el(
                "div",
                &[("class", "brand")],
                vec![
                    node(with_text(
                        "span",
                        &[("class", "brand-mark"), ("aria-hidden", "true")],
                        copy::BRAND_MARK,
                    )?),
                    node(with_text(
                        "span",
                        &[("class", "brand-name")],
                        copy::BRAND_NAME,
                    )?),
                    node(with_text(
                        "span",
                        &[("class", "brand-tag")],
                        copy::BRAND_TAG,
                    )?),
                ],
            )?),
            node(el(
                "nav",
                &[("aria-label", copy::NAV_LABEL)],
                vec![node(el(
                    "ul",
                    &[],
                    vec![
                        link(base.clone(), copy::NAV_HOME, current == Current::Home)?,
                        link(
                            format!("{base}account"),
                            copy::NAV_ACCOUNT,
                            current == Current::Account,
                        )?,
                        link(format!("{base}settings"), copy::NAV_SETTINGS, false)?,
                    ],
                )?)],
            )?),
        ],
    )?;
    let children = [
        node(with_text(
            "a",
            &[("class", "skip-link"), ("href", "#main")],
            copy::SKIP_TO_CONTENT,
        )?),
        node(header),
        node(el(
            "main",
            &[("id", "main"), ("tabindex", "-1")],
            vec![node(page)],
        )?),
        node(el(
            "footer",
            &[("class", "site-footer")],
            vec![node(with_text("p", &[], copy::FOOTER)?)],
        )?),
    ];
    let list = js_sys::Array::new();
    for c in children {
        list.push(&c);
    }
    app.replace_children_with_node(&list);
    Ok(())
}

/// The home page's parts the module wires up.
pub struct Home {
    pub page: Element,
    pub button: HtmlButtonElement,
    /// Where a problem with starting the sign-in is shown.
    pub problem: Element,
}

/// The signed-out home page for `config`.
pub fn home(config: &AppConfig) -> Built<Home> {
    let server = copy::server(config.preset().map(|p| p.label()), &config.server);
    let code = |s: &str| -> Built<Node> { Ok(node(with_text("code", &[], s)?)) };
    let mut facts = Vec::new();
    facts.extend(fact(copy::FACT_SERVER, text(&server)?, Some("server"))?);
    facts.extend(fact(
        copy::FACT_CLIENT_ID,
        code(&config.client_id)?,
        Some("client-id"),
    )?);
    facts.extend(fact(
        copy::FACT_REDIRECT_URI,
        code(&config.redirect_uri)?,
        None,
    )?);
    let button: HtmlButtonElement = with_text(
        "button",
        &[("class", "button primary big"), ("data-testid", "sign-in")],
        copy::SIGN_IN,
    )?
    .unchecked_into();
    let problem = el("div", &[], vec![])?;
    let settings = format!("{}settings", location::base_url());
    let page = el(
        "div",
        &[("class", "page home")],
        vec![
            node(with_text("h1", &[], copy::HOME_TITLE)?),
            node(with_text("p", &[("class", "lead")], copy::HOME_LEAD)?),
            node(problem.clone()),
            node(card(
                "target-heading",
                copy::TARGET_HEADING,
                None,
                vec![
                    node(el("dl", &[("class", "facts")], facts)?),
                    node(el(
                        "div",
                        &[("class", "actions")],
                        vec![
                            button.clone().into(),
                            node(with_text("a", &[("href", &settings)], copy::OWN_CLIENT)?),
                        ],
                    )?),
                ],
            )?),
        ],
    )?;
    Ok(Home {
        page,
        button,
        problem,
    })
}

/// An error notice with what went wrong and what to do, as the app's message box draws it.
pub fn problem(title: &str, hint: Option<&str>) -> Built<Element> {
    let mut children = vec![node(with_text("p", &[("class", "notice-title")], title)?)];
    if let Some(h) = hint {
        children.push(node(with_text("p", &[("class", "notice-hint")], h)?));
    }
    el(
        "section",
        &[("class", "notice notice-error"), ("role", "alert")],
        children,
    )
}

/// `<section class=card>` labelled by its `<h2 id=heading_id>`, then `body`; `busy` is its
/// `aria-busy`, when the app's card has one.
fn card(heading_id: &str, heading: &str, busy: Option<bool>, body: Vec<Node>) -> Built<Element> {
    let mut attrs = vec![("class", "card"), ("aria-labelledby", heading_id)];
    if let Some(b) = busy {
        attrs.push(("aria-busy", if b { "true" } else { "false" }));
    }
    let mut children = vec![node(with_text("h2", &[("id", heading_id)], heading)?)];
    children.extend(body);
    el("section", &attrs, children)
}

/// One entry of a fact list: `<dt>label</dt><dd data-testid=…>value</dd>`.
fn fact(label: &str, value: Node, testid: Option<&str>) -> Built<[Node; 2]> {
    let attrs: Vec<(&str, &str)> = testid.map(|t| ("data-testid", t)).into_iter().collect();
    Ok([
        node(with_text("dt", &[], label)?),
        node(el("dd", &attrs, vec![value])?),
    ])
}

fn facts(rows: [copy::Row; 5]) -> Built<Element> {
    let mut children = Vec::new();
    for (label, value, testid) in rows {
        children.extend(fact(label, text(&copy::shown(value))?, Some(testid))?);
    }
    el("dl", &[("class", "facts")], children)
}

/// The account page with the "You" card filled in and the account card loading.
pub fn account(ext: &Extension) -> Built<Element> {
    let account_card = card(
        "acct-heading",
        copy::ACCOUNT_HEADING,
        Some(true),
        vec![node(with_text(
            "p",
            &[("class", "loading"), ("role", "status")],
            copy::LOADING_ACCOUNT,
        )?)],
    )?;
    let you = card(
        "ext-heading",
        copy::YOU_HEADING,
        Some(false),
        vec![
            node(with_text(
                "p",
                &[("class", "big-name"), ("data-testid", "user-name")],
                &ext.display_name(),
            )?),
            node(facts(copy::extension_rows(ext))?),
        ],
    )?;
    el(
        "div",
        &[("class", "page account")],
        vec![
            node(el(
                "div",
                &[("class", "page-head")],
                vec![node(with_text("h1", &[], copy::ACCOUNT_TITLE)?)],
            )?),
            node(el(
                "div",
                &[("class", "grid")],
                vec![node(you), node(account_card)],
            )?),
        ],
    )
}
