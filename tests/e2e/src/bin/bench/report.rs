//! The printed report of `make bench`: per route the requests, the errors, req/s and its ratio to
//! the floor over the rounds (min / median / max), latency percentiles, the poll against both
//! references, initiate and scan against their storage ceilings, the targets of issue 17, cold
//! starts and WASM sizes. Invariant: every ratio compares
//! figures of the same round, and anything that makes a figure untrustworthy (errors, a phase cut
//! short or disturbed, a busy machine) is printed in a banner, never hidden.

use std::path::Path;
use std::time::Duration;

use dyno_e2e::repo_root;

use crate::load::{percentile_ms, Shape, Window};
use crate::Route;

/// A phase is called disturbed when other processes took more than this share of the machine.
const BUSY_MACHINE: f64 = 0.10;
const WASM_TARGET_GZIP: u64 = 400 * 1024;

/// One route over the rounds: each round's window and the share of the CPU others took.
pub struct Measured {
    pub route: Route,
    pub rounds: Vec<(Window, f64)>,
}

impl Measured {
    pub fn new(route: Route) -> Self {
        Self {
            route,
            rounds: Vec::new(),
        }
    }

    fn rps(&self) -> Vec<f64> {
        self.rounds.iter().map(|(w, _)| w.rps()).collect()
    }

    fn pooled_latencies(&self) -> Vec<u64> {
        let mut all: Vec<u64> = self
            .rounds
            .iter()
            .flat_map(|(w, _)| w.latencies_us.iter().copied())
            .collect();
        all.sort_unstable();
        all
    }

    fn p50s(&self) -> Vec<f64> {
        self.rounds
            .iter()
            .map(|(w, _)| w.percentile_ms(0.5))
            .collect()
    }

    /// This route's figure over another's, round by round.
    fn per_round(mine: &[f64], theirs: &[f64]) -> Vec<f64> {
        mine.iter()
            .zip(theirs)
            .map(|(a, b)| if *b > 0.0 { a / b } else { 0.0 })
            .collect()
    }
}

/// Fresh `wrangler dev` to first answer, per run.
#[derive(Debug, Default)]
pub struct ColdStart {
    pub name: String,
    /// From spawning `wrangler dev` (node, the build check, bundling, workerd).
    pub process: Vec<Duration>,
    /// From the start of the workerd that runs the Workers.
    pub runtime: Vec<Duration>,
}

pub struct Report {
    pub shape: Shape,
    pub rounds: usize,
    pub measured: Vec<Measured>,
    pub honesty: Vec<String>,
    /// Cores the bench's processes use when idle.
    pub idle_baseline: f64,
    pub disturbed: Vec<String>,
    pub cold_starts: Vec<ColdStart>,
    pub stack_startup: Duration,
    pub waited: Duration,
    pub total: Duration,
}

/// (min, median, max); zeros when empty.
fn spread(values: &[f64]) -> (f64, f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    (sorted[0], median, sorted[n - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT MET"
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn gzip_size(path: &Path) -> u64 {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -9 -c '{}' | wc -c", path.display()))
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0)
}

/// The ratio to the floor that issue 17 asks of each gateway route.
fn floor_target(route: Route) -> Option<f64> {
    match route {
        Route::Token => Some(0.45),
        Route::Whoami => Some(0.60),
        Route::Poll => Some(0.66),
        Route::Initiate | Route::Scan => Some(0.20),
        Route::Floor
        | Route::Reference
        | Route::RustReference
        | Route::InitiateCeiling
        | Route::ScanCeiling => None,
    }
}

/// Software versions, read from the installed packages, so two reports can be compared.
fn versions() -> String {
    let version = |package: &str| {
        let path = repo_root()
            .join("node_modules")
            .join(package)
            .join("package.json");
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|json| json["version"].as_str().map(str::to_string))
            .unwrap_or_else(|| "?".into())
    };
    format!(
        "workerd {}, wrangler {}; reference: hono {}, jose {}",
        version("workerd"),
        version("wrangler"),
        version("hono"),
        version("jose")
    )
}

impl Report {
    fn row(&self, route: Route) -> Option<&Measured> {
        self.measured.iter().find(|m| m.route == route)
    }

    fn floor_rps(&self) -> Vec<f64> {
        self.row(Route::Floor)
            .map(Measured::rps)
            .unwrap_or_default()
    }

    pub fn print(&self) {
        let mut warnings = Vec::new();
        let mut targets = Vec::new();
        self.print_header();
        self.print_routes(&mut warnings, &mut targets);
        self.print_poll_comparisons(&mut targets);
        self.print_ceiling_comparisons(&mut targets);
        self.print_cold_starts(&mut warnings);
        self.print_sizes_and_times(&mut targets);
        println!();
        println!("Targets (issue 17), on the medians of the rounds:");
        for t in &targets {
            println!("  {t}");
        }
        warnings.extend(self.disturbed.iter().cloned());
        if !warnings.is_empty() {
            println!();
            println!("!!!!!!!!!!!!!!!! THESE FIGURES ARE NOT TRUSTWORTHY !!!!!!!!!!!!!!!!");
            for w in &warnings {
                println!("!!! {w}");
            }
        }
    }

    fn print_header(&self) {
        println!();
        println!(
            "Dyno Edge bench — {} threads, {} rounds of {} s warm-up + {} s measured per route, loopback; {}.",
            self.shape.threads,
            self.rounds,
            self.shape.warmup.as_secs(),
            self.shape.measured.as_secs(),
            versions()
        );
        println!(
            "Each route runs alone: no expiry or safety alarm of the bench's own requests is due while it runs, and it starts when the bench's processes are back to their idle load ({:.2} cores).",
            self.idle_baseline
        );
        println!("Tokens checked before measuring:");
        for line in &self.honesty {
            println!("  {line}");
        }
    }

    fn print_routes(&self, warnings: &mut Vec<String>, targets: &mut Vec<String>) {
        let floor_rps = self.floor_rps();
        println!();
        println!(
            "{:<27} {:>7} {:>6} | {:>6} {:>6} {:>6} | {:>5} {:>5} {:>5} | {:>7} {:>7} {:>7} | {:>6}",
            "", "", "", "req/s", "", "", "× floor", "", "", "latency ms", "", "", "others'"
        );
        println!(
            "{:<27} {:>7} {:>6} | {:>6} {:>6} {:>6} | {:>5} {:>5} {:>5} | {:>7} {:>7} {:>7} | {:>6}",
            "route", "n", "errors", "min", "median", "max", "min", "med", "max", "p50", "p95", "p99", "CPU"
        );
        for m in &self.measured {
            let rps = m.rps();
            let (lo, med, hi) = spread(&rps);
            let ratios = Measured::per_round(&rps, &floor_rps);
            let (rlo, rmed, rhi) = spread(&ratios);
            let latencies = m.pooled_latencies();
            let requests: usize = m.rounds.iter().map(|(w, _)| w.requests).sum();
            let errors: usize = m.rounds.iter().map(|(w, _)| w.errors).sum();
            let others = m.rounds.iter().map(|(_, o)| *o).fold(0.0, f64::max);
            println!(
                "{:<27} {:>7} {:>6} | {:>6.0} {:>6.0} {:>6.0} | {:>5.2} {:>5.2} {:>5.2} | {:>7.2} {:>7.2} {:>7.2} | {:>5.0}%",
                m.route.name(),
                requests,
                errors,
                lo,
                med,
                hi,
                rlo,
                rmed,
                rhi,
                percentile_ms(&latencies, 0.50),
                percentile_ms(&latencies, 0.95),
                percentile_ms(&latencies, 0.99),
                others * 100.0
            );
            if let Some(target) = floor_target(m.route) {
                targets.push(format!(
                    "{} ≥ {target:.2}× the floor: {rmed:.2} — {}",
                    m.route.name(),
                    verdict(rmed >= target)
                ));
            }
            if errors > 0 {
                let first = m
                    .rounds
                    .iter()
                    .find_map(|(w, _)| w.first_error.clone())
                    .unwrap_or_default();
                warnings.push(format!(
                    "{}: {errors} ERRORS (must be 0); first: {first}",
                    m.route.name()
                ));
            }
            for (round, (w, others)) in m.rounds.iter().enumerate() {
                if w.ended_early > 0 {
                    warnings.push(format!(
                        "{} round {}: {} threads ran out of prepared requests before the window closed; req/s is understated",
                        m.route.name(),
                        round + 1,
                        w.ended_early
                    ));
                }
                if *others > BUSY_MACHINE {
                    warnings.push(format!(
                        "{} round {}: other processes took {:.0}% of the machine; figures not comparable",
                        m.route.name(),
                        round + 1,
                        others * 100.0
                    ));
                }
            }
        }
        println!("(latency percentiles pool all rounds; others' CPU: the most any round saw of the machine used by processes the bench did not start)");
    }

    fn print_poll_comparisons(&self, targets: &mut Vec<String>) {
        println!();
        if let (Some(rust), Some(reference)) =
            (self.row(Route::RustReference), self.row(Route::Reference))
        {
            let (lo, med, hi) = spread(&Measured::per_round(&rust.rps(), &reference.rps()));
            println!(
                "Rust reference ÷ JS reference (the same work in Rust on this workerd), same round: median {med:.2} (min {lo:.2}, max {hi:.2})"
            );
            targets.push(format!(
                "(the Rust reference, the JS reference's work in a Rust Worker built as the gateway is, reaches {med:.2}× it)"
            ));
        }
        let Some(poll) = self.row(Route::Poll) else {
            return;
        };
        if let Some(reference) = self.row(Route::Reference) {
            let (lo, med, hi) = spread(&Measured::per_round(&poll.rps(), &reference.rps()));
            println!(
                "status poll ÷ JS reference, same round: median {med:.2} (min {lo:.2}, max {hi:.2})"
            );
            targets.push(format!(
                "status poll ≥ 1.0× the JS reference: {med:.2} — {}",
                verdict(med >= 1.0)
            ));
        }
        if let Some(rust) = self.row(Route::RustReference) {
            let (lo, med, hi) = spread(&Measured::per_round(&poll.rps(), &rust.rps()));
            println!(
                "status poll ÷ Rust reference (what the gateway adds), same round: median {med:.2} (min {lo:.2}, max {hi:.2})"
            );
        }
        if let Some(floor) = self.row(Route::Floor) {
            let (lo, med, hi) = spread(&Measured::per_round(&poll.p50s(), &floor.p50s()));
            println!(
                "status poll p50 ÷ floor p50, same round: median {med:.2} (min {lo:.2}, max {hi:.2})"
            );
            targets.push(format!(
                "status poll p50 ≤ 1.5× the floor's: {med:.2} — {}",
                verdict(med <= 1.5)
            ));
            if let Some(rust) = self.row(Route::RustReference) {
                let (lo, med, hi) = spread(&Measured::per_round(&rust.p50s(), &floor.p50s()));
                println!(
                    "Rust reference p50 ÷ floor p50, same round: median {med:.2} (min {lo:.2}, max {hi:.2})"
                );
            }
        }
    }

    /// Each ceiling does the least storage work of its route, with a verified token and nothing
    /// else, so it bounds what that route can reach on this workerd and disk.
    fn print_ceiling_comparisons(&self, targets: &mut Vec<String>) {
        let pairs = [
            (
                Route::Initiate,
                Route::InitiateCeiling,
                "one new SQLite-backed object per request, with one row and one alarm",
            ),
            (
                Route::Scan,
                Route::ScanCeiling,
                "on an object made beforehand, the sale reference claimed per client, the intent, one ledger debit and the outcome, each committed before the next",
            ),
        ];
        for (route, ceiling, what) in pairs {
            let Some(ceiling_row) = self.row(ceiling) else {
                continue;
            };
            let (_, floor_share, _) =
                spread(&Measured::per_round(&ceiling_row.rps(), &self.floor_rps()));
            println!();
            println!(
                "{}: {what} (a verified token, nothing else): {floor_share:.2}× the floor",
                ceiling.name()
            );
            if let Some(row) = self.row(route) {
                let (lo, med, hi) = spread(&Measured::per_round(&row.rps(), &ceiling_row.rps()));
                println!(
                    "{} ÷ its ceiling, same round: median {med:.2} (min {lo:.2}, max {hi:.2})",
                    route.name()
                );
            }
            targets.push(format!(
                "({} cannot pass its storage ceiling here: {floor_share:.2}× the floor)",
                route.name()
            ));
        }
    }

    fn print_cold_starts(&self, warnings: &mut Vec<String>) {
        let Some(first) = self.cold_starts.first() else {
            return;
        };
        println!();
        println!(
            "Cold start (min / median / max of {} runs per Worker): from the start of a fresh workerd runtime to the first answered request (±10 ms), and from a fresh `wrangler dev` to it",
            first.process.len()
        );
        let median_runtime = |c: &ColdStart| {
            let runs: Vec<f64> = c.runtime.iter().map(|d| ms(*d)).collect();
            spread(&runs).1
        };
        for c in &self.cold_starts {
            let (rlo, rmed, rhi) = spread(&c.runtime.iter().map(|d| ms(*d)).collect::<Vec<_>>());
            let (plo, pmed, phi) = spread(&c.process.iter().map(|d| ms(*d)).collect::<Vec<_>>());
            println!(
                "  {:<27} runtime {:>5.0} / {:>5.0} / {:>5.0} ms   wrangler dev {:>5.0} / {:>5.0} / {:>5.0} ms",
                c.name, rlo, rmed, rhi, plo, pmed, phi
            );
            if c.runtime.len() < c.process.len() {
                warnings.push(format!(
                    "cold start {}: the workerd runtime was not identified in every run",
                    c.name
                ));
            }
        }
        let find = |name: &str| self.cold_starts.iter().find(|c| c.name == name);
        if let (Some(gateway), Some(floor)) = (find("gateway"), find(Route::Floor.name())) {
            println!(
                "  the gateway's own share (its median minus the floor's): {:+.0} ms",
                median_runtime(gateway) - median_runtime(floor)
            );
        }
    }

    fn print_sizes_and_times(&self, targets: &mut Vec<String>) {
        let root = repo_root();
        let wasm = root.join("build/index_bg.wasm");
        let gz = gzip_size(&wasm);
        println!();
        println!(
            "gateway WASM (its front, which every call loads): {} bytes raw, {} bytes gzip ({:.0} KB)",
            file_size(&wasm),
            gz,
            gz as f64 / 1024.0
        );
        targets.push(format!(
            "gateway WASM ≤ {} KB gzip: {:.0} KB — {}",
            WASM_TARGET_GZIP / 1024,
            gz as f64 / 1024.0,
            verdict(gz <= WASM_TARGET_GZIP)
        ));
        let back = root.join("build-back/index_bg.wasm");
        println!(
            "gateway's back WASM (objects, queues, operator routes; not a till's first load): {} bytes raw, {} bytes gzip",
            file_size(&back),
            gzip_size(&back)
        );
        let sim = root.join("crates/cynod-sim/build/index_bg.wasm");
        println!(
            "simulator WASM: {} bytes raw, {} bytes gzip",
            file_size(&sim),
            gzip_size(&sim)
        );
        println!(
            "stack start to first healthy answer: {:.1} s; waited for quiet: {:.0} s; whole bench: {:.0} s",
            self.stack_startup.as_secs_f64(),
            self.waited.as_secs_f64(),
            self.total.as_secs_f64()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_min_median_max() {
        assert_eq!(spread(&[3.0, 1.0, 2.0]), (1.0, 2.0, 3.0));
        assert_eq!(spread(&[4.0, 1.0]), (1.0, 2.5, 4.0));
        assert_eq!(spread(&[]), (0.0, 0.0, 0.0));
    }

    #[test]
    fn ratios_pair_rounds() {
        assert_eq!(
            Measured::per_round(&[10.0, 30.0], &[20.0, 30.0]),
            vec![0.5, 1.0]
        );
        assert_eq!(Measured::per_round(&[10.0], &[0.0]), vec![0.0]);
    }
}
