//! The production deploy, checked offline: `wrangler deploy --dry-run --env production` bundles
//! each of the gateway's two Workers (its front, `wrangler.toml`, and its back,
//! `wrangler.back.toml`) with the production configuration, every binding the sandbox has (the one
//! the tests exercise) is declared for production too (wrangler itself refuses a Durable Object class
//! the bundle does not export). Wrangler environments do not inherit bindings, so a binding added
//! only at the top level would otherwise reach production missing.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use dyno_e2e::repo_root;

/// What the sandbox has and production deliberately does not: the CYNOD simulator, reached
/// through a service binding named by `CYNOD_BINDING`. Production reaches CYNOD over HTTPS at
/// `CYNOD_BASE_URL` instead.
const SANDBOX_ONLY: &[&str] = &["CYNOD", "CYNOD_BINDING"];
/// Production's own settings: CYNOD over https, and the https origin of the PPM links (local dev
/// takes the request's).
const PRODUCTION_ONLY: &[&str] = &["CYNOD_BASE_URL", "PUBLIC_BASE_URL"];

/// One binding of wrangler's table: `env.DB (dyno-production)   D1 Database`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Binding {
    name: String,
    /// The resource in parentheses: a queue or database name, a DO class, a variable's value.
    target: String,
    kind: String,
}

/// The gateway's two Workers: each config, and the entry module its bundle has (the back's derives
/// the objects' classes for RPC; the front has no object classes and runs its build as it is).
const FRONT: (&str, &str) = ("wrangler.toml", "index.js");
const BACK: (&str, &str) = ("wrangler.back.toml", "entry-back.js");

/// Runs the dry run of one of the gateway's Workers (`FRONT`, `BACK`) for `env` ("" is the top
/// level, the sandbox) into a fresh directory.
fn dry_run((config, entry): (&str, &str), env: &str) -> Vec<Binding> {
    // Tests run in parallel and may dry-run the same environment: each run has its own directory.
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let outdir = std::env::temp_dir().join(format!(
        "dyno-dry-run-{}-{}-{}-{}",
        config.trim_end_matches(".toml"),
        if env.is_empty() { "sandbox" } else { env },
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    let stdout = dry_run_of(config, env, &outdir);
    let bindings = parse_bindings(&stdout);
    assert!(!bindings.is_empty(), "no binding table in:\n{stdout}");
    assert_bundle_written(&outdir, entry);
    let _ = std::fs::remove_dir_all(&outdir);
    bindings
}

/// `wrangler deploy --dry-run` of `config` for `env` into `outdir`, which must reach its end; its
/// output.
fn dry_run_of(config: &str, env: &str, outdir: &Path) -> String {
    let _ = std::fs::remove_dir_all(outdir);
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source scripts/env.sh && wrangler deploy --dry-run -c '{config}' --env='{env}' --outdir '{}'",
            outdir.display()
        ))
        .current_dir(repo_root())
        // Never optimize the shared build from here: stacks of other tests may be running on it.
        .env("DYNO_NO_OPT", "1")
        .env("NO_COLOR", "1")
        .output()
        .expect("run wrangler deploy --dry-run");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "wrangler deploy --dry-run -c {config} --env='{env}' failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("--dry-run: exiting now."),
        "the dry run of {config} did not reach its end:\n{stdout}\n{stderr}"
    );
    stdout
}

fn parse_bindings(stdout: &str) -> Vec<Binding> {
    stdout
        .lines()
        .skip_while(|line| !line.starts_with("Your Worker has access to the following bindings"))
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("env.")?;
            let (name, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            let rest = rest.trim();
            let (target, kind) = match rest.strip_prefix('(') {
                Some(inner) => {
                    let (target, kind) = inner.rsplit_once(')')?;
                    (target.trim().to_string(), kind.trim().to_string())
                }
                None => (String::new(), rest.to_string()),
            };
            Some(Binding {
                name: name.to_string(),
                target,
                kind,
            })
        })
        .collect()
}

/// The bundle has its entry module and a non-empty WASM.
fn assert_bundle_written(outdir: &Path, entry: &str) {
    let entries: Vec<String> = std::fs::read_dir(outdir)
        .expect("the dry run wrote its bundle")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        entries.iter().any(|name| name == entry),
        "{entry}: {entries:?}"
    );
    let wasm = entries
        .iter()
        .find(|name| name.ends_with(".wasm"))
        .unwrap_or_else(|| panic!("no WASM in the bundle: {entries:?}"));
    assert!(std::fs::metadata(outdir.join(wasm)).unwrap().len() > 0);
}

fn names(bindings: &[Binding]) -> BTreeSet<&str> {
    bindings.iter().map(|b| b.name.as_str()).collect()
}

#[test]
fn the_front_in_production_bundles_with_every_binding_its_sandbox_has() {
    production_matches_sandbox(FRONT);
}

#[test]
fn the_back_in_production_bundles_with_every_binding_its_sandbox_has() {
    production_matches_sandbox(BACK);
}

fn production_matches_sandbox(part: (&str, &str)) {
    let production = dry_run(part, "production");
    let sandbox = dry_run(part, "");

    let missing: Vec<&Binding> = sandbox
        .iter()
        .filter(|b| !SANDBOX_ONLY.contains(&b.name.as_str()))
        .filter(|b| {
            !production
                .iter()
                .any(|p| p.name == b.name && p.kind == b.kind)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "bindings of the sandbox missing from [env.production] (environments do not inherit them): {missing:?}"
    );
    let extra: Vec<&str> = names(&production)
        .difference(&names(&sandbox))
        .copied()
        .filter(|name| !PRODUCTION_ONLY.contains(name))
        .collect();
    assert!(
        extra.is_empty(),
        "production bindings the sandbox (and so every test) never exercises: {extra:?}"
    );
    for name in SANDBOX_ONLY {
        assert!(
            !names(&production).contains(name),
            "production must not be wired to the CYNOD simulator ({name})"
        );
    }

    let cynod = production
        .iter()
        .find(|b| b.name == "CYNOD_BASE_URL")
        .expect("production names its CYNOD");
    assert!(
        cynod.target.starts_with("\"https://"),
        "production reaches CYNOD over HTTPS, not {}",
        cynod.target
    );
    let environment = production
        .iter()
        .find(|b| b.name == "ENVIRONMENT")
        .expect("ENVIRONMENT is set");
    assert_eq!(environment.target, "\"production\"");

    // Production has its own data: no database or queue is shared with the sandbox.
    for binding in &production {
        if binding.kind == "Queue" || binding.kind == "D1 Database" {
            let shared = sandbox
                .iter()
                .any(|s| s.name == binding.name && s.target == binding.target);
            assert!(!shared, "{binding:?} is the sandbox's own resource");
        }
    }
}

/// The demo site deploys on its own (assets only) under the name the production gateway's `WWW`
/// binding reaches, so a production page is never the sandbox site's.
#[test]
fn the_demo_site_deploys_under_the_name_production_reaches() {
    let outdir = std::env::temp_dir().join(format!("dyno-dry-run-www-{}", std::process::id()));
    let stdout = dry_run_of("wrangler.www.toml", "production", &outdir);
    let _ = std::fs::remove_dir_all(&outdir);
    assert!(
        stdout.contains("Read ") && stdout.contains("from the assets directory"),
        "the demo site bundles its pages:\n{stdout}"
    );
    let config = std::fs::read_to_string(repo_root().join("wrangler.www.toml")).expect("read");
    let site: toml::Table = config.parse().expect("wrangler.www.toml is TOML");
    let production_name = site["env"]["production"]["name"].as_str().expect("a name");
    let www = |bindings: &[Binding]| {
        bindings
            .iter()
            .find(|b| b.name == "WWW")
            .map(|b| b.target.clone())
            .expect("the gateway binds the demo site as WWW")
    };
    assert_eq!(www(&dry_run(FRONT, "production")), production_name);
    assert_eq!(
        www(&dry_run(FRONT, "")),
        site["name"].as_str().expect("a name")
    );
}

/// The front reaches, in each environment, the back deployed for it: its `BACK` binding and its
/// objects name the back's Worker of that environment, so a production till never reaches the
/// sandbox's objects. The back defines the objects itself.
#[test]
fn the_front_reaches_the_back_of_its_own_environment() {
    let config = std::fs::read_to_string(repo_root().join(BACK.0)).expect("read");
    let back: toml::Table = config.parse().expect("wrangler.back.toml is TOML");
    let names = [
        ("", back["name"].as_str().expect("a name")),
        (
            "production",
            back["env"]["production"]["name"].as_str().expect("a name"),
        ),
    ];
    for (env, back_name) in names {
        let front = dry_run(FRONT, env);
        let target = |name: &str| {
            front
                .iter()
                .find(|b| b.name == name)
                .map(|b| b.target.clone())
                .unwrap_or_else(|| panic!("the front binds {name} ({env:?})"))
        };
        assert_eq!(target("BACK"), back_name, "{env:?}");
        assert_eq!(
            target("PAYMENTS"),
            format!("PaymentDO, defined in {back_name}")
        );
        assert_eq!(
            target("CLIENT_GATES"),
            format!("ClientGate, defined in {back_name}")
        );
        let own = dry_run(BACK, env);
        for (name, class) in [("PAYMENTS", "PaymentDO"), ("CLIENT_GATES", "ClientGate")] {
            assert!(
                own.iter().any(|b| b.name == name && b.target == class),
                "the back defines {class} ({env:?}): {own:?}"
            );
        }
    }
}

/// Both parts read one configuration (`src/config.rs`): in each environment their variables are
/// the same, so a limit or an origin cannot differ between a till's sale and the rest.
#[test]
fn the_front_and_the_back_read_the_same_variables() {
    let read = |config: &str| -> toml::Table {
        std::fs::read_to_string(repo_root().join(config))
            .expect("read")
            .parse()
            .expect("TOML")
    };
    let (front, back) = (read(FRONT.0), read(BACK.0));
    assert_eq!(front["vars"], back["vars"], "sandbox");
    assert_eq!(
        front["env"]["production"]["vars"], back["env"]["production"]["vars"],
        "production"
    );
}
