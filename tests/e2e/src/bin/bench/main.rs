//! `make bench`: starts the optimized stack (rate limits scaled out of the way) beside a
//! hello-world Rust Worker on the same workerd, drives token issuance, an authenticated cheap
//! route, status polls, EPM scans and PPM initiates over loopback, and prints req/s and
//! p50/p95/p99 for each, as a ratio of the floor, with the WASM size and the startup time.
//! Figures, never assertions.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dyno_client::{Auth, DynoClient, Millimes, RawRequest};
use dyno_e2e::{free_port, repo_root, Onboarded, Stack, StackOptions, WranglerProcess};

const THREADS: usize = 8;
const DURATION: Duration = Duration::from_secs(8);

struct Stats {
    name: &'static str,
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl Stats {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let index = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[index] as f64 / 1000.0
    }
}

/// Runs `request(thread, n)` from `THREADS` threads for `DURATION`; `ok` judges each status.
fn load(
    name: &'static str,
    client: &DynoClient,
    request: impl Fn(usize, usize) -> Option<RawRequest> + Sync,
    ok: impl Fn(u16) -> bool + Sync,
) -> Stats {
    let latencies = Mutex::new(Vec::new());
    let errors = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (latencies, errors, request, ok) = (&latencies, &errors, &request, &ok);
            let client = client.with_header("CF-Connecting-IP", &format!("10.99.0.{thread}"));
            scope.spawn(move || {
                let mut mine = Vec::new();
                let mut n = 0;
                while started.elapsed() < DURATION {
                    let Some(req) = request(thread, n) else { break };
                    n += 1;
                    let t = Instant::now();
                    let good = client.send(req).map(|r| ok(r.status)).unwrap_or(false);
                    mine.push(t.elapsed().as_micros() as u64);
                    if !good {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies.lock().unwrap().extend(mine);
            });
        }
    });
    let elapsed = started.elapsed();
    let mut latencies_us = latencies.into_inner().unwrap();
    latencies_us.sort_unstable();
    Stats {
        name,
        requests: latencies_us.len(),
        errors: errors.into_inner(),
        elapsed,
        latencies_us,
    }
}

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn gzip_size(path: &std::path::Path) -> u64 {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -9 -c '{}' | wc -c", path.display()))
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let root = repo_root();

    // The floor: a hello-world Rust Worker on the same workerd binary.
    let hello_dir = std::env::temp_dir().join(format!("dyno-bench-hello-{}", std::process::id()));
    std::fs::create_dir_all(&hello_dir).unwrap();
    let hello = WranglerProcess::spawn(
        &["crates/bench-hello/wrangler.toml"],
        None,
        free_port(),
        &hello_dir,
        &[],
        false,
    );
    let hello_client = DynoClient::new(&hello.base_url);
    hello.wait_until(|| {
        hello_client
            .send(RawRequest::new("GET", "/"))
            .is_ok_and(|r| r.status == 200)
    });
    let floor = load(
        "hello-world floor",
        &hello_client,
        |_, _| Some(RawRequest::new("GET", "/")),
        |s| s == 200,
    );

    let stack = Stack::start(StackOptions {
        vars: vec![("RATE_LIMIT_SCALE".into(), "100000".into())],
        optimized: true,
    });
    // One POS client per thread, as many terminals would be.
    let clients: Vec<Onboarded> = (0..THREADS)
        .map(|i| stack.onboard(&format!("Bench POS {i}"), None))
        .collect();
    let mut results = vec![floor];

    results.push(load(
        "token issuance",
        &stack.client,
        |t, _| {
            let c = &clients[t];
            Some(RawRequest::new("POST", "/api/v1/pos/oauth/token").json(&serde_json::json!({
                "grant_type": "client_credentials", "client_id": c.client_id, "client_secret": c.client_secret
            })))
        },
        |s| s == 200,
    ));

    results.push(load(
        "authenticated GET /whoami",
        &stack.client,
        |t, _| {
            Some(
                RawRequest::new("GET", "/api/v1/pos/whoami")
                    .auth(Auth::Bearer(clients[t].token.access_token.clone())),
            )
        },
        |s| s == 200,
    ));

    // Status polls: enough open requests that each stays within its 2/s allowance.
    let sessions: Vec<Vec<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(t, c)| {
                scope.spawn(move || {
                    (0..120)
                        .filter_map(|i| {
                            c.client
                                .initiate(
                                    &c.token.access_token,
                                    Millimes(1_000),
                                    &format!("BENCH-POLL-{t}-{i}"),
                                    "bench",
                                )
                                .ok()
                                .map(|r| r.payment_request_id)
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    results.push(load(
        "status poll",
        &stack.client,
        |t, n| {
            let id = &sessions[t][n % sessions[t].len()];
            Some(
                RawRequest::new("GET", format!("/api/v1/pos/payments/{id}/status"))
                    .auth(Auth::Bearer(clients[t].token.access_token.clone())),
            )
        },
        |s| s == 200,
    ));

    results.push(load(
        "PPM initiate",
        &stack.client,
        |t, n| {
            Some(DynoClient::initiate_request(
                &clients[t].token.access_token,
                Millimes(1_000),
                &format!("BENCH-INIT-{t}-{n}"),
                "bench",
                None,
            ))
        },
        |s| s == 200,
    ));

    // Scans: each needs a fresh single-use QR, issued beforehand (untimed) in batches.
    let employees: Vec<_> = (0..THREADS)
        .map(|_| stack.new_employee(1_000_000_000))
        .collect();
    let qrs: Vec<Arc<Mutex<Vec<String>>>> = (0..THREADS).map(|_| Arc::default()).collect();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (employee, bucket, stack) = (&employees[t], &qrs[t], &stack);
            scope.spawn(move || {
                let batch: Vec<String> = (0..150)
                    .filter_map(|_| {
                        stack
                            .client
                            .wallet_qr(&employee.token, &employee.card.numero, None)
                            .ok()
                            .map(|q| q.qr_payload)
                    })
                    .collect();
                bucket.lock().unwrap().extend(batch);
            });
        }
    });
    results.push(load(
        "EPM scan (CYNOD debit)",
        &stack.client,
        |t, n| {
            let qr = qrs[t].lock().unwrap().pop()?;
            Some(DynoClient::scan_request(
                &clients[t].token.access_token,
                &qr,
                Millimes(1_000),
                &format!("BENCH-SCAN-{t}-{n}"),
                "qr",
            ))
        },
        |s| s == 200,
    ));

    let floor_rps = results[0].rps();
    println!();
    println!(
        "Dyno Edge bench — {THREADS} threads, {} s per route, loopback, one wrangler dev (workerd)",
        DURATION.as_secs()
    );
    println!(
        "{:<28} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7}",
        "route", "req/s", "p50 ms", "p95 ms", "p99 ms", "× floor", "n", "errors"
    );
    for r in &results {
        println!(
            "{:<28} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>7}",
            r.name,
            r.rps(),
            r.percentile(0.50),
            r.percentile(0.95),
            r.percentile(0.99),
            r.rps() / floor_rps,
            r.requests,
            r.errors
        );
    }
    let wasm = root.join("build/index_bg.wasm");
    let gz = gzip_size(&wasm);
    println!();
    println!(
        "gateway WASM: {} bytes raw, {} bytes gzip (budget 600 KB gzip: {})",
        file_size(&wasm),
        gz,
        if gz <= 600 * 1024 { "within" } else { "OVER" }
    );
    let sim = root.join("crates/cynod-sim/build/index_bg.wasm");
    println!(
        "simulator WASM: {} bytes raw, {} bytes gzip",
        file_size(&sim),
        gzip_size(&sim)
    );
    println!(
        "stack start to first healthy answer: {:.2} s",
        stack.startup.as_secs_f64()
    );
    let polls = results
        .iter()
        .find(|r| r.name == "status poll")
        .map(|r| r.rps() / floor_rps)
        .unwrap_or(0.0);
    println!(
        "status polls at {polls:.2}× the floor (budget ≥ 0.5×: {})",
        if polls >= 0.5 { "within" } else { "BELOW" }
    );
}
