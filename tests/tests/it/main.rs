//! One integration-test binary for the workspace (see CONTRIBUTING.md).
// Test helpers panic on failure by design; that is how a test reports it.
#![allow(clippy::unwrap_used)]

mod api;
mod cli_errors;
mod cli_lifecycle;
mod common;
mod console;
mod privileged_rootfs;
mod real_node;
mod smoke;
mod tui;
mod vm_console;
mod web;

#[test]
fn every_test_file_is_a_module() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(m) = name.strip_suffix(".rs")
            && m != "main"
        {
            assert!(
                main.contains(&format!("mod {m};")),
                "tests/it/{name} is not declared in main.rs"
            );
        }
    }
}
