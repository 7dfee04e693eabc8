//! `make bench`: the gateway's hot routes measured against references on the same workerd — a
//! hello-world Rust Worker (the floor), a Hono + jose Worker doing the status poll
//! (bench/js-reference), which also gives the storage ceilings of initiate and scan, and the same
//! poll as a Rust Worker (crates/bench-rust-reference) — each in its own `wrangler dev`, all
//! driven with the same load over loopback. Each route is measured alone (see `calendar`), after a warm-up, in several rounds;
//! then cold starts, and the WASM sizes. Figures, never assertions; but a reference that accepts
//! a bad token, or a route that answers errors, is reported loudly (the former aborts).

mod calendar;
mod load;
mod machine;
mod profile;
mod report;
mod tokens;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dyno_client::{Auth, DynoClient, Millimes, RawRequest};
use dyno_core::payment::machine::SAFETY_MS;
use dyno_core::qr::PPM_TTL_SECONDS;
use dyno_e2e::{free_port, Employee, Onboarded, Stack, StackOptions, WranglerProcess};

use calendar::Calendar;
use load::{Shape, Window};
use report::{ColdStart, Measured, Report};
use tokens::Minter;

const THREADS: usize = 8;
/// The PIN `Stack::new_employee` enrolls.
const EMPLOYEE_PIN: &str = "2468";
/// Open PPM requests each polling thread cycles through: every request stays within its own
/// allowance (2 polls/s, burst 5) up to 8 × 100 × 2 = 1,600 polls/s. More would take longer to
/// create than their 60 s life allows on a slow machine.
const POLL_REQUESTS_PER_THREAD: usize = 100;
/// Payments each thread of the scan ceiling debits in turn (each is debited several times: a
/// debit's writes cost the same on an object written before).
const CEILING_PAYMENTS_PER_THREAD: usize = 50;
/// At most this many EPM QRs per scanning thread (issuing stops earlier when its time is up).
const MAX_QRS_PER_THREAD: usize = 600;
/// Of a QR's 30 s life (plus 2 s of tolerated skew, minus up to 1 s as `iat` is in whole
/// seconds), what the bench uses: every QR of a scan phase is issued after issuing starts and
/// scanned before the phase ends.
const QR_LIFE_USED: Duration = Duration::from_secs(28);
/// Of that, kept for the stack to finish the work the issuing left before the scans start; the
/// rest, less the phase's span, is the time to issue QRs in.
const QR_IDLE_ALLOWANCE: Duration = Duration::from_secs(4);
/// Left after every phase for its queued events (the events queue's batch timeout is 1 s).
const SETTLE: Duration = Duration::from_millis(1500);
/// Before each phase, the bench's processes must stay within this load (cores, here 5 % of the
/// machine) of their idle load for one sample: otherwise some work (an alarm, a queue batch) is
/// still running.
const IDLE_MARGIN: f64 = 0.10;
/// How long a phase without a deadline of its own waits for the stack to go idle.
const IDLE_PATIENCE: Duration = Duration::from_secs(30);
const IDLE_SAMPLE: Duration = Duration::from_millis(500);

/// The `n`th request of thread `t` in a phase; `None` ends that thread.
type Requests = Box<dyn Fn(usize, usize) -> Option<RawRequest> + Sync>;

/// The rows of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Floor,
    Reference,
    /// The JS reference's poll as a Rust Worker: what that work costs in Rust on workerd.
    RustReference,
    Token,
    Whoami,
    Poll,
    Initiate,
    Scan,
    /// The JS reference's new object per request: the least work of a PPM initiate.
    InitiateCeiling,
    /// The JS reference's sale reference, intent, debit and outcome commits: the least work of an
    /// EPM scan.
    ScanCeiling,
}

impl Route {
    /// The order of the rows.
    pub const ALL: [Route; 10] = [
        Route::Floor,
        Route::Reference,
        Route::RustReference,
        Route::Token,
        Route::Whoami,
        Route::Poll,
        Route::Initiate,
        Route::Scan,
        Route::InitiateCeiling,
        Route::ScanCeiling,
    ];

    /// The order of each round: the one that waits least for the alarms the phases leave (each
    /// round's polls and initiates expire 60 s later, its scans' safety alarms fire 30 s later).
    /// Chosen by simulating all 5,040 orders with the calendar's rules and typical phase lengths:
    /// about 460 s for three rounds, against 610 s for the order of the rows (with the seven
    /// routes of then). The routes added since leave no alarm due during the run: the Rust
    /// reference runs after the JS one, and the ceilings last.
    const MEASURING_ORDER: [Route; 10] = [
        Route::Poll,
        Route::Floor,
        Route::Reference,
        Route::RustReference,
        Route::Token,
        Route::Initiate,
        Route::Scan,
        Route::Whoami,
        Route::InitiateCeiling,
        Route::ScanCeiling,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Route::Floor => "hello-world floor (Rust)",
            Route::Reference => "JS reference poll (Hono)",
            Route::RustReference => "Rust reference poll",
            Route::Token => "token issuance",
            Route::Whoami => "authenticated GET /whoami",
            Route::Poll => "status poll",
            Route::Initiate => "PPM initiate",
            Route::Scan => "EPM scan (CYNOD debit)",
            Route::InitiateCeiling => "initiate ceiling (JS)",
            Route::ScanCeiling => "scan ceiling (JS)",
        }
    }

    /// The name `BENCH_ROUTES` uses.
    fn key(self) -> &'static str {
        match self {
            Route::Floor => "floor",
            Route::Reference => "reference",
            Route::RustReference => "rust-reference",
            Route::Token => "token",
            Route::Whoami => "whoami",
            Route::Poll => "poll",
            Route::Initiate => "initiate",
            Route::Scan => "scan",
            Route::InitiateCeiling => "initiate-ceiling",
            Route::ScanCeiling => "scan-ceiling",
        }
    }
}

/// Knobs for quicker runs while working on one route; `make bench` uses the defaults.
struct Settings {
    rounds: usize,
    shape: Shape,
    routes: Vec<Route>,
    /// Fresh starts of each Worker (0: none).
    cold_starts: usize,
    /// Where `BENCH_PROFILE=1` keeps a perf profile of each measured window.
    profile_dir: Option<PathBuf>,
}

impl Settings {
    fn from_env() -> Self {
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|&v| v > 0)
                .unwrap_or(default)
        };
        let wanted = std::env::var("BENCH_ROUTES").unwrap_or_default();
        let wanted: Vec<&str> = wanted
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .collect();
        let routes = Route::ALL
            .into_iter()
            .filter(|r| {
                wanted.is_empty()
                    || *r == Route::Floor
                    || wanted.contains(&r.key())
                    || (matches!(r, Route::Reference | Route::RustReference)
                        && wanted.contains(&"poll"))
                    || (*r == Route::InitiateCeiling && wanted.contains(&"initiate"))
                    || (*r == Route::ScanCeiling && wanted.contains(&"scan"))
            })
            .collect();
        Settings {
            rounds: number("BENCH_ROUNDS", 3) as usize,
            shape: Shape {
                threads: THREADS,
                warmup: Duration::from_secs(number("BENCH_WARMUP_SECONDS", 2)),
                measured: Duration::from_secs(number("BENCH_SECONDS", 8)),
            },
            routes,
            cold_starts: std::env::var("BENCH_COLD_STARTS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(3),
            profile_dir: std::env::var("BENCH_PROFILE")
                .is_ok_and(|v| v == "1")
                .then(|| dyno_e2e::repo_root().join("target/bench-profile")),
        }
    }
}

/// Everything the rounds drive.
struct Bench {
    settings: Settings,
    stack: Stack,
    floor: DynoClient,
    reference: DynoClient,
    rust_reference: DynoClient,
    clients: Vec<Onboarded>,
    employees: Vec<Employee>,
    /// The statuses seeded in both references, per thread.
    reference_ids: Vec<Vec<String>>,
    calendar: Calendar,
    /// How long the last preparation of each kind took, to plan the next one.
    poll_preparation: Duration,
    qr_preparation: Duration,
    /// Phases that could not be measured alone, with why.
    disturbed: Vec<String>,
    /// Cores the bench's processes use when nothing is asked of them (timers, file watchers).
    idle_baseline: f64,
    /// The profiles of the measured windows (`BENCH_PROFILE=1`), read at the end.
    profiles: Vec<profile::Recorded>,
}

fn ppm_ttl() -> Duration {
    Duration::from_secs(PPM_TTL_SECONDS as u64)
}

fn fail(message: &str) -> ! {
    eprintln!("\n!!!!!!!! make bench: {message}\n");
    std::process::exit(1);
}

fn main() {
    let started = Instant::now();
    let settings = Settings::from_env();
    if std::env::var_os("DYNO_WRANGLER_LOG_LEVEL").is_none() {
        // At `info`, workerd posts a log line to wrangler for every request: work no deployed
        // Worker does, and a larger share of the floor's cost than of the gateway's. Set before
        // any thread starts.
        std::env::set_var("DYNO_WRANGLER_LOG_LEVEL", "warn");
    }

    // One after the other: two `wrangler dev` starting at once can race for an internal port.
    // The references come last, as they need the stack's issuer.
    let floor_process = spawn_alone("crates/bench-hello/wrangler.toml", "hello", &[]);
    let floor = DynoClient::new(&floor_process.base_url);
    floor_process.wait_until(|| answers(&floor, "/", 200));
    let stack = Stack::start(StackOptions {
        vars: vec![("RATE_LIMIT_SCALE".into(), "100000".into())],
        optimized: true,
    });
    // One POS client per thread, as many terminals would be.
    let clients: Vec<Onboarded> = (0..THREADS)
        .map(|i| stack.onboard(&format!("Bench POS {i}"), None))
        .collect();
    let jwt_keys = stack.jwt_keys();
    let minter = Minter::new(&jwt_keys, &clients[0].token.access_token)
        .unwrap_or_else(|e| fail(&format!("cannot mint tokens: {e}")));
    let reference_vars = vec![
        ("JWT_KEYS".to_string(), jwt_keys),
        ("ISSUER".to_string(), minter.issuer.clone()),
    ];
    let reference_process = spawn_alone(
        "bench/js-reference/wrangler.toml",
        "reference",
        &reference_vars,
    );
    let reference = DynoClient::new(&reference_process.base_url);
    reference_process.wait_until(|| answers(&reference, "/api/v1/pos/payments/x/status", 401));
    let rust_reference_process = spawn_alone(
        "crates/bench-rust-reference/wrangler.toml",
        "rust-reference",
        &reference_vars,
    );
    let rust_reference = DynoClient::new(&rust_reference_process.base_url);
    rust_reference_process
        .wait_until(|| answers(&rust_reference, "/api/v1/pos/payments/x/status", 401));
    let employees: Vec<Employee> = (0..THREADS)
        .map(|_| stack.new_employee(1_000_000_000))
        .collect();

    let mut bench = Bench {
        settings,
        stack,
        floor,
        reference,
        rust_reference,
        clients,
        employees,
        reference_ids: Vec::new(),
        calendar: Calendar::default(),
        poll_preparation: Duration::from_secs(20),
        qr_preparation: Duration::from_secs(17),
        disturbed: Vec::new(),
        idle_baseline: 0.0,
        profiles: Vec::new(),
    };
    let (template_id, template) = bench.template_status();
    bench.seed_references(&template);
    let honesty = bench.check_tokens_refused(&minter, &template_id);
    // The least of a few samples: what is left when nothing runs.
    bench.idle_baseline = (0..6)
        .map(|_| machine::idle_load(IDLE_SAMPLE))
        .fold(f64::INFINITY, f64::min);

    let mut measured: Vec<Measured> = bench
        .settings
        .routes
        .iter()
        .map(|&route| Measured::new(route))
        .collect();
    for round in 0..bench.settings.rounds {
        bench.refresh_tokens();
        for route in Route::MEASURING_ORDER {
            let Some(row) = measured.iter_mut().find(|m| m.route == route) else {
                continue;
            };
            let window = bench.measure(route, round);
            eprintln!(
                "[bench] round {} {:<28} {:>7.0} req/s, p50 {:.2} ms, {} errors, others' CPU {:.0}%",
                round + 1,
                row.route.name(),
                window.0.rps(),
                window.0.percentile_ms(0.5),
                window.0.errors,
                window.1 * 100.0
            );
            row.rounds.push(window);
        }
    }

    // Cold starts on a machine left quiet by the rounds.
    let runs = bench.settings.cold_starts;
    let mut cold_starts = Vec::new();
    if runs > 0 {
        bench
            .calendar
            .wait_for_quiet(Duration::from_secs(3600), "the cold starts");
        let floor_config = ["crates/bench-hello/wrangler.toml"];
        let reference_config = ["bench/js-reference/wrangler.toml"];
        cold_starts.push(cold_start(
            Route::Floor.name(),
            &floor_config,
            &[],
            "/",
            200,
            runs,
        ));
        cold_starts.push(cold_start(
            "gateway",
            &["wrangler.toml"],
            &[],
            "/api/v1/pos/whoami",
            401,
            runs,
        ));
        cold_starts.push(cold_start(
            Route::Reference.name(),
            &reference_config,
            &reference_vars,
            "/api/v1/pos/payments/x/status",
            401,
            runs,
        ));
    }

    Report {
        shape: bench.settings.shape,
        rounds: bench.settings.rounds,
        measured,
        honesty,
        idle_baseline: bench.idle_baseline,
        disturbed: bench.disturbed,
        cold_starts,
        stack_startup: bench.stack.startup,
        waited: bench.calendar.waited,
        total: started.elapsed(),
    }
    .print();
    profile::print(&bench.profiles);
}

/// A `wrangler dev` of one config on its own port and state, as the stack runs.
fn spawn_alone(config: &str, label: &str, vars: &[(String, String)]) -> WranglerProcess {
    let port = free_port();
    let dir =
        std::env::temp_dir().join(format!("dyno-bench-{label}-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&format!("state dir: {e}")));
    WranglerProcess::spawn(&[config], None, port, &dir, vars, false)
}

fn answers(client: &DynoClient, path: &str, status: u16) -> bool {
    client
        .send(RawRequest::new("GET", path))
        .is_ok_and(|r| r.status == status)
}

impl Bench {
    /// New tokens for every client and employee, so that none expires during a long run (a
    /// wallet token lives 15 min). Their claims are the same, so the reference's statuses hold.
    fn refresh_tokens(&mut self) {
        for c in &mut self.clients {
            c.token = c
                .client
                .token(&c.client_id, &c.client_secret)
                .unwrap_or_else(|e| fail(&format!("POS token: {e:?}")));
        }
        for e in &mut self.employees {
            e.token = self
                .stack
                .fresh_client()
                .wallet_login(&e.card.wallet_id, EMPLOYEE_PIN)
                .unwrap_or_else(|e| fail(&format!("wallet login: {e:?}")))
                .access_token;
        }
    }

    /// A PPM request of the first client, and its status as the gateway answers it.
    fn template_status(&self) -> (String, serde_json::Value) {
        let first = &self.clients[0];
        // Its single expiry alarm (a few ms of work) is left out of the calendar.
        let template = first
            .client
            .initiate(
                &first.token.access_token,
                Millimes(1_000),
                "BENCH-TEMPLATE",
                "bench",
            )
            .unwrap_or_else(|e| fail(&format!("initiate for the template: {e:?}")));
        let id = template.payment_request_id;
        let body = first
            .client
            .send(
                RawRequest::new("GET", format!("/api/v1/pos/payments/{id}/status"))
                    .auth(Auth::Bearer(first.token.access_token.clone())),
            )
            .ok()
            .filter(|r| r.status == 200)
            .map(|r| r.text())
            .unwrap_or_else(|| fail("the gateway does not answer the template's status"));
        let template =
            serde_json::from_str(&body).unwrap_or_else(|e| fail(&format!("status body: {e}")));
        (id, template)
    }

    /// Stores in both references, per client, statuses shaped as the gateway's `template`.
    fn seed_references(&mut self, template: &serde_json::Value) {
        self.reference_ids = (0..THREADS)
            .map(|t| {
                (0..POLL_REQUESTS_PER_THREAD)
                    .map(|i| {
                        let mut bytes = [0u8; 16];
                        bytes[..8].copy_from_slice(&(t as u64).to_be_bytes());
                        bytes[8..].copy_from_slice(&(i as u64).to_be_bytes());
                        dyno_core::ids::uuid_v4(bytes)
                    })
                    .collect()
            })
            .collect();
        for (t, ids) in self.reference_ids.iter().enumerate() {
            let statuses: serde_json::Map<String, serde_json::Value> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    let mut status = template.clone();
                    status["payment_request_id"] = id.as_str().into();
                    status["pos_reference"] = format!("BENCH-POLL-{t}-{i}").into();
                    (id.clone(), status.to_string().into())
                })
                .collect();
            for (name, reference) in [
                (Route::Reference.name(), &self.reference),
                (Route::RustReference.name(), &self.rust_reference),
            ] {
                let seeded = reference.send(
                    RawRequest::new("PUT", "/bench/statuses")
                        .auth(Auth::Bearer(self.clients[t].token.access_token.clone()))
                        .json(&statuses),
                );
                if !seeded.is_ok_and(|r| r.status == 200) {
                    fail(&format!("the {name} refused its statuses"));
                }
            }
        }
    }

    /// Checks that the three poll routes verify tokens (the gateway on its request `gateway_id`),
    /// and the storage ceilings if one is measured; aborts the bench if one accepts a bad token.
    fn check_tokens_refused(&self, minter: &Minter, gateway_id: &str) -> Vec<String> {
        let first = &self.clients[0];
        let genuine = &first.token.access_token;
        let checks = [
            ("gateway", &first.client, gateway_id),
            (
                Route::Reference.name(),
                &self.reference,
                self.reference_ids[0][0].as_str(),
            ),
            (
                Route::RustReference.name(),
                &self.rust_reference,
                self.reference_ids[0][0].as_str(),
            ),
        ];
        let mut lines = Vec::new();
        for (name, client, id) in checks {
            match tokens::check_refusals(client, id, genuine, minter) {
                Ok(summary) => lines.push(format!("{name}: {summary}")),
                Err(wrong) => fail(&format!(
                    "{name} does not verify tokens as the gateway must; not measured:\n  {}",
                    wrong.join("\n  ")
                )),
            }
        }
        let ceilings = [Route::InitiateCeiling, Route::ScanCeiling];
        if ceilings.iter().any(|c| self.settings.routes.contains(c)) {
            match tokens::check_ceilings(&self.reference, genuine, minter) {
                Ok(summary) => lines.push(format!("storage ceilings (JS): {summary}")),
                Err(wrong) => fail(&format!(
                    "the storage ceilings do not verify tokens or do not store; not measured:\n  {}",
                    wrong.join("\n  ")
                )),
            }
        }
        lines
    }

    /// One round of one route: waits until the machine is quiet for it, prepares what it needs,
    /// and measures it. Returns the window and the share of the CPU other processes took.
    fn measure(&mut self, route: Route, round: usize) -> (Window, f64) {
        let shape = self.settings.shape;
        let preparation = match route {
            Route::Poll => self.poll_preparation,
            Route::Scan => self.qr_preparation,
            _ => Duration::ZERO,
        };
        self.calendar
            .wait_for_quiet(preparation + shape.span() + SETTLE, route.name());
        if preparation > Duration::ZERO {
            // What the preparation makes ages from then on: made on a busy stack, it would be
            // made slowly, and fewer QRs would be ready.
            self.wait_until_idle(route, round, Instant::now() + IDLE_PATIENCE);
        }
        let tokens = self.tokens();
        let gateway = self.stack.client.clone();
        // When the phase must start at the latest: what its preparation made ages meanwhile.
        let mut start_by = Instant::now() + IDLE_PATIENCE;
        // Whom to load, with what, and the alarms the phase leaves behind (what, how much later).
        let (client, requests, leaves): (DynoClient, Requests, Option<(String, Duration)>) =
            match route {
                Route::Floor => (
                    self.floor.clone(),
                    Box::new(|_, _| Some(RawRequest::new("GET", "/"))),
                    None,
                ),
                Route::Reference | Route::RustReference => {
                    let ids = self.reference_ids.clone();
                    let reference = if route == Route::Reference {
                        &self.reference
                    } else {
                        &self.rust_reference
                    };
                    (
                        reference.clone(),
                        Box::new(move |t, n| {
                            Some(status_request(&ids[t][n % ids[t].len()], &tokens[t]))
                        }),
                        None,
                    )
                }
                Route::Token => {
                    let credentials: Vec<serde_json::Value> = self
                        .clients
                        .iter()
                        .map(|c| {
                            serde_json::json!({
                                "grant_type": "client_credentials",
                                "client_id": c.client_id,
                                "client_secret": c.client_secret,
                            })
                        })
                        .collect();
                    (
                        gateway,
                        Box::new(move |t, _| {
                            Some(
                                RawRequest::new("POST", "/api/v1/pos/oauth/token")
                                    .json(&credentials[t]),
                            )
                        }),
                        None,
                    )
                }
                Route::Whoami => (
                    gateway,
                    Box::new(move |t, _| Some(bearer("GET", "/api/v1/pos/whoami", &tokens[t]))),
                    None,
                ),
                Route::Poll => {
                    let sessions = self.open_poll_requests(round);
                    // Before its own requests' expiry alarms.
                    if let Some(due) = self.calendar.next_start() {
                        start_by = due
                            .checked_sub(shape.span() + SETTLE)
                            .unwrap_or_else(Instant::now);
                    }
                    if let Some(what) = self.calendar.overlaps(shape.span()) {
                        self.disturbed.push(format!(
                            "round {}: status poll overlapped {what}",
                            round + 1
                        ));
                    }
                    (
                        gateway,
                        Box::new(move |t, n| {
                            let id = &sessions[t][n % sessions[t].len()];
                            Some(status_request(id, &tokens[t]))
                        }),
                        None,
                    )
                }
                Route::InitiateCeiling => (
                    self.reference.clone(),
                    Box::new(move |t, _| Some(bearer("POST", "/bench/payments", &tokens[t]))),
                    None,
                ),
                Route::ScanCeiling => {
                    let payments = self.ceiling_payments(&tokens);
                    (
                        self.reference.clone(),
                        Box::new(move |t, n| {
                            let id = &payments[t][n % payments[t].len()];
                            Some(bearer(
                                "POST",
                                format!("/bench/payments/{id}/debit"),
                                &tokens[t],
                            ))
                        }),
                        None,
                    )
                }
                Route::Initiate => (
                    gateway,
                    Box::new(move |t, n| {
                        Some(DynoClient::initiate_request(
                            &tokens[t],
                            Millimes(1_000),
                            &format!("BENCH-INIT-{round}-{t}-{n}"),
                            "bench",
                            None,
                        ))
                    }),
                    Some((
                        format!("the expiry alarms of round {}'s initiates", round + 1),
                        ppm_ttl(),
                    )),
                ),
                Route::Scan => {
                    let (qrs, issued_from) = self.fresh_qrs();
                    start_by = issued_from + QR_LIFE_USED - shape.span();
                    (
                        gateway,
                        Box::new(move |t, n| {
                            let qr = qrs[t]
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .pop_front()?;
                            Some(DynoClient::scan_request(
                                &tokens[t],
                                &qr,
                                Millimes(1_000),
                                &format!("BENCH-SCAN-{round}-{t}-{n}"),
                                "qr",
                            ))
                        }),
                        Some((
                            format!("the safety alarms of round {}'s scans", round + 1),
                            Duration::from_millis(SAFETY_MS as u64),
                        )),
                    )
                }
            };
        let first = Instant::now();
        let window = self.timed(route, round, &client, requests, start_by);
        if let Some((what, delay)) = leaves {
            self.calendar.deferred(&what, first, Instant::now(), delay);
        }
        self.calendar.settle(SETTLE);
        window
    }

    fn tokens(&self) -> Vec<String> {
        self.clients
            .iter()
            .map(|c| c.token.access_token.clone())
            .collect()
    }

    /// Runs one load phase once the bench's processes are idle, and reads how much of the machine
    /// others took meanwhile.
    fn timed(
        &mut self,
        route: Route,
        round: usize,
        client: &DynoClient,
        requests: Requests,
        start_by: Instant,
    ) -> (Window, f64) {
        self.wait_until_idle(route, round, start_by);
        let before = machine::cpu_reading();
        let shape = self.settings.shape;
        // The profile covers the measured window: it starts when the warm-up ends.
        let recording = self.settings.profile_dir.clone().map(|dir| {
            std::thread::spawn(move || {
                std::thread::sleep(shape.warmup);
                let label = format!("round {} {}", round + 1, route.key());
                profile::record(&dir, &label, shape.measured).and_then(profile::Recording::finish)
            })
        });
        // Every measured route answers 200 when it succeeds.
        let window = load::run(shape, client, requests, |s| s == 200);
        let others = machine::foreign_share(&before, &machine::cpu_reading());
        if let Some(Ok(Some(recorded))) = recording.map(std::thread::JoinHandle::join) {
            self.profiles.push(recorded);
        }
        (window, others)
    }

    /// Waits, until `start_by` at the latest, for the bench's processes to be idle; past it, the
    /// phase is reported as disturbed.
    fn wait_until_idle(&mut self, route: Route, round: usize, start_by: Instant) {
        let waiting = Instant::now();
        let limit = self.idle_baseline + IDLE_MARGIN;
        let mut busiest: f64 = 0.0;
        loop {
            let busy = machine::idle_load(IDLE_SAMPLE);
            if busy <= limit {
                break;
            }
            busiest = busiest.max(busy);
            if Instant::now() + IDLE_SAMPLE > start_by {
                self.disturbed.push(format!(
                    "round {}: {} started while the stack still kept {busy:.2} cores busy (idle: {:.2})",
                    round + 1,
                    route.name(),
                    self.idle_baseline
                ));
                break;
            }
        }
        self.calendar.waited += waiting.elapsed();
        if busiest > 0.0 {
            eprintln!(
                "[bench] waited {:.1} s for the stack to go idle before {} (it kept up to {busiest:.2} cores busy)",
                waiting.elapsed().as_secs_f64(),
                route.name()
            );
        }
    }

    /// Fresh PPM requests for this round's polls (the last round's have expired by now), and
    /// their expiry alarms in the calendar.
    fn open_poll_requests(&mut self, round: usize) -> Vec<Vec<String>> {
        let first = Instant::now();
        let sessions: Vec<Vec<String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .clients
                .iter()
                .enumerate()
                .map(|(t, c)| {
                    scope.spawn(move || {
                        (0..POLL_REQUESTS_PER_THREAD)
                            .map(|i| {
                                c.client
                                    .initiate(
                                        &c.token.access_token,
                                        Millimes(1_000),
                                        &format!("BENCH-POLL-{round}-{t}-{i}"),
                                        "bench",
                                    )
                                    .map(|r| r.payment_request_id)
                                    .unwrap_or_else(|e| fail(&format!("initiate for polls: {e:?}")))
                            })
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| fail("a polling thread died")))
                .collect()
        });
        self.poll_preparation = first.elapsed();
        self.calendar.deferred(
            &format!("the expiry alarms of round {}'s polled requests", round + 1),
            first,
            Instant::now(),
            ppm_ttl(),
        );
        sessions
    }

    /// Payments made in the JS reference before its scan ceiling is measured, as a QR makes the
    /// payment a scan then debits: per thread, on its client's token.
    fn ceiling_payments(&self, tokens: &[String]) -> Vec<Vec<String>> {
        let reference = &self.reference;
        std::thread::scope(|scope| {
            let handles: Vec<_> = tokens
                .iter()
                .map(|token| {
                    scope.spawn(move || {
                        (0..CEILING_PAYMENTS_PER_THREAD)
                            .map(|_| {
                                reference
                                    .send(bearer("POST", "/bench/payments", token))
                                    .ok()
                                    .filter(|r| r.status == 200)
                                    .and_then(|r| tokens::payment_id(&r.text()))
                                    .unwrap_or_else(|| fail("the JS reference made no payment"))
                            })
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| fail("a ceiling thread died")))
                .collect()
        })
    }

    /// Single-use EPM QRs for this round's scans, issued just before (they live 30 s).
    /// Returns them per thread, with when issuing started.
    fn fresh_qrs(&mut self) -> (Vec<Mutex<VecDeque<String>>>, Instant) {
        let first = Instant::now();
        let count = MAX_QRS_PER_THREAD;
        let budget = QR_LIFE_USED
            .saturating_sub(self.settings.shape.span() + QR_IDLE_ALLOWANCE)
            .max(Duration::from_secs(3));
        let stack = &self.stack;
        let qrs: Vec<Mutex<VecDeque<String>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .employees
                .iter()
                .map(|employee| {
                    scope.spawn(move || {
                        (0..count)
                            .take_while(|_| first.elapsed() < budget)
                            .map(|_| {
                                stack
                                    .client
                                    .wallet_qr(&employee.token, &employee.card.numero, None)
                                    .map(|q| q.qr_payload)
                                    .unwrap_or_else(|e| fail(&format!("wallet QR: {e:?}")))
                            })
                            .collect::<VecDeque<String>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| Mutex::new(h.join().unwrap_or_else(|_| fail("a QR thread died"))))
                .collect()
        });
        self.qr_preparation = first.elapsed();
        let issued: usize = qrs.iter().map(|q| q.lock().map_or(0, |q| q.len())).sum();
        eprintln!(
            "[bench] {issued} QRs issued in {:.1} s",
            self.qr_preparation.as_secs_f64()
        );
        (qrs, first)
    }
}

/// A request under a POS bearer token.
fn bearer(method: &'static str, path: impl Into<String>, token: &str) -> RawRequest {
    RawRequest::new(method, path).auth(Auth::Bearer(token.to_string()))
}

fn status_request(id: &str, token: &str) -> RawRequest {
    bearer("GET", format!("/api/v1/pos/payments/{id}/status"), token)
}

/// From a fresh `wrangler dev` to the first answer of `path`, `runs` times. The
/// runtime figure starts when the workerd that runs the Workers starts: workerd compiles and
/// instantiates every Worker before it listens, so this is a fresh isolate's start to its first
/// answered request.
fn cold_start(
    name: &str,
    configs: &[&str],
    vars: &[(String, String)],
    path: &str,
    status: u16,
    runs: usize,
) -> ColdStart {
    let mut measured = ColdStart {
        name: name.to_string(),
        ..ColdStart::default()
    };
    for run in 0..runs {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("dyno-bench-cold-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&format!("state dir: {e}")));
        let spawned = Instant::now();
        let process = WranglerProcess::spawn(configs, None, port, &dir, vars, false);
        let client = DynoClient::new(&process.base_url);
        // Tight polling: wrangler's own readiness loop would add up to 100 ms.
        while !answers(&client, path, status) {
            if spawned.elapsed() > Duration::from_secs(240) {
                fail(&format!(
                    "{name} did not answer {path} {status} within 240 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let answered_at = machine::since_boot();
        measured.process.push(spawned.elapsed());
        match machine::runtime_started(process.pgid, port) {
            Some(start) => measured.runtime.push(answered_at.saturating_sub(start)),
            None => {
                eprintln!("[bench] cold start {name} run {run}: workerd runtime not identified")
            }
        }
        process.stop();
    }
    measured
}
