//! Tidy checks, run by `cargo test`: rules of the repository that are cheap to check.

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::repo_root;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() && name != "target" && !name.starts_with('.') && name != "node_modules" {
            rust_files(&p, out);
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_ignore_without_a_reason() {
    let mut files = Vec::new();
    rust_files(&repo_root(), &mut files);
    let needle = ["#[ignore", "]"].concat();
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            assert!(
                !line.trim().starts_with(&needle),
                "{}:{}: #[ignore] needs a reason string",
                f.display(),
                i + 1
            );
        }
    }
}

#[test]
fn every_crate_is_in_the_architecture_doc_and_has_crate_docs() {
    let arch = fs::read_to_string(repo_root().join("docs/ARCHITECTURE.md")).unwrap();
    for krate in [
        "corral-core",
        "corral-k8s",
        "corral-console",
        "corral-cli",
        "corral-api",
        "xtask",
        "tests",
    ] {
        assert!(
            arch.contains(&format!("### `{krate}`")),
            "docs/ARCHITECTURE.md has no heading for {krate}"
        );
    }
    for lib in [
        "corral-core",
        "corral-k8s",
        "corral-console",
        "corral-cli",
        "corral-api",
    ] {
        let root = repo_root().join("crates").join(lib).join("src/lib.rs");
        let text = fs::read_to_string(&root).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} must start with crate docs",
            root.display()
        );
    }
}

#[test]
fn corral_core_depends_on_no_io_crate() {
    let manifest = fs::read_to_string(repo_root().join("crates/corral-core/Cargo.toml")).unwrap();
    for banned in ["kube", "k8s-openapi", "tokio", "hyper", "axum", "reqwest"] {
        let found = manifest.lines().any(|l| {
            l.trim_start().starts_with(&format!("{banned} "))
                || l.trim_start().starts_with(&format!("{banned}."))
                || l.trim_start().starts_with(&format!("{banned}="))
        });
        assert!(!found, "corral-core must not depend on {banned}");
    }
}

#[test]
fn workspace_crates_take_versions_from_the_workspace() {
    let mut manifests = vec![
        repo_root().join("xtask/Cargo.toml"),
        repo_root().join("tests/Cargo.toml"),
    ];
    for e in fs::read_dir(repo_root().join("crates")).unwrap().flatten() {
        manifests.push(e.path().join("Cargo.toml"));
    }
    for m in manifests {
        let text = fs::read_to_string(&m).unwrap();
        let mut in_deps = false;
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with('[') {
                in_deps = t.contains("dependencies");
                continue;
            }
            if in_deps && !t.is_empty() && !t.starts_with('#') {
                assert!(
                    t.contains("workspace = true") || t.contains(".workspace"),
                    "{}: `{t}` must use `workspace = true`",
                    m.display()
                );
            }
        }
    }
}
