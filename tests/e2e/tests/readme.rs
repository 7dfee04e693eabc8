//! The README stands alone and says true things: its `curl` sessions (the fenced blocks marked
//! ```` ```sh readme-test <name> ````) run as written against a fresh stack, with only the base URL
//! changed, and end where the README says they do; it offers a newcomer exactly two commands; and
//! it points at nothing outside the repository.

use std::path::Path;
use std::process::Command;

use dyno_e2e::{repo_root, Stack};

/// The base URL the README's sessions are written for (`make dev`'s default).
const README_BASE: &str = "http://127.0.0.1:8787";

fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).expect("README.md")
}

/// The fenced blocks of `text`: (info string, body).
fn fenced_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(info) = line.strip_prefix("```") {
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            blocks.push((info.trim().to_string(), body.join("\n")));
        }
    }
    blocks
}

/// Runs one session as a user would paste it, but stopping at the first failing command.
fn run_session(name: &str, script: &str, base_url: &str) -> String {
    assert!(
        script.contains(README_BASE),
        "session {name} does not set BASE to {README_BASE}"
    );
    let script = script.replace(README_BASE, base_url);
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("[readme] session {name}:\n{stdout}{stderr}");
    assert!(
        output.status.success(),
        "README session {name} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

#[test]
fn the_readme_curl_sessions_work_against_a_stack() {
    let sessions: Vec<(String, String)> = fenced_blocks(&readme())
        .into_iter()
        .filter_map(|(info, body)| {
            let name = info.strip_prefix("sh readme-test ")?;
            Some((name.trim().to_string(), body))
        })
        .collect();
    let names: Vec<&str> = sessions.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["epm", "ppm", "webhooks", "own-server"],
        "one session per flow"
    );

    let stack = Stack::shared();
    for (name, script) in &sessions {
        let out = run_session(name, script, &stack.base_url);
        let lines: Vec<&str> = out.lines().collect();
        let json = |line: &str| -> serde_json::Value {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}: {line:?}: {e}"))
        };
        match name.as_str() {
            "epm" => {
                let payment = json(lines[0]);
                assert_eq!(payment["status"], "succeeded", "{payment}");
                assert_eq!(payment["wallet_type"], "TicketResto");
                let refund = json(lines[1]);
                assert_eq!(refund["transaction_id"], payment["transaction_id"]);
                assert_eq!(refund["payment_status"], "succeeded", "{refund}");
                assert_eq!(refund["refund_status"], "refunded", "{refund}");
            }
            "ppm" => {
                assert!(lines[0].starts_with("demande "), "{out}");
                let status = json(lines[1]);
                assert_eq!(status["status"], "confirmed", "{status}");
                assert_eq!(status["confirmation_code"], "SANDBOX01");
                assert!(status["transaction_id"].is_string());
            }
            "webhooks" => {
                let delivery = json(lines[0]);
                assert_eq!(delivery["event"], "payment.confirmed");
                assert_eq!(delivery["status"], "delivered");
                assert_eq!(delivery["attempts"][0]["http_status"], 200);
                let signature = lines[1]
                    .strip_prefix("X-Dyno-Webhook-Signature: sha256=")
                    .expect("the computed signature");
                assert_eq!(signature.len(), 64);
                assert_eq!(json(lines[2]), serde_json::json!({"received": true}));
                let redelivery = json(lines[3]);
                assert_eq!(redelivery["delivery_id"], delivery["delivery_id"]);
                assert_eq!(redelivery["status"], "pending");
            }
            "own-server" => {
                let event = json(lines[0]);
                assert_eq!(event["event"], "payment.confirmed", "{event}");
                assert!(event["transaction_id"].is_string(), "{event}");
                assert_eq!(event["amount"], serde_json::json!(9.5), "{event}");
                assert_eq!(lines[1], "signature valide", "{out}");
            }
            other => panic!("no expectations for session {other}"),
        }
    }
}

#[test]
fn the_readme_gives_a_newcomer_exactly_two_commands() {
    let text = readme();
    let (info, first) = fenced_blocks(&text)
        .into_iter()
        .next()
        .expect("a first code block");
    assert_eq!(info, "sh");
    let commands: Vec<&str> = first
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|command| !command.is_empty())
        .collect();
    assert_eq!(commands, ["make dev", "make test"]);
}

#[test]
fn the_readme_points_at_nothing_outside_the_repository() {
    let text = readme();
    let root = repo_root();
    assert!(
        !text.contains("../"),
        "the README points outside the repository"
    );
    // Every repository path it names in inline code exists (code blocks, URLs, commands aside).
    let mut prose = String::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
        } else if !in_block {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    for quoted in prose.split('`').skip(1).step_by(2) {
        let looks_like_path = (quoted.starts_with("docs/")
            || quoted.starts_with("src/")
            || quoted.starts_with("crates/")
            || quoted.starts_with("tests/")
            || quoted.starts_with("scripts/")
            || quoted.starts_with("migrations/")
            || quoted.starts_with("www/"))
            && !quoted.contains(' ');
        if looks_like_path {
            assert!(
                Path::new(&root.join(quoted)).exists(),
                "README names {quoted}, which is not in the repository"
            );
        }
    }
}
