//! E2E harness: starts the whole stack (gateway + CYNOD simulator) under a real `wrangler dev` on a
//! free port with its own temporary state, and hands tests a [`DynoClient`] to drive it.
//! Invariant: every stack started here is stopped when the test process exits, with its workerd,
//! and its temporary state is removed unless a test failed (or `DYNO_KEEP_STATE` is set).

pub mod webhooks;

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use dyno_client::{AdminClient, DynoClient, RawRequest, SimCard, TokenResponse};

/// Process groups of the stacks this process started, killed at exit.
static STARTED_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static ATEXIT_REGISTERED: AtomicI32 = AtomicI32::new(0);
/// The stacks' state directories: removed at exit when every test passed (each run would
/// otherwise leave its D1, Durable Objects and logs behind), kept when one failed, for its logs.
static STATE_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static A_TEST_PANICKED: AtomicBool = AtomicBool::new(false);
/// The `wrangler dev` configs of a whole stack, the first served: the gateway's front and back,
/// the CYNOD simulator and the demo site (as `make dev` starts them).
pub const STACK_CONFIGS: &[&str] = &[
    "wrangler.toml",
    "wrangler.back.toml",
    "crates/cynod-sim/wrangler.toml",
    "wrangler.www.toml",
];

/// The gateway's back: an auxiliary Worker of every stack.
const BACK_CONFIG: &str = "wrangler.back.toml";

/// `wrangler dev` gives `--var` to the first config only: an auxiliary Worker reads its config's
/// vars and the `.dev.vars` beside it. The back must see a test's vars as the front does, so a
/// stack with vars runs a copy of the back's config (its paths made absolute) beside a copy of
/// `.dev.vars` with the vars added: `.dev.vars` outranks a config's vars, as `--var` outranks
/// `.dev.vars` for the front. Its path.
fn back_config_with_vars(
    root: &Path,
    env: Option<&str>,
    vars: &[(String, String)],
    state_dir: &Path,
) -> String {
    let text = std::fs::read_to_string(root.join(BACK_CONFIG)).expect("read the back's config");
    let mut config: toml::Table = text.parse().expect("the back's config is TOML");
    let absolute = |relative: &str| root.join(relative).display().to_string();
    let main = config["main"].as_str().expect("main").to_string();
    config.insert("main".into(), absolute(&main).into());
    let mut build = toml::Table::new();
    let command = config["build"]["command"]
        .as_str()
        .expect("a build command");
    build.insert("command".into(), command.into());
    build.insert("cwd".into(), root.display().to_string().into());
    build.insert("watch_dir".into(), absolute("src").into());
    config.insert("build".into(), build.into());
    let scope = match env {
        Some(env) => config
            .get_mut("env")
            .and_then(|e| e.get_mut(env))
            .and_then(|e| e.as_table_mut())
            .expect("the environment"),
        None => &mut config,
    };
    for database in scope
        .get_mut("d1_databases")
        .and_then(|d| d.as_array_mut())
        .into_iter()
        .flatten()
    {
        if let Some(dir) = database.get("migrations_dir").and_then(|d| d.as_str()) {
            let dir = absolute(dir);
            database
                .as_table_mut()
                .expect("a table")
                .insert("migrations_dir".into(), dir.into());
        }
    }
    let dir = state_dir.join("back-config");
    std::fs::create_dir_all(&dir).expect("create the back's config directory");
    let mut dev_vars =
        std::fs::read_to_string(root.join(".dev.vars")).expect(".dev.vars (run scripts/setup.sh)");
    for (name, value) in vars {
        dev_vars.push_str(&format!("\n{name}={value}\n"));
    }
    std::fs::write(dir.join(".dev.vars"), dev_vars).expect("write .dev.vars");
    let path = dir.join("wrangler.toml");
    std::fs::write(&path, toml::to_string(&config).expect("encode")).expect("write the config");
    path.display().to_string()
}

/// Held while a stack starts: two `wrangler dev` starting at once in one process can race for the
/// same internal port, so a test binary with several stacks starts them one after another.
static STARTING: Mutex<()> = Mutex::new(());

extern "C" fn stop_all_stacks() {
    let groups = STARTED_GROUPS.lock().map(|g| g.clone()).unwrap_or_default();
    for pgid in groups {
        // SIGINT lets wrangler shut workerd down; SIGKILL the group shortly after in case it hangs.
        unsafe { libc::kill(-pgid, libc::SIGINT) };
    }
    std::thread::sleep(Duration::from_millis(800));
    let groups = STARTED_GROUPS.lock().map(|g| g.clone()).unwrap_or_default();
    for pgid in groups {
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    let dirs = STATE_DIRS.lock().map(|d| d.clone()).unwrap_or_default();
    if A_TEST_PANICKED.load(Ordering::SeqCst) || std::env::var_os("DYNO_KEEP_STATE").is_some() {
        for dir in dirs {
            eprintln!("[e2e] state kept in {}", dir.display());
        }
    } else {
        for dir in dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// At the first stack: stop every stack at exit, and remember whether any test failed.
fn register_exit_handling() {
    if ATEXIT_REGISTERED.swap(1, Ordering::SeqCst) == 0 {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            A_TEST_PANICKED.store(true, Ordering::SeqCst);
            previous(info);
        }));
        unsafe { libc::atexit(stop_all_stacks) };
    }
}

/// The repository root (the harness crate lives in `tests/e2e`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// How a stack differs from the default sandbox one.
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// Extra `--var NAME:VALUE` bindings for the gateway.
    pub vars: Vec<(String, String)>,
    /// Build with wasm-opt when a build is needed (the bench); tests skip it to start faster.
    pub optimized: bool,
}

/// How `wrangler dev` serves a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    /// With wrangler's self-signed certificate.
    Https,
}

impl Protocol {
    pub fn scheme(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
        }
    }
}

/// One `wrangler dev` process group, stopped when this test process exits.
pub struct WranglerProcess {
    pub base_url: String,
    pub log_path: PathBuf,
    /// The process group of `wrangler dev` and its workerd processes.
    pub pgid: i32,
}

impl WranglerProcess {
    /// Starts `wrangler dev` for `configs` (the first is served) on `port`, in the wrangler
    /// environment `env` (`None`: the top level, which is the sandbox).
    pub fn spawn(
        configs: &[&str],
        env: Option<&str>,
        port: u16,
        state_dir: &Path,
        vars: &[(String, String)],
        skip_opt: bool,
    ) -> Self {
        Self::spawn_with(
            configs,
            env,
            port,
            state_dir,
            vars,
            skip_opt,
            Protocol::Http,
        )
    }

    /// [`Self::spawn`], served over `protocol` (`wrangler dev --local-protocol`; https with a
    /// self-signed certificate).
    pub fn spawn_with(
        configs: &[&str],
        env: Option<&str>,
        port: u16,
        state_dir: &Path,
        vars: &[(String, String)],
        skip_opt: bool,
        protocol: Protocol,
    ) -> Self {
        let root = repo_root();
        register_exit_handling();
        STATE_DIRS
            .lock()
            .expect("state dirs")
            .push(state_dir.to_path_buf());
        let log_path = state_dir.join("wrangler.log");
        let mut command_line = String::from("exec wrangler dev");
        for (i, config) in configs.iter().enumerate() {
            let config = if i > 0 && *config == BACK_CONFIG && !vars.is_empty() {
                back_config_with_vars(&root, env, vars, state_dir)
            } else {
                config.to_string()
            };
            command_line.push_str(&format!(" -c '{config}'"));
        }
        if let Some(env) = env {
            command_line.push_str(&format!(" --env {env}"));
        }
        // Tests read the per-request lines of `info`; the bench sets `warn` (DYNO_WRANGLER_LOG_LEVEL),
        // because at `info` the runtime makes a loopback call to wrangler for every request.
        let log_level =
            std::env::var("DYNO_WRANGLER_LOG_LEVEL").unwrap_or_else(|_| "info".to_string());
        command_line.push_str(&format!(
            " --local --ip 127.0.0.1 --port {port} --persist-to '{}' --log-level {log_level} \
             --local-protocol {}",
            state_dir.display(),
            protocol.scheme()
        ));
        if protocol == Protocol::Https && configs.len() > 1 {
            // With several configs, `wrangler dev` hands its first Worker an `http:` URL even when
            // it serves https, unless told the origin it stands for: production's own view.
            command_line.push_str(&format!(
                " --local-upstream 127.0.0.1:{port} --upstream-protocol https"
            ));
        }
        for (name, value) in vars {
            command_line.push_str(&format!(" --var '{name}:{value}'"));
        }
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(format!("source scripts/env.sh && {command_line}"))
            .current_dir(&root)
            .env("WRANGLER_REGISTRY_PATH", state_dir.join("registry"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0);
        if skip_opt {
            command.env("DYNO_NO_OPT", "1");
        }
        unsafe {
            command.pre_exec(|| {
                // If the test process dies without running atexit, wrangler is told to stop.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        // PDEATHSIG fires when the *thread* that forked exits, so fork from a keeper thread that
        // lives exactly as long as wrangler, not from whichever test thread got here first.
        let (pid_tx, pid_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || match command.spawn() {
            Ok(mut child) => {
                let _ = pid_tx.send(Ok(child.id() as i32));
                let _ = child.wait();
            }
            Err(e) => {
                let _ = pid_tx.send(Err(e.to_string()));
            }
        });
        let pgid = pid_rx
            .recv()
            .expect("keeper thread")
            .unwrap_or_else(|e| panic!("spawn wrangler dev: {e}"));
        STARTED_GROUPS.lock().expect("groups").push(pgid);
        Self {
            base_url: format!("{}://127.0.0.1:{port}", protocol.scheme()),
            log_path,
            pgid,
        }
    }

    /// Stops this `wrangler dev` and its workerd now rather than at exit (the bench starts
    /// several in turn); its state directory is still removed at exit.
    pub fn stop(&self) {
        unsafe { libc::kill(-self.pgid, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(5);
        // Signal 0 only asks whether any process of the group is left.
        while unsafe { libc::kill(-self.pgid, 0) } == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
        if let Ok(mut groups) = STARTED_GROUPS.lock() {
            groups.retain(|&g| g != self.pgid);
        }
    }

    /// The stack's state directory (its D1, Durable Objects and logs).
    pub fn state_dir(&self) -> &Path {
        self.log_path
            .parent()
            .expect("the log lives in the state directory")
    }

    /// Polls `ready` until it holds; panics with the log's tail after 240 s.
    pub fn wait_until(&self, ready: impl Fn() -> bool) {
        let started = Instant::now();
        while !ready() {
            if started.elapsed() > Duration::from_secs(240) {
                let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(60)..].join("\n");
                panic!(
                    "{} not ready after 240 s; wrangler log:\n{tail}",
                    self.base_url
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A running stack.
pub struct Stack {
    pub base_url: String,
    pub client: DynoClient,
    pub admin_key: String,
    pub state_dir: PathBuf,
    pub log_path: PathBuf,
    /// From spawning `wrangler dev` to the first healthy `/healthz`.
    pub startup: Duration,
}

/// A free port and a fresh state directory named after it, with the D1 migrations of the
/// wrangler environment `env` (`None`: the sandbox) already applied.
fn migrated_state(root: &Path, label: &str, env: Option<&str>) -> (u16, PathBuf) {
    ensure_setup(root);
    let port = free_port();
    let state_dir =
        std::env::temp_dir().join(format!("dyno-{label}-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&state_dir).expect("state dir");
    let env_flag = env.map(|e| format!(" --env {e}")).unwrap_or_default();
    run_shell(
        root,
        &format!(
            "wrangler d1 migrations apply DB --local{env_flag} --persist-to '{}' -c wrangler.toml",
            state_dir.display()
        ),
        &state_dir.join("migrations.log"),
    );
    (port, state_dir)
}

impl Stack {
    /// Fires the daily cron (`0 3 * * *`) at `at_ms` (now when `None`), through `wrangler dev`'s
    /// trigger, which reaches the first Worker of the stack (the front, which declares the cron).
    pub fn run_daily_cron(&self, at_ms: Option<i64>) -> dyno_client::RawResponse {
        let mut path = "/cdn-cgi/local/scheduled?cron=0+3+*+*+*".to_string();
        if let Some(at_ms) = at_ms {
            path.push_str(&format!("&time={at_ms}"));
        }
        self.client
            .send(RawRequest::new("GET", path))
            .expect("the cron trigger answers")
    }

    /// The stack shared by all tests of one test binary.
    pub fn shared() -> &'static Stack {
        static SHARED: OnceLock<Stack> = OnceLock::new();
        SHARED.get_or_init(|| Stack::start(StackOptions::default()))
    }

    pub fn start(options: StackOptions) -> Stack {
        let _one_at_a_time = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        let root = repo_root();
        let (port, state_dir) = migrated_state(&root, "e2e", None);
        let process = WranglerProcess::spawn(
            STACK_CONFIGS,
            None,
            port,
            &state_dir,
            &options.vars,
            !options.optimized,
        );
        let client = DynoClient::new(&process.base_url);
        let started = Instant::now();
        // Ready when every dependency answers (the operators' report; `/healthz` is liveness only).
        let admin = AdminClient::new(client.clone(), dev_var(&root, "ADMIN_API_KEY"));
        process.wait_until(|| admin.health().is_ok_and(|r| r.status == "ok"));
        let startup = started.elapsed();
        eprintln!(
            "[e2e] stack up on {} in {:.1} s (state {})",
            process.base_url,
            startup.as_secs_f64(),
            state_dir.display()
        );
        let stack = Stack {
            base_url: process.base_url.clone(),
            client,
            admin_key: dev_var(&root, "ADMIN_API_KEY"),
            state_dir,
            log_path: process.log_path,
            startup,
        };
        stack.admin().seed_demo().expect("seed demo data");
        stack
    }

    pub fn admin(&self) -> AdminClient {
        AdminClient::new(self.client.clone(), self.admin_key.clone())
    }

    /// A client with its own source address, so per-IP throttles of one test never touch another.
    pub fn fresh_client(&self) -> DynoClient {
        static NEXT: AtomicI32 = AtomicI32::new(1);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        self.client.with_header(
            "CF-Connecting-IP",
            &format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255),
        )
    }

    /// A new affiliated merchant and client; returns the client id, its secret and a token.
    pub fn onboard(&self, name: &str, scopes: Option<&str>) -> Onboarded {
        let (merchant, created) = self.admin().onboard(name, scopes).expect("onboard");
        let client = self.fresh_client();
        let token = client
            .token(&created.client_id, &created.client_secret)
            .expect("token for a new client");
        Onboarded {
            merchant_id: merchant.merchant_id,
            client_id: created.client_id,
            client_secret: created.client_secret,
            token,
            client,
        }
    }

    /// A new card in the CYNOD simulator, unique to this test, with `balance_minor` millimes.
    pub fn new_card(&self, balance_minor: i64, wallet_type: &str) -> SimCard {
        self.new_card_with(balance_minor, wallet_type, "ACTIVE", "2030-12-31")
    }

    pub fn new_card_with(
        &self,
        balance_minor: i64,
        wallet_type: &str,
        statut: &str,
        fin_validite: &str,
    ) -> SimCard {
        static NEXT: AtomicI32 = AtomicI32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst) as u64;
        let unique = (std::process::id() as u64 % 10_000) * 100_000
            + (SystemTimeSeed::get() % 100) * 1_000
            + n;
        let numero = format!("7019{unique:012}");
        let member = format!("CLT-T{unique}");
        let card = SimCard {
            numero: numero.clone(),
            client_id: member,
            wallet_id: format!("+2169{:07}", unique % 10_000_000),
            nom: "Test".into(),
            prenom: "Carte".into(),
            email: String::new(),
            wallet_type: wallet_type.into(),
            fin_validite: fin_validite.into(),
            statut: statut.into(),
            solde_minor: balance_minor,
        };
        self.admin()
            .sim_create_card(&card)
            .expect("create simulator card")
    }

    /// An employee with a wallet login (PIN `2468`) and one card of `balance_minor` millimes.
    pub fn new_employee(&self, balance_minor: i64) -> Employee {
        self.employee_for(self.new_card(balance_minor, "TicketResto"))
    }

    /// An employee with a wallet login (PIN `2468`) for a card already in the simulator.
    pub fn employee_for(&self, card: SimCard) -> Employee {
        self.admin()
            .enroll_wallet(&card.wallet_id, "2468", "Employé de test", &card.client_id)
            .expect("enroll wallet");
        let token = self
            .fresh_client()
            .wallet_login(&card.wallet_id, "2468")
            .expect("wallet login")
            .access_token;
        Employee { card, token }
    }

    /// The card's balance in the simulator's ledger, in millimes.
    pub fn balance_of(&self, numero: &str) -> i64 {
        self.admin()
            .sim_card(numero)
            .expect("sim card")
            .expect("card exists")
            .solde_minor
    }

    /// A new affiliated client whose token also carries `cards:write` — a scope that once allowed
    /// card movements and now grants nothing (movements are operator-only).
    pub fn card_writer(&self, name: &str) -> (Onboarded, String) {
        let pos = self.onboard(name, Some("payments cards:write"));
        let token = pos
            .client
            .token_basic(
                &pos.client_id,
                &pos.client_secret,
                Some("payments cards:write"),
            )
            .expect("token with cards:write")
            .access_token;
        (pos, token)
    }

    /// The gateway (its front and its back) alone in its production environment (`wrangler dev --env production`), served
    /// over HTTPS as production is (self-signed), with its own state: its own D1, Durable Objects
    /// and queues. CYNOD is unreachable offline, so it is ready when its router answers, not when
    /// its dependencies are green.
    pub fn start_production_gateway() -> (WranglerProcess, DynoClient) {
        Self::start_production_gateway_with(Protocol::Https, &[])
    }

    /// [`Self::start_production_gateway`] over `protocol`, with extra `--var`s.
    pub fn start_production_gateway_with(
        protocol: Protocol,
        vars: &[(String, String)],
    ) -> (WranglerProcess, DynoClient) {
        let _one_at_a_time = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        let root = repo_root();
        let (port, state_dir) = migrated_state(&root, "e2e-prod", Some("production"));
        let process = WranglerProcess::spawn_with(
            &["wrangler.toml", "wrangler.back.toml"],
            Some("production"),
            port,
            &state_dir,
            vars,
            true,
            protocol,
        );
        let client = match protocol {
            Protocol::Http => DynoClient::new(&process.base_url),
            Protocol::Https => DynoClient::with_self_signed_tls(&process.base_url),
        };
        // Whatever it answers (401, 403 over plain http, 503 when misconfigured), the answer
        // is the gateway's own once it carries a request id.
        process.wait_until(|| {
            client
                .send(RawRequest::new("GET", "/api/v1/pos/whoami"))
                .is_ok_and(|r| r.header("X-Request-Id").is_some())
        });
        (process, client)
    }

    /// The key ring of this stack, to mint tokens with chosen claims in security tests.
    pub fn jwt_keys(&self) -> String {
        dev_var(&repo_root(), "JWT_KEYS")
    }
}

/// Seconds since the epoch, read once: distinguishes card numbers across runs on one state dir.
struct SystemTimeSeed;

impl SystemTimeSeed {
    fn get() -> u64 {
        static SEED: OnceLock<u64> = OnceLock::new();
        *SEED.get_or_init(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        })
    }
}

/// An employee of a test: one card, logged in.
pub struct Employee {
    pub card: SimCard,
    /// The wallet token.
    pub token: String,
}

impl Employee {
    /// Confirms a PPM request with this employee's card, as its link tells the wallet to (the
    /// link's `sig`, then the card and PIN).
    pub fn confirm(&self, stack: &Stack, request: &dyno_client::Initiated) {
        let sig = dyno_client::decode_nfc(&request.nfc_payload)
            .and_then(|n| n.link_sig())
            .expect("the request's link carries its sig");
        stack
            .client
            .wallet_confirm(
                &self.token,
                &request.payment_request_id,
                &sig,
                &self.card.numero,
                "2468",
            )
            .expect("PPM confirmed");
    }

    /// A fresh EPM QR for the card (`ttl_seconds`: sandbox-only shorter lifetime).
    pub fn qr(&self, stack: &Stack, ttl_seconds: Option<i64>) -> String {
        stack
            .client
            .wallet_qr(&self.token, &self.card.numero, ttl_seconds)
            .expect("wallet qr")
            .qr_payload
    }
}

/// A POS client created for one test.
pub struct Onboarded {
    pub merchant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub token: TokenResponse,
    /// A client with this test's own source address.
    pub client: DynoClient,
}

impl Onboarded {
    /// An EPM payment of `amount` millimes from `employee`'s card (a fresh QR); its transaction id.
    pub fn pay(&self, stack: &Stack, employee: &Employee, amount: i64, reference: &str) -> String {
        self.client
            .scan(
                &self.token.access_token,
                &employee.qr(stack, None),
                dyno_client::Millimes(amount),
                reference,
            )
            .expect("scan")
            .transaction_id
    }
}

/// Runs the project setup once per process (idempotent and fast when already done).
fn ensure_setup(root: &Path) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        run_shell(
            root,
            "scripts/setup.sh",
            &std::env::temp_dir().join("dyno-e2e-setup.log"),
        )
    });
}

fn run_shell(root: &Path, command: &str, log_path: &Path) {
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("source scripts/env.sh && {command}"))
        .current_dir(root)
        .output()
        .expect("run shell");
    if let Ok(mut log) = std::fs::File::create(log_path) {
        let _ = log.write_all(&output.stdout);
        let _ = log.write_all(&output.stderr);
    }
    assert!(
        output.status.success(),
        "`{command}` failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn free_port() -> u16 {
    // Below the kernel's ephemeral range (32768–60999 on Linux): a port the kernel hands out can be
    // taken by the local end of any outgoing connection before wrangler binds it, which failed a
    // stack's start with "Address already in use". Each call starts from a different place.
    static CALLS: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let start = std::process::id()
        .wrapping_mul(7_919)
        .wrapping_add(nanos)
        .wrapping_add(CALLS.fetch_add(1, Ordering::SeqCst).wrapping_mul(997));
    (0..SPAN)
        .map(|i| (FIRST + (start.wrapping_add(i.wrapping_mul(7))) % SPAN) as u16)
        .find(|&port| TcpListener::bind(("127.0.0.1", port)).is_ok())
        .expect("a free port below the ephemeral range")
}

/// Rows of `sql` in the local D1 of the stack whose state is in `state_dir`, read from outside
/// the gateway (what a test asserts did not happen, it reads here, not through the API).
pub fn d1_rows(state_dir: &Path, env: Option<&str>, sql: &str) -> Vec<serde_json::Value> {
    let root = repo_root();
    let env_flag = env.map(|e| format!(" --env {e}")).unwrap_or_default();
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source scripts/env.sh && wrangler d1 execute DB --local{env_flag} --persist-to '{}' \
             -c wrangler.toml --json --command \"$DYNO_SQL\"",
            state_dir.display()
        ))
        .env("DYNO_SQL", sql)
        .current_dir(&root)
        .output()
        .expect("wrangler d1 execute");
    assert!(
        output.status.success(),
        "d1 execute failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("d1 execute --json output");
    results[0]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A value from the generated `.dev.vars`.
pub fn dev_var(root: &Path, name: &str) -> String {
    let text =
        std::fs::read_to_string(root.join(".dev.vars")).expect(".dev.vars (run scripts/setup.sh)");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}=")))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("{name} missing from .dev.vars"))
}

/// Today in Tunis (UTC+1 all year, no daylight saving) as `YYYY-MM-DD`, and its day as UTC
/// milliseconds `[from, to)`.
pub fn tunis_today() -> (String, i64, i64) {
    let tunis = chrono::FixedOffset::east_opt(3_600).expect("UTC+1");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .expect("a clock after 1970");
    let today = chrono::DateTime::from_timestamp_millis(now)
        .expect("now")
        .with_timezone(&tunis)
        .date_naive();
    let from = today
        .and_hms_opt(0, 0, 0)
        .and_then(|midnight| midnight.and_local_timezone(tunis).single())
        .expect("Tunis midnight")
        .timestamp_millis();
    (today.to_string(), from, from + 86_400_000)
}
