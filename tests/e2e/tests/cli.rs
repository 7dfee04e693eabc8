//! The `dyno-pos` command line, driven as a developer drives it: the real binary (built here with
//! cargo), its own config file, against a real stack. Login → initiate → sandbox confirm →
//! `status --watch` ends at confirmed; `listen --forward-to` forwards a real confirmation to a
//! local receiver, signed as Dyno signs; `webhooks verify` checks deliveries the gateway itself
//! signed; errors are sentences with the API's code and a failure status.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use dyno_client::{decode_nfc, Auth, DynoClient, Initiated, Millimes, RawRequest};
use dyno_core::webhook::{standard_signature, verify_signature_header};
use dyno_e2e::webhooks::{Received, WebhookListener};
use dyno_e2e::{repo_root, Onboarded, Stack};
use serde_json::Value;

const DEMO_WEBHOOK_SECRET: &str = "sandbox_webhook_secret";

/// The `dyno-pos` executable, built once per test process with the same cargo that runs the
/// tests (a binary of another package is not one of this package's `CARGO_BIN_EXE_*`).
fn dyno_pos_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = Command::new(cargo)
            .args([
                "build",
                "-p",
                "dyno-client",
                "--bin",
                "dyno-pos",
                "--message-format=json",
            ])
            .current_dir(repo_root())
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo build");
        assert!(output.status.success(), "cargo build of dyno-pos failed");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "dyno-pos")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo names the dyno-pos executable")
    })
}

/// One developer's terminal: a config file of their own, pointed at the stack.
struct Terminal {
    config: PathBuf,
    base_url: String,
}

impl Terminal {
    fn new(stack: &Stack, label: &str) -> Self {
        let dir = stack.state_dir.join(format!("cli-{label}"));
        std::fs::create_dir_all(&dir).expect("terminal dir");
        Self {
            config: dir.join("dyno-pos").join("config.json"),
            base_url: stack.base_url.clone(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(dyno_pos_binary());
        command
            .args(args)
            .env("DYNO_POS_CONFIG", &self.config)
            .env("DYNO_BASE_URL", &self.base_url)
            .env_remove("DYNO_WEBHOOK_SECRET")
            .env_remove("DYNO_CLIENT_ID")
            .env_remove("DYNO_CLIENT_SECRET");
        command
    }

    /// `dyno-pos login` with an onboarded client's own credentials.
    fn login_as(&self, pos: &Onboarded) {
        self.ok(&[
            "login",
            "--client-id",
            &pos.client_id,
            "--client-secret",
            &pos.client_secret,
        ]);
    }

    /// Starts a command with its output piped back to the test.
    fn start(&self, args: &[&str], stdin: Stdio) -> Child {
        self.command(args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dyno-pos")
    }

    /// Runs a command to its end, with `stdin` as its standard input.
    fn run_with_input(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = self.start(args, Stdio::piped());
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin)
            .expect("write stdin");
        child.wait_with_output().expect("dyno-pos output")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_input(args, b"")
    }

    /// Runs a command that must succeed and returns its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "dyno-pos {args:?} failed:\n{}{}",
            text(&output.stdout),
            text(&output.stderr)
        );
        text(&output.stdout)
    }

    /// Starts a long-running command, its output lines collected as they come.
    fn spawn(&self, args: &[&str]) -> Running {
        let mut child = self.start(args, Stdio::null());
        let mut readers = Vec::new();
        let mut collect = |stream: Box<dyn std::io::Read + Send>| {
            let lines: Arc<Mutex<Vec<String>>> = Arc::default();
            let sink = lines.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    sink.lock().expect("lines").push(line);
                }
            }));
            lines
        };
        let stdout = collect(Box::new(child.stdout.take().expect("stdout")));
        let stderr = collect(Box::new(child.stderr.take().expect("stderr")));
        Running {
            child,
            stdout,
            stderr,
            readers,
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A command still running; killed when dropped (a failed test leaves nothing behind).
struct Running {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// The threads reading stdout and stderr; they end when the command closes them.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    fn stdout(&self) -> Vec<String> {
        self.stdout.lock().expect("lines").clone()
    }

    fn stderr(&self) -> Vec<String> {
        self.stderr.lock().expect("lines").clone()
    }

    /// Calls `probe` every 50 ms until it yields; panics with the output after `timeout`.
    fn poll<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut(&mut Self) -> Option<T>,
    ) -> T {
        let started = Instant::now();
        loop {
            if let Some(found) = probe(self) {
                return found;
            }
            assert!(
                started.elapsed() < timeout,
                "{what}: nothing after {timeout:?}; stdout {:?}, stderr {:?}",
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until a line of stdout (or stderr) satisfies `wanted`.
    fn wait_line(&mut self, stderr: bool, wanted: impl Fn(&str) -> bool, timeout: Duration) {
        self.poll("the expected line", timeout, |running| {
            let lines = if stderr {
                running.stderr()
            } else {
                running.stdout()
            };
            lines.iter().any(|l| wanted(l)).then_some(())
        })
    }

    /// Waits for the command to end by itself, with all its output read.
    fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let status = self.poll("the command's end", timeout, |running| {
            running.child.try_wait().expect("try_wait")
        });
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        status
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `pos_reference` unique to this run.
fn reference(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}", nanos % 1_000_000_000_000)
}

/// The sandbox test helper that confirms a PPM request without a phone.
fn sandbox_confirm(client: &DynoClient, token: &str, id: &str) {
    let answer = client
        .send(
            RawRequest::new(
                "POST",
                format!("/api/v1/pos/sandbox/payment-requests/{id}/confirm"),
            )
            .auth(Auth::Bearer(token.to_string())),
        )
        .expect("sandbox confirm");
    assert_eq!(answer.status, 200, "{}", answer.text());
}

fn demo_token(stack: &Stack) -> (DynoClient, String) {
    let client = stack.fresh_client();
    let token = client
        .token("pos_sandbox_demo", "sandbox_secret_demo")
        .expect("demo token")
        .access_token;
    (client, token)
}

/// The value of `label` in a command's aligned `label  value` rows.
fn row(output: &str, label: &str) -> String {
    output
        .lines()
        .find_map(|line| line.trim_start().strip_prefix(label))
        .map(|rest| rest.trim().to_string())
        .unwrap_or_else(|| panic!("no row {label} in:\n{output}"))
}

#[test]
fn login_initiate_and_watch_until_the_sandbox_confirms() {
    let stack = Stack::shared();
    let terminal = Terminal::new(stack, "watch");

    let login = terminal.ok(&["login"]);
    assert!(login.contains("pos_sandbox_demo"), "{login}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&terminal.config)
            .expect("config written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the token file is the user's alone");
    }

    // The person-readable initiate: the link and its QR, drawn in half blocks.
    let sale = reference("CLI-WATCH");
    let shown = terminal.ok(&["initiate", "--amount", "45.000", "--pos-reference", &sale]);
    let id = row(&shown, "payment_request_id");
    let link = row(&shown, "lien");
    let drawing: Vec<&str> = shown
        .lines()
        .filter(|l| !l.is_empty() && l.chars().all(|c| " ▀▄█".contains(c)))
        .collect();
    assert!(drawing.len() > 10, "a QR drawing:\n{shown}");
    assert!(shown.contains("45.000 TND"), "{shown}");

    // Retrying the same sale answers the same request: its JSON carries the link the QR encodes.
    let json = terminal.ok(&[
        "--json",
        "initiate",
        "--amount",
        "45.000",
        "--pos-reference",
        &sale,
    ]);
    let initiated: Initiated = serde_json::from_str(&json).expect("the API's exact JSON");
    assert_eq!(initiated.payment_request_id, id);
    assert_eq!(
        decode_nfc(&initiated.nfc_payload).expect("nfc").url,
        link,
        "the terminal shows the link the API's QR encodes"
    );

    let mut watch = terminal.spawn(&["status", &id, "--watch"]);
    watch.wait_line(false, |l| l.contains("pending"), Duration::from_secs(20));
    let (client, token) = demo_token(stack);
    sandbox_confirm(&client, &token, &id);
    let status = watch.wait_exit(Duration::from_secs(30));
    assert!(
        status.success(),
        "{:?} {:?}",
        watch.stdout(),
        watch.stderr()
    );
    let lines = watch.stdout();
    assert_eq!(lines.len(), 2, "one line per status change: {lines:?}");
    assert!(lines[0].contains("pending"), "{lines:?}");
    assert!(
        lines[1].contains("confirmed") && lines[1].contains("SANDBOX01"),
        "{lines:?}"
    );
    // Once terminal, a plain status agrees.
    let once = terminal.ok(&["--json", "status", &id]);
    let once: Value = serde_json::from_str(&once).expect("json");
    assert_eq!(once["status"], "confirmed");
}

/// The deliveries the listener got for `payment_request_id`.
fn forwarded_for(listener: &WebhookListener, payment_request_id: &str) -> Vec<Received> {
    listener
        .received()
        .into_iter()
        .filter(|r| text(&r.body).contains(payment_request_id))
        .collect()
}

fn wait_forwarded(listener: &WebhookListener, payment_request_id: &str) -> Received {
    let started = Instant::now();
    loop {
        if let Some(first) = forwarded_for(listener, payment_request_id)
            .into_iter()
            .next()
        {
            return first;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no delivery for {payment_request_id} forwarded; received {:?}",
            listener.received()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn confirmed_demo_request(client: &DynoClient, token: &str, sale: &str) -> String {
    let id = client
        .initiate(token, Millimes(12_000), sale, "Forward test")
        .expect("initiate")
        .payment_request_id;
    sandbox_confirm(client, token, &id);
    id
}

#[test]
fn listen_forwards_a_real_confirmation_once_signed_as_dyno_signs() {
    let stack = Stack::shared();
    let terminal = Terminal::new(stack, "listen");
    terminal.ok(&["login"]);
    let receiver = WebhookListener::accepting();
    let mut listen = terminal.spawn(&["listen", "--forward-to", &receiver.url]);
    listen.wait_line(true, |l| l.starts_with("Prêt"), Duration::from_secs(30));

    let (client, token) = demo_token(stack);
    let first = confirmed_demo_request(&client, &token, &reference("CLI-LISTEN-A"));
    let forwarded = wait_forwarded(&receiver, &first);

    // Signed with the demo webhook secret, with Dyno's headers, over the body Dyno delivered.
    let body = forwarded.body.clone();
    let seed_header = forwarded
        .header("X-Dyno-Webhook-Signature")
        .expect("seed signature");
    assert!(verify_signature_header(
        DEMO_WEBHOOK_SECRET.as_bytes(),
        &body,
        seed_header
    ));
    let webhook_id = forwarded.header("webhook-id").expect("webhook-id");
    let timestamp: i64 = forwarded
        .header("webhook-timestamp")
        .expect("webhook-timestamp")
        .parse()
        .expect("seconds");
    assert_eq!(
        forwarded.header("webhook-signature"),
        Some(
            standard_signature(DEMO_WEBHOOK_SECRET.as_bytes(), webhook_id, timestamp, &body)
                .as_str()
        )
    );
    assert_eq!(forwarded.header("X-Dyno-Event"), Some("payment.confirmed"));
    assert_eq!(forwarded.header("Content-Type"), Some("application/json"));
    let log = client.webhook_deliveries(&token).expect("delivery log");
    let delivery = log
        .data
        .iter()
        .find(|d| d.delivery_id == webhook_id)
        .expect("webhook-id is the delivery id");
    assert_eq!(
        delivery.body.as_bytes(),
        &body[..],
        "the exact delivered body"
    );
    assert_eq!(delivery.payment_request_id, first);
    let event: Value = serde_json::from_slice(&body).expect("json body");
    assert_eq!(
        (event["event"].as_str(), event["status"].as_str()),
        (Some("payment.confirmed"), Some("succeeded"))
    );

    // A second confirmation is forwarded too; by then the first has been listed again, and was
    // not forwarded twice.
    let second = confirmed_demo_request(&client, &token, &reference("CLI-LISTEN-B"));
    wait_forwarded(&receiver, &second);
    assert_eq!(forwarded_for(&receiver, &first).len(), 1, "forwarded once");
    listen.wait_line(
        false,
        |l| l.contains(&second) && l.contains("HTTP 200"),
        Duration::from_secs(10),
    );
    let printed = listen.stdout();
    assert!(
        printed.iter().any(|l| l.contains(webhook_id)
            && l.contains("payment.confirmed")
            && l.contains("HTTP 200")),
        "each forward's answer is printed: {printed:?}"
    );
}

#[test]
fn webhooks_verify_checks_what_the_gateway_signed() {
    let stack = Stack::shared();
    let terminal = Terminal::new(stack, "verify");
    let receiver = WebhookListener::accepting();
    let pos = stack.onboard("CLI verify", None);
    let secret = "whsec_cli_verify_01";
    stack
        .admin()
        .set_webhook(&pos.client_id, &receiver.url, secret)
        .expect("webhook endpoint");

    // This client's own credentials, through the CLI.
    terminal.login_as(&pos);
    let json = terminal.ok(&["--json", "initiate", "--amount", "8.000"]);
    let id = serde_json::from_str::<Value>(&json).expect("json")["payment_request_id"]
        .as_str()
        .expect("id")
        .to_string();
    sandbox_confirm(&pos.client, &pos.token.access_token, &id);
    let delivery = wait_forwarded(&receiver, &id);
    let header = |name: &str| delivery.header(name).expect(name).to_string();
    let (seed, standard, webhook_id, timestamp) = (
        header("X-Dyno-Webhook-Signature"),
        header("webhook-signature"),
        header("webhook-id"),
        header("webhook-timestamp"),
    );
    let verify = |secret: &str, body: &[u8], signatures: &[&str]| {
        let mut args = vec!["webhooks", "verify", "--secret", secret];
        for signature in signatures {
            args.extend(["--signature", signature]);
        }
        args.extend(["--id", &webhook_id, "--timestamp", &timestamp]);
        terminal.run_with_input(&args, body)
    };

    let good = verify(secret, &delivery.body, &[&seed, &standard]);
    assert!(good.status.success(), "{}", text(&good.stderr));
    assert!(text(&good.stdout).contains("Signature valide"));

    let tampered = String::from_utf8(delivery.body.clone())
        .expect("utf-8")
        .replace("8.000", "80.000");
    assert_ne!(tampered.as_bytes(), &delivery.body[..]);
    for signature in [&seed, &standard] {
        let refused = verify(secret, tampered.as_bytes(), &[signature]);
        assert!(!refused.status.success());
        assert!(
            text(&refused.stderr).contains("signature invalide"),
            "{}",
            text(&refused.stderr)
        );
    }
    let wrong_secret = verify("not_the_secret", &delivery.body, &[&seed]);
    assert!(!wrong_secret.status.success());

    // A body saved with a trailing newline fails, and the sentence says why.
    let mut with_newline = delivery.body.clone();
    with_newline.push(b'\n');
    let newline = verify(secret, &with_newline, &[&seed]);
    assert!(!newline.status.success());
    assert!(
        text(&newline.stderr).contains("saut de ligne"),
        "{}",
        text(&newline.stderr)
    );

    // And the CLI shows the request as the API does.
    let status = terminal.ok(&["status", &id]);
    assert!(status.contains("confirmed"), "{status}");
}

#[test]
fn scan_and_refund_a_real_payment_with_an_idempotency_key() {
    let stack = Stack::shared();
    let terminal = Terminal::new(stack, "refund");
    let pos = stack.onboard("CLI refund", None);
    terminal.login_as(&pos);
    let employee = stack.new_employee(50_000);
    let qr = employee.qr(stack, None);
    let paid = terminal.ok(&[
        "scan",
        "--qr",
        &qr,
        "--amount",
        "12.500",
        "--pos-reference",
        &reference("CLI-SCAN"),
    ]);
    assert!(paid.contains("12.500 TND"), "{paid}");
    let transaction = row(&paid, "transaction_id");
    assert_eq!(stack.balance_of(&employee.card.numero), 37_500);

    let output = terminal.run(&["--json", "refund", &transaction, "--amount", "2.500"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let refund: Value = serde_json::from_slice(&output.stdout).expect("json");
    let key = text(&output.stderr)
        .split_whitespace()
        .find(|word| word.len() == 36 && word.matches('-').count() == 4)
        .expect("the generated Idempotency-Key is printed")
        .to_string();
    assert_eq!(stack.balance_of(&employee.card.numero), 40_000);

    // Retrying with the printed key replays the refund instead of refunding twice.
    let again = terminal.run(&[
        "--json",
        "refund",
        &transaction,
        "--amount",
        "2.500",
        "--idempotency-key",
        &key,
    ]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let replayed: Value = serde_json::from_slice(&again.stdout).expect("json");
    assert_eq!(replayed["refund_id"], refund["refund_id"]);
    assert_eq!(stack.balance_of(&employee.card.numero), 40_000);
}

#[test]
fn errors_are_sentences_with_the_api_code_and_a_failure_status() {
    let stack = Stack::shared();
    let terminal = Terminal::new(stack, "errors");

    let no_login = terminal.run(&["status", "7c9e6679-7425-40de-944b-e07fc1f90ae7"]);
    assert!(!no_login.status.success());
    assert!(text(&no_login.stderr).contains("dyno-pos login"));

    let pos = stack.onboard("CLI errors", None);
    let refused = terminal.run(&[
        "login",
        "--client-id",
        &pos.client_id,
        "--client-secret",
        "not-the-secret",
    ]);
    assert!(!refused.status.success());
    let sentence = text(&refused.stderr);
    assert!(
        sentence.contains("HTTP 401 invalid_client") && sentence.contains("request_id"),
        "{sentence}"
    );
    assert!(!terminal.config.exists(), "a refused login stores nothing");

    terminal.login_as(&pos);
    let scan = |scenario: &str| {
        terminal.run(&[
            "scan",
            "--qr",
            "not-a-real-qr",
            "--amount",
            "12.500",
            "--pos-reference",
            &reference("CLI-ERR"),
            "--simulate",
            scenario,
        ])
    };
    let ok = scan("success");
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("SANDBOX01"));
    for (scenario, status, code) in [
        ("insufficient_funds", 413, "INSUFFICIENT_FUNDS"),
        ("expired_token", 410, "QR_EXPIRED"),
        ("merchant_not_found", 404, "MERCHANT_NOT_FOUND"),
    ] {
        let failed = scan(scenario);
        assert!(!failed.status.success(), "{scenario}");
        let sentence = text(&failed.stderr);
        assert!(
            sentence.starts_with(&format!("dyno-pos : HTTP {status} {code} : "))
                && sentence.contains("(request_id "),
            "{sentence}"
        );
    }
    let unknown = terminal.run(&["status", "7c9e6679-7425-40de-944b-e07fc1f90ae7"]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("HTTP 404"),
        "{}",
        text(&unknown.stderr)
    );

    // A stored token past its expiry is refused before any call, with what to do.
    let mut stored: Value =
        serde_json::from_slice(&std::fs::read(&terminal.config).expect("config")).expect("json");
    stored["expires_at"] = Value::from(1_000_000_000);
    std::fs::write(&terminal.config, stored.to_string()).expect("rewrite config");
    let expired = terminal.run(&["status", "7c9e6679-7425-40de-944b-e07fc1f90ae7"]);
    assert!(!expired.status.success());
    let sentence = text(&expired.stderr);
    assert!(
        sentence.contains("expiré") && sentence.contains("dyno-pos login"),
        "{sentence}"
    );
}

/// Records what `initiate` sends: `webhook_url` is in the body exactly when given.
#[test]
fn initiate_sends_a_per_request_webhook_url_only_when_given() {
    let stack = Stack::shared();
    let recorder = WebhookListener::accepting();
    let recorder_base = recorder.url.trim_end_matches("/dyno-webhooks").to_string();
    let terminal = Terminal {
        config: stack.state_dir.join("cli-recorder").join("config.json"),
        base_url: recorder_base.clone(),
    };
    std::fs::create_dir_all(terminal.config.parent().expect("dir")).expect("dir");
    std::fs::write(
        &terminal.config,
        serde_json::json!({
            "base_url": recorder_base,
            "client_id": "pos_sandbox_demo",
            "access_token": "recorded-token",
            "scope": "payments",
            "expires_at": 4_000_000_000i64,
        })
        .to_string(),
    )
    .expect("config");
    // The recorder answers "ok", not the API's JSON: the CLI says so and fails; what matters
    // here is what it sent.
    let with = terminal.run(&[
        "initiate",
        "--amount",
        "45.000",
        "--pos-reference",
        "REC-1",
        "--webhook-url",
        "http://127.0.0.1:3000/hook",
    ]);
    assert!(!with.status.success());
    assert!(text(&with.stderr).contains("réponse inattendue"));
    terminal.run(&["initiate", "--amount", "45.000", "--pos-reference", "REC-2"]);
    let sent = recorder.wait_for(2, Duration::from_secs(10));
    let bodies: Vec<Value> = sent
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("json body"))
        .collect();
    assert_eq!(bodies[0]["webhook_url"], "http://127.0.0.1:3000/hook");
    assert!(
        text(&sent[0].body).contains(r#""amount":45.000"#),
        "the amount as the seed writes it"
    );
    assert!(bodies[1].get("webhook_url").is_none(), "{}", bodies[1]);
    assert!(bodies[1].get("description").is_none(), "{}", bodies[1]);
    assert_eq!(
        sent[0].header("Authorization"),
        Some("Bearer recorded-token")
    );

    // Against the real API: accepted where the API knows the field, else its error is reported.
    let real = Terminal::new(stack, "webhook-url");
    real.ok(&["login"]);
    let answer = real.run(&[
        "initiate",
        "--amount",
        "45.000",
        "--webhook-url",
        &recorder.url,
    ]);
    assert!(
        answer.status.success() || text(&answer.stderr).contains("HTTP 400 UNKNOWN_FIELD"),
        "{}",
        text(&answer.stderr)
    );
}
