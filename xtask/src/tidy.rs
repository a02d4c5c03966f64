//! Layering checks on the workspace's own source, run as tests (`cargo test -p xtask`): the
//! architecture's rules are only rules while something fails when they are broken.
//!
//! - the core crate depends on no browser crate and names no browser API;
//! - browser adapters (`src/browser/`) never reach into the first-load modules;
//! - only `src/ui/` uses Leptos;
//! - no two modules of a crate (the app, the core, the sandbox, the simulator) depend on each
//!   other, directly or round a longer cycle (top-level modules, and the submodules of each
//!   directory module among themselves).
//!
//! Where the tree does not follow a rule yet, the exception is listed in [`KNOWN`] with the work
//! that removes it; an exception that no longer occurs fails too, so the list only shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Rule violations the tree still has, each as the line [`check`] reports for it.
const KNOWN: &[&str] = &[];

/// One source file: its path relative to the crate's `src/`, and its text.
type Files = BTreeMap<PathBuf, String>;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

fn read_tree(src: &Path) -> Files {
    fn walk(dir: &Path, base: &Path, out: &mut Files) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).expect("readable source");
                out.insert(
                    path.strip_prefix(base).expect("under src").to_path_buf(),
                    text,
                );
            }
        }
    }
    let mut out = Files::new();
    walk(src, src, &mut out);
    out
}

/// The text without comments, so a doc link to a module is not taken for a use of it, and
/// without the unit tests at the end of a file: a test may use any module it needs.
fn code_of(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim_start().starts_with("mod "))
        .unwrap_or(lines.len());
    lines[..end]
        .iter()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module names `prefix` is followed by in `code`: `prefix::a` and `prefix::{a, b::c}`.
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    let needle = format!("{prefix}::");
    let mut rest = code;
    while let Some(i) = rest.find(&needle) {
        let before = rest[..i].chars().last();
        rest = &rest[i + needle.len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue; // `mycrate::`, not `crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.insert(ident(&group[start..j]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(&group[start..j]));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.remove("");
    out.remove("self");
    out
}

/// Path components of a file's module: `browser/http.rs` → [browser, http], `ui/mod.rs` → [ui].
fn module_of(file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Module cycles among the top-level modules of a crate and among the children of each of its
/// directory modules, as "a -> b -> a" paths.
fn cycles(files: &Files) -> Vec<String> {
    // parent module path -> child -> children it uses
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (file, text) in files {
        let module = module_of(file);
        let first = module.first().map(String::as_str);
        if module.is_empty() || matches!(first, Some("main" | "lib" | "bin")) {
            continue; // the crate root and separate binaries may use anything
        }
        let code = code_of(text);
        let used = names_after(&code, "crate");
        // Top level.
        let top = graphs.entry(Vec::new()).or_default();
        let edges = top.entry(module[0].clone()).or_default();
        edges.extend(used.iter().filter(|u| **u != module[0]).cloned());
        // Inside each enclosing directory module: siblings via `super::` (from a file in it) and
        // via `crate::parent::`.
        for depth in 1..module.len() {
            let parent = module[..depth].to_vec();
            let me = module[depth].clone();
            let mut siblings = BTreeSet::new();
            if depth == module.len() - 1 && !file.ends_with("mod.rs") {
                siblings.extend(names_after(&code, "super"));
            }
            siblings.extend(names_after(&code, &format!("crate::{}", parent.join("::"))));
            siblings.remove(&me);
            graphs
                .entry(parent)
                .or_default()
                .entry(me)
                .or_default()
                .extend(siblings);
        }
    }
    let mut found = Vec::new();
    for (parent, graph) in &graphs {
        for cycle in strongly_connected(graph) {
            let prefix = if parent.is_empty() {
                String::new()
            } else {
                format!("{}::", parent.join("::"))
            };
            let names: Vec<_> = cycle.iter().map(|n| format!("{prefix}{n}")).collect();
            found.push(format!("{} -> {}", names.join(" -> "), names[0]));
        }
    }
    found
}

/// The strongly connected components with more than one node (Tarjan), each from its smallest
/// name along the edges.
fn strongly_connected(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let Some((w, _)) = self.graph.get_key_value(w.as_str()) else {
                    continue; // an external name or an item, not a module of this level
                };
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.out.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.out
}

/// Every rule broken in the given trees, one line each.
fn check(
    app: &Files,
    core: &Files,
    core_manifest: &str,
    sandbox: &Files,
    sim: &Files,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (file, text) in app {
        let code = code_of(text);
        let shown = format!("src/{}", file.display());
        if file.starts_with("browser") {
            for used in names_after(&code, "crate") {
                if used == "early" || used == "first_load" {
                    problems.push(format!(
                        "browser adapter imports the first-load modules: {shown} -> {used}"
                    ));
                }
            }
        }
        let uses_leptos = code
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|w| w == "leptos" || w == "leptos_router");
        if uses_leptos && !file.starts_with("ui") {
            problems.push(format!("leptos outside ui/: {shown}"));
        }
    }
    const BROWSER_CRATES: &[&str] = &[
        "web-sys",
        "js-sys",
        "wasm-bindgen",
        "wasm-bindgen-futures",
        "gloo",
        "leptos",
    ];
    for line in core_manifest.lines() {
        let name = line.split(['=', ' ', '.']).next().unwrap_or_default();
        if BROWSER_CRATES.contains(&name) || name.starts_with("gloo-") {
            problems.push(format!("browser dependency in the core: {name}"));
        }
    }
    for (file, text) in core {
        let code = code_of(text);
        for api in ["web_sys", "js_sys", "wasm_bindgen", "gloo_"] {
            if code.contains(api) {
                problems.push(format!(
                    "browser API in the core: core/src/{} names {api}",
                    file.display()
                ));
            }
        }
    }
    for (name, files) in [
        ("rc-pkce", app),
        ("rc-pkce-core", core),
        ("sandbox", sandbox),
        ("sim", sim),
    ] {
        for cycle in cycles(files) {
            problems.push(format!("module cycle in {name}: {cycle}"));
        }
    }
    problems
}

/// The first-load modules must be built without the app's Leptos UI (the `app` feature), or its
/// dependencies' wasm-bindgen exports are linked into them (about 10 KB of wasm and 6 KB of JS
/// each, measured with `cargo xtask sizes`); the app must be built with it.
fn first_load_build_problems(index_html: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for bin in ["rc-pkce", "rc-pkce-home", "rc-pkce-callback"] {
        let attribute = format!("data-bin=\"{bin}\"");
        let links: Vec<&str> = index_html
            .split("<link")
            .filter(|link| link.contains(&attribute))
            .collect();
        let [link] = links[..] else {
            problems.push(format!("index.html needs one <link> with {attribute}"));
            continue;
        };
        let without = link.contains("data-cargo-no-default-features");
        if without == (bin == "rc-pkce") {
            problems.push(format!(
                "index.html: {bin} must be built {} data-cargo-no-default-features",
                if without { "without" } else { "with" }
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_load_modules_are_built_without_the_app_feature() {
        let html = std::fs::read_to_string(workspace().join("index.html")).expect("index.html");
        assert_eq!(first_load_build_problems(&html), Vec::<String>::new());
        let planted = html.replacen(
            "data-bin=\"rc-pkce-home\" data-type=\"worker\" data-cargo-no-default-features",
            "data-bin=\"rc-pkce-home\" data-type=\"worker\"",
            1,
        );
        assert_ne!(planted, html, "the planted change must apply");
        assert_eq!(
            first_load_build_problems(&planted),
            ["index.html: rc-pkce-home must be built with data-cargo-no-default-features"]
        );
        assert_eq!(
            first_load_build_problems("<html></html>").len(),
            3,
            "a missing link is named"
        );
    }

    fn tree(files: &[(&str, &str)]) -> Files {
        files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect()
    }

    #[test]
    fn the_workspace_keeps_its_layers() {
        let root = workspace();
        let manifest =
            std::fs::read_to_string(root.join("core/Cargo.toml")).expect("core manifest");
        let found = check(
            &read_tree(&root.join("src")),
            &read_tree(&root.join("core/src")),
            &manifest,
            &read_tree(&root.join("sandbox/src")),
            &read_tree(&root.join("sim/src")),
        );
        let new: Vec<_> = found
            .iter()
            .filter(|p| !KNOWN.contains(&p.as_str()))
            .collect();
        assert!(new.is_empty(), "layering broken:\n{new:#?}");
        let fixed: Vec<_> = KNOWN
            .iter()
            .filter(|k| !found.iter().any(|p| p == *k))
            .collect();
        assert!(
            fixed.is_empty(),
            "no longer broken, remove from tidy::KNOWN:\n{fixed:#?}"
        );
    }

    #[test]
    fn a_planted_cycle_is_found_directly_and_round_a_longer_loop() {
        let two = tree(&[
            ("a.rs", "use crate::b::X;"),
            ("b.rs", "use crate::{c, a::Y};"),
            (
                "c.rs",
                "// crate::a is only mentioned here\nfn f() {}\n#[cfg(test)]\nmod tests { use crate::a; }",
            ),
        ]);
        assert_eq!(cycles(&two), ["a -> b -> a"]);
        let three = tree(&[
            ("a.rs", "use crate::b::X;"),
            ("b.rs", "fn f() { crate::c::g() }"),
            ("c.rs", "use crate::{\n    a::{Z, W},\n};"),
        ]);
        assert_eq!(cycles(&three), ["a -> b -> c -> a"]);
        let nested = tree(&[
            ("net/mod.rs", "mod http; mod early;"),
            ("net/http.rs", "use super::early;"),
            ("net/early.rs", "use crate::net::http::send;"),
            ("lib.rs", "use crate::net::http;"),
        ]);
        assert_eq!(cycles(&nested), ["net::early -> net::http -> net::early"]);
        let acyclic = tree(&[
            ("a.rs", "use crate::b; use mycrate::a;"),
            ("b.rs", "use std::a;"),
        ]);
        assert!(cycles(&acyclic).is_empty());
    }

    #[test]
    fn planted_layer_violations_are_named() {
        let app = tree(&[
            ("browser/http.rs", "use crate::first_load::x;"),
            ("driver.rs", "use leptos::prelude::*;"),
            ("ui/page.rs", "use leptos::prelude::*;"),
        ]);
        let core = tree(&[("lib.rs", "fn f() { web_sys::window(); }")]);
        let found = check(
            &app,
            &core,
            "[dependencies]\nweb-sys = \"0.3\"\n",
            &Files::new(),
            &Files::new(),
        );
        assert_eq!(
            found,
            [
                "browser adapter imports the first-load modules: src/browser/http.rs -> first_load",
                "leptos outside ui/: src/driver.rs",
                "browser dependency in the core: web-sys",
                "browser API in the core: core/src/lib.rs names web_sys",
            ]
        );
    }
}
