//! `cargo xtask sizes`: where the bytes of each wasm module go, per crate, so a size regression
//! names its cause.
//!
//! The three modules (the app and the two first-load modules) are built like a release build but
//! with their symbol names kept (in their own target directory, so the normal release cache stays
//! warm), then put through the same wasm-bindgen and `wasm-opt -Oz` steps trunk runs, with `-g` so
//! the names survive. What is measured is therefore what ships, less the name section. Each
//! function body is charged to one crate (see [`crate_of`]); static data and the rest of the
//! module's sections are their own rows.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::process::{self, describe};
use crate::{Error, Result, workspace_root};

/// The modules measured, as cargo binary names.
pub const MODULES: [&str; 3] = ["rc-pkce", "rc-pkce-home", "rc-pkce-callback"];

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Compare with a report written earlier by `--save`.
    pub against: Option<PathBuf>,
    /// Write the figures as a baseline for a later `--against`.
    pub save: Option<PathBuf>,
    /// How many of the biggest functions to list per module.
    pub top: usize,
}

pub fn parse(args: &[String]) -> std::result::Result<Options, String> {
    let mut options = Options {
        top: 10,
        ..Options::default()
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--against" => options.against = Some(value()?.into()),
            "--save" => options.save = Some(value()?.into()),
            "--top" => {
                let text = value()?;
                options.top = text
                    .parse()
                    .map_err(|_| format!("--top needs a number, not '{text}'"))?;
            }
            other => return Err(format!("unknown option '{other}' for 'sizes'")),
        }
    }
    Ok(options)
}

/// The bytes of one module, split into rows.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Breakdown {
    /// The whole optimised file, name section excluded.
    pub total: usize,
    /// Function body bytes per crate.
    pub crates: BTreeMap<String, usize>,
    /// Bytes of data segments (string literals, tables of constants).
    pub data: usize,
    /// The biggest functions: (bytes, demangled name).
    pub functions: Vec<(usize, String)>,
}

impl Breakdown {
    /// Every row of the report: the crates, then `[data]` and `[other]` (types, imports,
    /// exports, tables and section headers).
    pub fn rows(&self) -> BTreeMap<String, usize> {
        let mut rows = self.crates.clone();
        let code: usize = self.crates.values().sum();
        rows.insert("[data]".into(), self.data);
        rows.insert(
            "[other]".into(),
            self.total.saturating_sub(code + self.data),
        );
        rows
    }
}

/// Splits a wasm module into crates, data and the rest.
pub fn analyse(wasm: &[u8]) -> std::result::Result<Breakdown, String> {
    use wasmparser::{KnownCustom, Name, Parser, Payload};

    let mut breakdown = Breakdown {
        total: wasm.len(),
        ..Breakdown::default()
    };
    let mut imported_functions = 0u32;
    let mut bodies: Vec<usize> = Vec::new();
    let mut names: BTreeMap<u32, String> = BTreeMap::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| format!("not a wasm module: {e}"))? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(|e| e.to_string())?;
                    if matches!(import.ty, wasmparser::TypeRef::Func(_)) {
                        imported_functions += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body.range().len()),
            Payload::DataSection(reader) => {
                for data in reader {
                    breakdown.data += data.map_err(|e| e.to_string())?.data.len();
                }
            }
            Payload::CustomSection(section) => {
                if section.name() == "name" {
                    // The range is the section's contents; its id byte and LEB128 length go too.
                    let len = section.range().len();
                    breakdown.total -= len + 1 + leb128_len(len);
                }
                if let KnownCustom::Name(reader) = section.as_known() {
                    for name in reader {
                        if let Ok(Name::Function(map)) = name {
                            for naming in map.into_iter().flatten() {
                                names.insert(naming.index, naming.name.to_string());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if names.is_empty() && !bodies.is_empty() {
        return Err("the module has no function names (was it built stripped?)".into());
    }
    for (i, size) in bodies.into_iter().enumerate() {
        let index = imported_functions + i as u32;
        let name = names
            .get(&index)
            .map(|n| format!("{:#}", rustc_demangle::demangle(n)))
            .unwrap_or_else(|| format!("function[{index}]"));
        *breakdown.crates.entry(crate_of(&name)).or_default() += size;
        breakdown.functions.push((size, name));
    }
    breakdown
        .functions
        .sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    Ok(breakdown)
}

/// The crate a function's bytes are charged to: the first crate named in its demangled path that
/// is not the standard library, so `core::ptr::drop_in_place<leptos::...>` and
/// `<alloc::vec::Vec<T> as serde::Serialize>::serialize` count for the crate that caused them;
/// purely standard-library code counts as `std` (core, alloc and std together). Names that are not
/// Rust paths (wasm-bindgen's shims, the allocator's C symbols) count as `[glue]`.
pub fn crate_of(demangled: &str) -> String {
    const STD: [&str; 4] = ["core", "alloc", "std", "compiler_builtins"];
    let mut first_std = None;
    let bytes = demangled.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        // A path starts the name or follows `<`, `&`, `(`, `[`, `,`, `*` or a space; an
        // identifier after `::` is a module, not a crate.
        let at_path_start = start == 0 || b"<&([,* ".contains(&bytes[start - 1]);
        if at_path_start && is_ident_start(bytes[start]) {
            let end = start + bytes[start..].iter().take_while(|&&b| is_ident(b)).count();
            // The standard library's own symbols carry a disambiguator: `core[c5930c85a12de822]::`.
            let after = match demangled[end..].strip_prefix('[') {
                Some(rest) => rest.find(']').map_or(end, |close| end + close + 2),
                None => end,
            };
            if demangled[after..].starts_with("::") {
                let name = &demangled[start..end];
                if STD.contains(&name) {
                    first_std.get_or_insert("std");
                } else {
                    return name.to_string();
                }
            }
            start = end;
        } else {
            start += 1;
        }
    }
    first_std.unwrap_or("[glue]").to_string()
}

fn leb128_len(mut n: usize) -> usize {
    let mut bytes = 1;
    while n >= 0x80 {
        n >>= 7;
        bytes += 1;
    }
    bytes
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A saved report: `module<TAB>row<TAB>bytes` lines.
pub fn encode(reports: &[(String, Breakdown)]) -> String {
    let mut out = String::new();
    for (module, breakdown) in reports {
        let _ = writeln!(out, "{module}\t[total]\t{}", breakdown.total);
        for (row, bytes) in breakdown.rows() {
            let _ = writeln!(out, "{module}\t{row}\t{bytes}");
        }
    }
    out
}

pub type Baseline = BTreeMap<(String, String), usize>;

pub fn decode(text: &str) -> std::result::Result<Baseline, String> {
    let mut baseline = Baseline::new();
    for (number, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        let parsed = match fields[..] {
            [module, row, bytes] => bytes.parse().ok().map(|b| (module, row, b)),
            _ => None,
        };
        let Some((module, row, bytes)) = parsed else {
            return Err(format!(
                "line {}: expected module, row and bytes separated by tabs",
                number + 1
            ));
        };
        baseline.insert((module.to_string(), row.to_string()), bytes);
    }
    Ok(baseline)
}

/// The report for one module: rows biggest first, with the change from `baseline` if given.
pub fn render(
    module: &str,
    breakdown: &Breakdown,
    baseline: Option<&Baseline>,
    top: usize,
) -> String {
    let before = |row: &str| baseline.and_then(|b| b.get(&(module.to_string(), row.to_string())));
    let delta = |row: &str, now: usize| match (baseline, before(row)) {
        (None, _) => String::new(),
        (Some(_), None) => "  (new)".to_string(),
        (Some(_), Some(&was)) if was == now => String::new(),
        (Some(_), Some(&was)) => format!("  {:+}", now as i64 - was as i64),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{module}: {} B after wasm-opt{}",
        breakdown.total,
        delta("[total]", breakdown.total)
    );
    let mut rows: Vec<(String, usize)> = breakdown.rows().into_iter().collect();
    if let Some(baseline) = baseline {
        for ((m, row), _) in baseline.iter() {
            if m == module && row != "[total]" && !rows.iter().any(|(r, _)| r == row) {
                rows.push((row.clone(), 0));
            }
        }
    }
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (row, bytes) in rows {
        let share = bytes as f64 * 100.0 / breakdown.total.max(1) as f64;
        let _ = writeln!(
            out,
            "  {row:<28} {bytes:>9} B {share:>5.1} %{}",
            delta(&row, bytes)
        );
    }
    if top > 0 {
        let _ = writeln!(out, "  biggest functions:");
        for (bytes, name) in breakdown.functions.iter().take(top) {
            let _ = writeln!(out, "  {bytes:>9} B  {}", shorten(name, 100));
        }
    }
    out
}

fn shorten(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    let cut: String = name.chars().take(max - 1).collect();
    format!("{cut}…")
}

pub fn run(options: &Options) -> Result<u8> {
    let baseline = match &options.against {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::new(format!("sizes: cannot read {}: {e}", path.display())))?;
            Some(decode(&text).map_err(|e| Error::new(format!("sizes: {}: {e}", path.display())))?)
        }
    };
    crate::setup::run(false)?;
    let root = workspace_root();
    let target = root.join("target").join("sizes");
    // As index.html has trunk build them: the app with its default features, the first-load
    // modules without (no Leptos).
    for (modules, features) in [
        (&MODULES[..1], None),
        (&MODULES[1..], Some("--no-default-features")),
    ] {
        let mut build = process::cargo();
        build
            .args(["build", "--release", "--target", "wasm32-unknown-unknown"])
            .args(features)
            .args(modules.iter().flat_map(|m| ["--bin", m]))
            // Everything as in a release build except that the symbol names stay.
            .env("CARGO_PROFILE_RELEASE_STRIP", "false")
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(&root);
        check(&mut build, "build")?;
    }
    let opt_params = wasm_opt_params(&root)?;
    let mut reports = Vec::new();
    for module in MODULES {
        let wasm = target
            .join("wasm32-unknown-unknown")
            .join("release")
            .join(format!("{module}.wasm"));
        let optimised = optimise(&wasm, &target.join("opt").join(module), &opt_params)?;
        let bytes = std::fs::read(&optimised)
            .map_err(|e| Error::new(format!("sizes: {}: {e}", optimised.display())))?;
        let breakdown = analyse(&bytes)
            .map_err(|e| Error::new(format!("sizes: {}: {e}", optimised.display())))?;
        print!(
            "{}",
            render(module, &breakdown, baseline.as_ref(), options.top)
        );
        reports.push((module.to_string(), breakdown));
    }
    if let Some(path) = &options.save {
        std::fs::write(path, encode(&reports))
            .map_err(|e| Error::new(format!("sizes: cannot write {}: {e}", path.display())))?;
        println!("sizes: saved to {}", path.display());
    }
    Ok(0)
}

/// Drops every custom section called `name` (header included).
pub fn without_custom_section(wasm: &[u8], name: &str) -> std::result::Result<Vec<u8>, String> {
    use wasmparser::{Parser, Payload};
    let mut cuts = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::CustomSection(section) = payload.map_err(|e| e.to_string())?
            && section.name() == name
        {
            let range = section.range();
            cuts.push(range.start - 1 - leb128_len(range.len())..range.end);
        }
    }
    let mut out = Vec::with_capacity(wasm.len());
    let mut at = 0;
    for cut in cuts {
        out.extend_from_slice(&wasm[at..cut.start]);
        at = cut.end;
    }
    out.extend_from_slice(&wasm[at..]);
    Ok(out)
}

/// wasm-bindgen then wasm-opt, as trunk runs them; returns the optimised file.
fn optimise(wasm: &Path, out_dir: &Path, opt_params: &[String]) -> Result<PathBuf> {
    let _ = std::fs::remove_dir_all(out_dir);
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Error::new(format!("sizes: {}: {e}", out_dir.display())))?;
    // The precompiled std declares reference types in this section, which a stripped build drops
    // and wasm-bindgen would otherwise act on (see the profile notes in Cargo.toml).
    let bytes =
        std::fs::read(wasm).map_err(|e| Error::new(format!("sizes: {}: {e}", wasm.display())))?;
    let bytes = without_custom_section(&bytes, "target_features")
        .map_err(|e| Error::new(format!("sizes: {}: {e}", wasm.display())))?;
    let input = out_dir.join(wasm.file_name().unwrap_or_default());
    std::fs::write(&input, bytes)
        .map_err(|e| Error::new(format!("sizes: {}: {e}", input.display())))?;
    let mut bindgen = process::command("wasm-bindgen");
    bindgen
        .args(["--target", "web", "--out-dir"])
        .arg(out_dir)
        .arg(&input);
    check(&mut bindgen, "wasm-bindgen")?;
    let stem = wasm
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let bound = out_dir.join(format!("{stem}_bg.wasm"));
    let optimised = out_dir.join("opt.wasm");
    let mut opt = process::command("wasm-opt");
    opt.arg("-Oz")
        .arg("-g")
        .args(opt_params)
        .arg(&bound)
        .arg("-o")
        .arg(&optimised);
    check(&mut opt, "wasm-opt")?;
    Ok(optimised)
}

fn check(command: &mut std::process::Command, what: &str) -> Result<()> {
    let status = process::run_inherited(command)
        .map_err(|error| Error::new(format!("sizes: {what}: {}", error.message)))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "sizes: {what} failed ({}) — {}",
            describe(status),
            process::display(command)
        )))
    }
}

/// The `data-wasm-opt-params` of the app's `<link>` in index.html, so the measured modules are
/// optimised exactly like the shipped ones.
fn wasm_opt_params(root: &Path) -> Result<Vec<String>> {
    let html = std::fs::read_to_string(root.join("index.html"))
        .map_err(|e| Error::new(format!("sizes: cannot read index.html: {e}")))?;
    opt_params_in(&html).ok_or_else(|| {
        Error::new("sizes: index.html has no data-wasm-opt-params on the app's <link>")
    })
}

fn opt_params_in(html: &str) -> Option<Vec<String>> {
    let key = "data-wasm-opt-params=\"";
    let start = html.find(key)? + key.len();
    let end = start + html[start..].find('"')?;
    Some(
        html[start..end]
            .split_whitespace()
            .map(String::from)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_are_charged_to_the_crate_that_caused_them() {
        for (name, expected) in [
            ("rc_pkce::driver::Driver<P>::start", "rc_pkce"),
            (
                "core::ptr::drop_in_place<leptos::into_view::View<()>>",
                "leptos",
            ),
            (
                "<alloc::vec::Vec<T> as serde::ser::Serialize>::serialize",
                "serde",
            ),
            ("<&T as core::fmt::Display>::fmt", "std"),
            ("alloc::raw_vec::finish_grow", "std"),
            ("__wbindgen_malloc", "[glue]"),
            ("dlmalloc::dlmalloc::Dlmalloc<A>::malloc", "dlmalloc"),
            ("function[12]", "[glue]"),
            (
                "<dlmalloc[e24a27700634d609]::dlmalloc::Dlmalloc<A>>::malloc",
                "dlmalloc",
            ),
            ("<f64 as core[c5930c85a12de822]::fmt::Display>::fmt", "std"),
        ] {
            assert_eq!(crate_of(name), expected, "{name}");
        }
    }

    #[test]
    fn a_crate_name_is_only_taken_before_a_path_separator() {
        // `core` inside `rc_pkce_core` and a type named `core` without `::` are not crates.
        assert_eq!(crate_of("rc_pkce_core::pkce::challenge"), "rc_pkce_core");
        assert_eq!(crate_of("score::add"), "score");
    }

    /// A module with one imported and two defined functions, names for all three, and one data
    /// segment, written out byte by byte.
    fn tiny_module() -> Vec<u8> {
        fn section(id: u8, body: &[u8]) -> Vec<u8> {
            let mut out = vec![id, body.len() as u8];
            out.extend_from_slice(body);
            out
        }
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        // type 0: () -> ()
        wasm.extend(section(1, &[1, 0x60, 0, 0]));
        // import "m" "f" func type 0
        wasm.extend(section(2, &[1, 1, b'm', 1, b'f', 0, 0]));
        // two functions of type 0
        wasm.extend(section(3, &[2, 0, 0]));
        // memory 0: min 1 page (data needs one)
        wasm.extend(section(5, &[1, 0, 1]));
        // code: body 1 is `end` (2 bytes with its size), body 2 is `nop nop end` (4 bytes)
        wasm.extend(section(10, &[2, 2, 0, 0x0b, 4, 0, 0x01, 0x01, 0x0b]));
        // data: active, memory 0, offset i32.const 0, five bytes
        wasm.extend(section(
            11,
            &[1, 0, 0x41, 0, 0x0b, 5, b'h', b'e', b'l', b'l', b'o'],
        ));
        // name section, function names: 0 = "imp", 1 = "a::x", 2 = "b::y"
        let names: &[u8] = &[
            3, 0, 3, b'i', b'm', b'p', 1, 4, b'a', b':', b':', b'x', 2, 4, b'b', b':', b':', b'y',
        ];
        let mut sub = vec![1, names.len() as u8];
        sub.extend_from_slice(names);
        let mut custom = vec![4, b'n', b'a', b'm', b'e'];
        custom.extend(sub);
        wasm.extend(section(0, &custom));
        wasm
    }

    #[test]
    fn a_module_is_split_into_crates_data_and_the_rest() {
        let wasm = tiny_module();
        let breakdown = analyse(&wasm).expect("valid module");
        assert_eq!(breakdown.crates.get("a"), Some(&2));
        assert_eq!(breakdown.crates.get("b"), Some(&4));
        assert_eq!(breakdown.data, 5);
        assert_eq!(breakdown.functions[0], (4, "b::y".to_string()));
        // The name section is not part of what ships.
        let name_section_len = 2 + 5 + 2 + 18;
        assert_eq!(breakdown.total, wasm.len() - name_section_len);
        let rows = breakdown.rows();
        assert_eq!(rows.values().sum::<usize>(), breakdown.total);
    }

    #[test]
    fn a_custom_section_can_be_dropped_whole() {
        let wasm = tiny_module();
        let without = without_custom_section(&wasm, "name").unwrap();
        assert_eq!(without.len(), wasm.len() - (2 + 5 + 2 + 18));
        assert!(analyse(&without).unwrap_err().contains("no function names"));
        assert_eq!(without_custom_section(&wasm, "producers").unwrap(), wasm);
    }

    #[test]
    fn a_stripped_module_is_refused_with_the_reason() {
        let mut wasm = tiny_module();
        let name_section_len = 2 + 5 + 2 + 18;
        wasm.truncate(wasm.len() - name_section_len);
        let error = analyse(&wasm).unwrap_err();
        assert!(error.contains("no function names"), "{error}");
        assert!(
            analyse(b"not wasm")
                .unwrap_err()
                .contains("not a wasm module")
        );
    }

    #[test]
    fn a_saved_report_reads_back_and_names_what_changed() {
        let before = analyse(&tiny_module()).unwrap();
        let saved = encode(&[("m".to_string(), before)]);
        let baseline = decode(&saved).unwrap();
        assert_eq!(baseline.get(&("m".into(), "b".into())), Some(&4));

        let mut after = analyse(&tiny_module()).unwrap();
        *after.crates.get_mut("b").unwrap() += 100;
        after.total += 100;
        after.crates.remove("a");
        let report = render("m", &after, Some(&baseline), 0);
        assert!(report.contains("+100"), "{report}");
        // A crate that is gone is listed with 0 and its loss.
        assert!(
            report
                .lines()
                .any(|l| l.trim_start().starts_with("a ") && l.ends_with("-2")),
            "{report}"
        );
        assert!(decode("m\tb\tlots").unwrap_err().contains("line 1"));
    }

    #[test]
    fn options() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse(&args(&[])).unwrap().top, 10);
        let o = parse(&args(&["--against", "b.tsv", "--top", "3"])).unwrap();
        assert_eq!(o.against, Some(PathBuf::from("b.tsv")));
        assert_eq!(o.top, 3);
        assert!(parse(&args(&["--top", "x"])).unwrap_err().contains("'x'"));
        assert!(
            parse(&args(&["--save"]))
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            parse(&args(&["--fast"]))
                .unwrap_err()
                .contains("unknown option")
        );
    }

    #[test]
    fn the_shipped_wasm_opt_flags_are_read_from_index_html() {
        let params = wasm_opt_params(&workspace_root()).unwrap();
        assert!(
            params.iter().any(|p| p == "--enable-bulk-memory"),
            "{params:?}"
        );
        assert_eq!(opt_params_in("<link>"), None);
    }
}
