//! The contract layer, end to end: the document served at `/openapi.json` is the repository's
//! `docs/openapi.yaml`, and schemathesis (from PyPI, pinned in `tests/contract/requirements.txt`)
//! drives every operation of it against a running stack with its default checks, its stateful
//! links, and 0 tolerated failures: no server error and no response outside the document.

use std::process::Command;
use std::sync::OnceLock;

use dyno_e2e::{repo_root, Stack, StackOptions};

fn repository_document() -> serde_json::Value {
    let text = std::fs::read_to_string(repo_root().join("docs/openapi.yaml")).unwrap();
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    serde_json::to_value(yaml).unwrap()
}

/// This binary's one stack, with the per-client limit scaled up: schemathesis sends thousands of
/// requests with one token, and 429 answers would only hide the operations behind them. (One
/// stack per binary: two `wrangler dev` starting at once can race for the same internal port.)
fn contract_stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        Stack::start(StackOptions {
            vars: vec![("RATE_LIMIT_SCALE".into(), "1000".into())],
            optimized: false,
        })
    })
}

#[test]
fn the_served_document_is_the_repository_document() {
    let stack = contract_stack();
    let response = stack
        .client
        .send(dyno_client::RawRequest::new("GET", "/openapi.json"))
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Type"), Some("application/json"));
    let served: serde_json::Value = response.json().unwrap();
    assert_eq!(served, repository_document());
}

/// Operations left out of the fuzzing, each for a reason that is not a weakness of the API:
/// injecting simulator faults produces 5xx on purpose (its own tests cover that), resetting the
/// simulator or the demo data, or switching how the simulator speaks, mid-run would pull the
/// cards (or the gateway's configuration) out from under other operations, and
/// a wallet sign-out would end the wallet session every other wallet operation runs on (the EPM
/// suite covers it).
const NOT_FUZZED: &[&str] = &[
    "simSetFault",
    "simReset",
    "sandboxInjectFaults",
    "simSetMode",
    "adminDemoSeed",
    "walletSignOut",
];

/// Where a request can match the schema and still be refused, because what makes it valid is
/// not expressible in a schema: a QR's signature and freshness, a link's tag, an opaque cursor,
/// a balance or a card's state, a PIN lock, or an `Idempotency-Key` the generator reused (its minimal keys, such as
/// `0`, collide) with another body. Every other refusal of schema-valid data fails the run.
const SEMANTIC_REFUSALS: &[(&[&str], &str)] = &[
    // Also every refusal an `X-Dyno-Simulate` scenario asks for (404, 410, 413, 504).
    (
        &["scanPayment", "initiatePayment"],
        "400, 404, 410, 413, 422, 504",
    ),
    (
        &["cancelPayment", "refundPayment", "redeliverWebhook"],
        "422",
    ),
    // A balance too low, a card expired or blocked in the ledger (the simulator's cards are
    // created by the run itself, blocked ones included), or the day's operator cap reached.
    (&["adminCardCredit", "adminCardDebit"], "413, 422"),
    // A presented QR must be genuine (signature) and fresh; its card must still be at CYNOD.
    (&["cardBalance", "cardValidity"], "400, 410, 422"),
    (&["walletQr"], "422"),
    (&["listPayments"], "400"),
    (&["walletToken"], "422, 423"),
    (
        &[
            "walletViewRequest",
            "walletConfirmRequest",
            "walletCancelRequest",
        ],
        "400, 410, 413, 422, 423",
    ),
];

#[test]
fn schemathesis_finds_no_server_error_and_no_response_outside_the_document() {
    let stack = contract_stack();
    let pos_token = stack.onboard("Contract", None).token.access_token;
    // The demo wallet, whose card is the document's `CardNumber` example: its QRs are real, and
    // the stateful links carry them into scans, whose payments carry on into look-ups and refunds.
    let wallet_token = stack
        .client
        .wallet_login("+21620000001", "1234")
        .expect("demo wallet login")
        .access_token;
    let root = repo_root();
    let config = stack.state_dir.join("schemathesis.toml");
    let mut toml = String::from(
        "# Written by tests/e2e/tests/contract.rs for one run.\n\
         [auth.openapi.walletBearer]\nbearer = \"${DYNO_WALLET_TOKEN}\"\n\
         [auth.openapi.adminKey]\nbearer = \"${DYNO_ADMIN_KEY}\"\n\
         [[operations]]\ninclude-path-regex = \"^/api/v1/pos/(?!oauth/token)\"\n\
         headers = { Authorization = \"Bearer ${DYNO_POS_TOKEN}\" }\n",
    );
    // An enrolment re-PINs its wallet and signs it out: keep it off the demo wallet in use.
    toml.push_str(
        "[[operations]]\ninclude-operation-id = \"adminEnrollWallet\"\n\
         parameters = { wallet_id = \"+21629999999\" }\n",
    );
    for id in NOT_FUZZED {
        toml.push_str(&format!(
            "[[operations]]\ninclude-operation-id = \"{id}\"\nenabled = false\n"
        ));
    }
    for (ids, statuses) in SEMANTIC_REFUSALS {
        let pos_auth = if ids
            .iter()
            .any(|id| id.starts_with("wallet") || id.starts_with("admin"))
        {
            ""
        } else {
            "headers = { Authorization = \"Bearer ${DYNO_POS_TOKEN}\" }\n"
        };
        toml.push_str(&format!(
            "[[operations]]\ninclude-operation-id = {ids:?}\n{pos_auth}\
             checks.positive_data_acceptance.expected-statuses = \
             [200, 201, 202, 401, 403, 404, 409, 429, {statuses}]\n"
        ));
        if statuses.contains("504") {
            // The 504 of `X-Dyno-Simulate: upstream_timeout`, asked for by the request itself:
            // simulator faults are never armed during this run, so no other 5xx can pass.
            toml.push_str(
                "checks.not_a_server_error.expected-statuses = [\"2xx\", \"3xx\", \"4xx\", 504]\n",
            );
        }
    }
    std::fs::write(&config, toml).unwrap();
    // A fixed seed keeps `make test` reproducible; `make contract SEED=…` explores further.
    let max_examples = std::env::var("DYNO_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "15".into());
    let seed = std::env::var("DYNO_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261123".into());
    let output = Command::new(root.join("tools/venv/bin/schemathesis"))
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("{}/openapi.json", stack.base_url))
        .args(["--url", &stack.base_url])
        .args(["--max-examples", &max_examples])
        .args(["--workers", "2", "--seed", &seed, "--request-timeout", "20"])
        .args(["--report", "junit"])
        .arg("--report-dir")
        .arg(root.join("target/schemathesis"))
        .env("DYNO_POS_TOKEN", &pos_token)
        .env("DYNO_WALLET_TOKEN", &wallet_token)
        .env("SCHEMATHESIS_HOOKS", "dyno_contract_hooks")
        .env("PYTHONPATH", root.join("tests/contract"))
        .env("DYNO_ADMIN_KEY", &stack.admin_key)
        .env("NO_COLOR", "1")
        .current_dir(&stack.state_dir)
        .output()
        .expect("tools/venv/bin/schemathesis (installed by scripts/setup.sh)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The summary is the figure this layer reports, pass or fail.
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "schemathesis found failures (above)"
    );
}
