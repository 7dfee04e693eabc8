//! The browser layer, run from here so it gets a real stack: `tests/browser/*.test.mjs` drive the
//! demo pages and the API reference (`/docs`) in Debian's Chromium through playwright-core
//! (`node --test`), against this binary's shared stack.

use std::process::Command;

use dyno_e2e::{repo_root, Stack};

/// Runs one browser test file against the shared stack; screenshots go to
/// `target/browser-artifacts`.
fn run_browser_tests(file: &str) {
    let root = repo_root();
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Chromium is missing: scripts/setup-browser.sh installs it (make test does)"
    );
    let stack = Stack::shared();
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source scripts/env.sh && node --test --test-concurrency=1 {file}"
        ))
        .current_dir(&root)
        .env("BASE_URL", &stack.base_url)
        .env("ARTIFACTS_DIR", root.join("target/browser-artifacts"))
        .output()
        .expect("run node --test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "browser tests of {file} failed");
}

#[test]
fn the_demo_pages_work_in_chromium() {
    run_browser_tests("tests/browser/demo.test.mjs");
}

#[test]
fn the_api_reference_renders_in_chromium() {
    run_browser_tests("tests/browser/docs.test.mjs");
}
