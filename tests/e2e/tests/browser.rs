//! The browser layer, run from here so it gets a real stack: `tests/browser/*.test.mjs` drive the
//! demo pages in Debian's Chromium through playwright-core (`node --test`), against this stack.

use std::process::Command;

use dyno_e2e::{repo_root, Stack};

#[test]
fn the_demo_pages_work_in_chromium() {
    let root = repo_root();
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Chromium is missing: scripts/setup-browser.sh installs it (make test does)"
    );
    let stack = Stack::shared();
    let output = Command::new("bash")
        .arg("-c")
        .arg(
            "source scripts/env.sh && node --test --test-concurrency=1 tests/browser/demo.test.mjs",
        )
        .current_dir(&root)
        .env("BASE_URL", &stack.base_url)
        .env("ARTIFACTS_DIR", root.join("target/browser-artifacts"))
        .output()
        .expect("run node --test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "browser tests failed");
}
