//! `cargo xtask hash-first-load`: trunk's post-build hook that gives the first-load modules
//! content-hashed names, as trunk gives the app's.
//!
//! trunk builds the first-load modules as "workers" (it allows one main module per page) and names
//! worker files after the binary only: `rc-pkce-home.js` and `rc-pkce-home_bg.wasm`. Unhashed, a
//! host has to revalidate them on every visit, a round trip on the critical path of the sign-in.
//! This renames each pair to `<name>-<16 hex>.js` and `<name>-<16 hex>_bg.wasm` (the hash covers
//! both files) and writes the new name into index.html, where the boot script's `data-home` and
//! `data-callback` attributes carry it; hosts then cache them for a year like every hashed asset.
//!
//! It also adds preload links for the home page's module, so that a first visit downloads it
//! alongside boot.js instead of after it. Only that one: on `/` the callback module would be bytes
//! loaded before the sign-in button works, for nothing.

use std::path::Path;

/// The first-load modules (trunk `data-bin` names).
pub const MODULES: [&str; 2] = ["rc-pkce-home", "rc-pkce-callback"];

/// Runs the hook on trunk's staging folder (`TRUNK_STAGING_DIR`).
pub fn run() -> Result<u8, String> {
    let dir = std::env::var_os("TRUNK_STAGING_DIR").ok_or(
        "TRUNK_STAGING_DIR is not set: this command runs as trunk's post_build hook (Trunk.toml)",
    )?;
    for (module, hashed) in hash_modules(Path::new(&dir))? {
        println!("hash-first-load: {module} -> {hashed}");
    }
    Ok(0)
}

/// Renames every module in `dir` and points index.html at the new names; returns (old, new).
pub fn hash_modules(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let index_path = dir.join("index.html");
    let mut index = std::fs::read_to_string(&index_path)
        .map_err(|e| format!("cannot read {}: {e}", index_path.display()))?;
    let mut renamed = Vec::new();
    for module in MODULES {
        let js = dir.join(format!("{module}.js"));
        let wasm = dir.join(format!("{module}_bg.wasm"));
        let read =
            |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
        let (js_bytes, wasm_bytes) = (read(&js)?, read(&wasm)?);
        let digest = rc_pkce_core::pkce::sha256(&[js_bytes, wasm_bytes].concat());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let hashed = format!("{module}-{hex}");
        // The attribute value ends with the module's name (after the public URL).
        let old_value = format!("{module}\"");
        if index.matches(&old_value).count() != 1 {
            return Err(format!(
                "index.html must name {module} exactly once (in the boot script's data attribute); check pattern_script in Trunk.toml"
            ));
        }
        index = index.replace(&old_value, &format!("{hashed}\""));
        let rename = |from: &Path, to: String| {
            std::fs::rename(from, dir.join(&to))
                .map_err(|e| format!("cannot rename {} to {to}: {e}", from.display()))
        };
        rename(&js, format!("{hashed}.js"))?;
        rename(&wasm, format!("{hashed}_bg.wasm"))?;
        renamed.push((module.to_string(), hashed));
    }
    index = with_home_preload(&index)?;
    std::fs::write(&index_path, index)
        .map_err(|e| format!("cannot write {}: {e}", index_path.display()))?;
    Ok(renamed)
}

/// `index` with preload links for the home module before `</head>`, at the URL its `data-home`
/// attribute names.
fn with_home_preload(index: &str) -> Result<String, String> {
    let home = crate::deploy::html_attribute(index, "data-home")
        .ok_or("index.html has no data-home attribute; check pattern_script in Trunk.toml")?;
    let links = format!(
        "<link rel=\"modulepreload\" href=\"{home}.js\"><link rel=\"preload\" href=\"{home}_bg.wasm\" as=\"fetch\" type=\"application/wasm\" crossorigin>"
    );
    let head_end = index.find("</head>").ok_or("index.html has no </head>")?;
    Ok(format!(
        "{}{links}{}",
        &index[..head_end],
        &index[head_end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("xtask-first-load-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const INDEX: &str = r#"<head><script data-base="/sub/" data-home="/sub/rc-pkce-home" data-callback="/sub/rc-pkce-callback"></script></head>"#;

    fn write_modules(dir: &Path, content: &str) {
        for m in MODULES {
            std::fs::write(dir.join(format!("{m}.js")), format!("js {m} {content}")).unwrap();
            std::fs::write(
                dir.join(format!("{m}_bg.wasm")),
                format!("wasm {m} {content}"),
            )
            .unwrap();
        }
    }

    #[test]
    fn renames_each_module_by_its_content_and_updates_index_html() {
        let dir = stage("rename");
        std::fs::write(dir.join("index.html"), INDEX).unwrap();
        write_modules(&dir, "v1");
        let renamed = hash_modules(&dir).unwrap();
        let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
        for (module, hashed) in &renamed {
            let hex = hashed.strip_prefix(&format!("{module}-")).unwrap();
            assert_eq!(hex.len(), 16);
            assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
            assert!(dir.join(format!("{hashed}.js")).is_file());
            assert!(dir.join(format!("{hashed}_bg.wasm")).is_file());
            assert!(!dir.join(format!("{module}.js")).exists());
            assert!(index.contains(&format!("\"/sub/{hashed}\"")), "{index}");
        }
        assert_ne!(renamed[0].1, renamed[1].1);
        // The home module is preloaded (the callback module is not).
        let home = &renamed[0].1;
        assert!(
            index.contains(&format!(
                r#"<link rel="modulepreload" href="/sub/{home}.js">"#
            )),
            "{index}"
        );
        assert!(index.contains(&format!(r#"<link rel="preload" href="/sub/{home}_bg.wasm" as="fetch" type="application/wasm" crossorigin>"#)), "{index}");
        assert!(index.ends_with("</head>"), "{index}");
        assert_eq!(index.matches("preload").count(), 2, "{index}");

        // Another build with other content gets other names; the same content the same names.
        let again = |content: &str| {
            let d = stage(&format!("again-{content}"));
            std::fs::write(d.join("index.html"), INDEX).unwrap();
            write_modules(&d, content);
            hash_modules(&d).unwrap()
        };
        assert_eq!(again("v1"), renamed);
        assert_ne!(again("v2"), renamed);
    }

    #[test]
    fn a_missing_module_or_attribute_is_an_error() {
        let dir = stage("missing");
        std::fs::write(dir.join("index.html"), INDEX).unwrap();
        let e = hash_modules(&dir).unwrap_err();
        assert!(e.contains("rc-pkce-home.js"), "{e}");

        let dir = stage("no-attribute");
        std::fs::write(
            dir.join("index.html"),
            "<head><script data-base=\"/\"></script></head>",
        )
        .unwrap();
        write_modules(&dir, "v1");
        let e = hash_modules(&dir).unwrap_err();
        assert!(e.contains("exactly once"), "{e}");
    }
}
