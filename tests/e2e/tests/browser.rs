//! The browser layer, run from here so it gets a real stack: `tests/browser/*.test.mjs` drive the
//! demo pages, the merchant console's charts and the API reference (`/docs`) in Debian's Chromium
//! through playwright-core (`node --test`), against this binary's shared stack.

use std::process::Command;

use dyno_e2e::{repo_root, Stack};

/// Runs one browser test file against the shared stack; screenshots go to
/// `target/browser-artifacts`.
fn run_browser_tests(file: &str) {
    run_browser_tests_with(file, &[]);
}

/// [`run_browser_tests`] with extra environment for the test file (credentials made for it).
fn run_browser_tests_with(file: &str, env: &[(&str, &str)]) {
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
        .envs(env.iter().copied())
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

/// The console's charts need exact figures: a merchant of its own (the demo merchant's day is
/// shared with the other browser tests), and employees whose wallets nobody else signs out.
#[test]
fn the_console_draws_the_day_in_chromium() {
    let stack = Stack::shared();
    let pos = stack.onboard("Console charts", None);
    let payer = stack.new_employee(500_000);
    let poor = stack.new_employee(2_000);
    run_browser_tests_with(
        "tests/browser/console.test.mjs",
        &[
            ("CONSOLE_CLIENT_ID", &pos.client_id),
            ("CONSOLE_CLIENT_SECRET", &pos.client_secret),
            ("CONSOLE_WALLET_TOKEN", &payer.token),
            ("CONSOLE_CARD", &payer.card.numero),
            // The PIN `Stack::new_employee` enrols.
            ("CONSOLE_WALLET_PIN", "2468"),
            ("CONSOLE_POOR_WALLET_TOKEN", &poor.token),
            ("CONSOLE_POOR_CARD", &poor.card.numero),
        ],
    );
}
