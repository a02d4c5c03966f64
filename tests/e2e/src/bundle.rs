//! Builds the release bundle (`trunk build --release`) once per process and returns its folder.
//!
//! The build uses its own cargo target directory so it never waits on the lock of the cargo
//! process that is running the tests. It is skipped when none of its inputs changed since the last
//! successful build (every test binary would otherwise redo ~10 s of wasm-bindgen and wasm-opt),
//! and each process serves its own copy of the result.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root exists")
}

fn cargo_home_bin() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"))
        .join("bin")
}

/// PATH with cargo's bin directory first, where `cargo xtask setup` installs trunk and wasm-bindgen.
pub fn tool_path() -> std::ffi::OsString {
    let mut paths = vec![cargo_home_bin()];
    if let Some(p) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(paths).expect("PATH is joinable")
}

/// The release bundle, built on first use. Panics with trunk's output if the build fails.
///
/// Several `cargo test` processes may run at once on one checkout (two developers' terminals, or a
/// test binary per crate): the build holds a file lock so two trunk runs never write the same
/// `dist`, and each process then serves its own copy, so a later rebuild by another process cannot
/// swap the files under a running test.
pub fn release_bundle() -> &'static Path {
    static DIST: OnceLock<PathBuf> = OnceLock::new();
    DIST.get_or_init(|| {
        if let Some(dir) = std::env::var_os("RC_PKCE_DIST") {
            return PathBuf::from(dir);
        }
        let root = workspace_root();
        let e2e = root.join("target/e2e");
        std::fs::create_dir_all(&e2e).expect("target/e2e can be created");
        let lock = std::fs::File::create(e2e.join("build.lock")).expect("build lock file");
        lock.lock().expect("build lock");
        let dist = e2e.join("dist");
        let stamp_file = e2e.join("dist.stamp");
        let stamp = inputs_fingerprint(&root);
        let fresh = dist.join("index.html").is_file()
            && std::fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp);
        if fresh {
            let copy = snapshot(&e2e, &dist);
            drop(lock);
            return copy;
        }
        let _ = std::fs::remove_file(&stamp_file);
        let output = Command::new("trunk")
            .current_dir(&root)
            .env("PATH", tool_path())
            .env("CARGO_TARGET_DIR", e2e.join("cargo"))
            .args(["build", "--release", "--dist"])
            .arg(&dist)
            .output()
            .unwrap_or_else(|e| panic!("could not run trunk ({e}); run `cargo xtask setup` first"));
        if !output.status.success() {
            panic!(
                "trunk build --release failed:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let _ = std::fs::write(&stamp_file, &stamp);
        let copy = snapshot(&e2e, &dist);
        drop(lock);
        copy
    })
}

/// Everything trunk's output depends on, hashed: the app's and the core's sources and manifests,
/// the lock file, the trunk and cargo configuration, the static files and the compiler version. When it has not changed
/// since the last successful build, the build is skipped (each test binary would otherwise spend
/// ~10 s on wasm-bindgen and wasm-opt producing the same files).
fn inputs_fingerprint(root: &Path) -> String {
    use std::hash::{DefaultHasher, Hasher};
    fn walk(path: &Path, files: &mut Vec<PathBuf>) {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(path) {
                for e in entries.flatten() {
                    walk(&e.path(), files);
                }
            }
        } else if path.is_file() {
            files.push(path.to_path_buf());
        }
    }
    let mut files = Vec::new();
    for input in [
        "src",
        "core/src",
        "core/Cargo.toml",
        "Cargo.toml",
        "Cargo.lock",
        "Trunk.toml",
        ".cargo/config.toml",
        "index.html",
        "boot.js",
        "config.json",
        "style",
        "assets",
        // The post-build hook that names the first-load modules (Trunk.toml).
        "xtask/src/first_load.rs",
    ] {
        walk(&root.join(input), &mut files);
    }
    files.sort();
    let mut h = DefaultHasher::new();
    // A new toolchain builds different code from the same sources.
    if let Ok(out) = Command::new("rustc").arg("-V").output() {
        h.write(&out.stdout);
    }
    for f in &files {
        h.write(f.to_string_lossy().as_bytes());
        h.write(&std::fs::read(f).unwrap_or_default());
    }
    format!("{:016x} {} files", h.finish(), files.len())
}

/// Copies `dist` to `target/e2e/run-<pid>/` (removing the copies of processes that have ended).
fn snapshot(e2e: &Path, dist: &Path) -> PathBuf {
    let can_tell = Path::new("/proc/self").exists();
    if let Ok(entries) = std::fs::read_dir(e2e)
        && can_tell
    {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(pid) = name.strip_prefix("run-")
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let copy = e2e.join(format!("run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(&copy).expect("snapshot folder");
    for entry in std::fs::read_dir(dist).expect("dist is readable").flatten() {
        if entry.path().is_file() {
            std::fs::copy(entry.path(), copy.join(entry.file_name())).expect("copy bundle file");
        }
    }
    copy
}
