//! `dyno-admin`: the operator's command line over the admin API.
//!
//! ```text
//! DYNO_URL=http://127.0.0.1:8787 DYNO_ADMIN_KEY=… dyno-admin <command> [args]
//!   create-merchant <name> [--id ID] [--not-affiliated]
//!   deactivate-merchant <merchant_id> | activate-merchant <merchant_id>
//!   create-client <merchant_id> [--id ID] [--scopes "payments"]
//!   rotate-secret <client_id> [--grace SECONDS]
//!   set-webhook <client_id> <url> <secret>
//!   revoke-tokens <client_id>
//!   audit [--client CLIENT_ID] [--limit N]
//!   member-cards <cynod_member_id>
//!   credit|debit <card_number> <amount TND> <reference> --operator NAME
//!   seed-demo
//! ```

use std::process::ExitCode;

use dyno_client::{parse_millimes, AdminClient, ApiError, DynoClient};

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn positional(args: &[String], index: usize) -> Result<&str, String> {
    args.iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || !args[i - 1].starts_with("--")))
        .map(|(_, a)| a.as_str())
        .nth(index)
        .ok_or_else(|| format!("argument {} manquant (voir --help)", index + 1))
}

fn run(admin: &AdminClient, command: &str, args: &[String]) -> Result<String, String> {
    match command {
        "create-merchant" => pretty(admin.create_merchant(
            flag(args, "--id").as_deref(),
            positional(args, 0)?,
            !args.iter().any(|a| a == "--not-affiliated"),
        )),
        "deactivate-merchant" => {
            pretty(admin.update_merchant(positional(args, 0)?, Some(false), None))
        }
        "activate-merchant" => {
            pretty(admin.update_merchant(positional(args, 0)?, Some(true), None))
        }
        "create-client" => pretty(admin.create_client(
            positional(args, 0)?,
            flag(args, "--id").as_deref(),
            flag(args, "--scopes").as_deref(),
        )),
        "rotate-secret" => {
            let grace = flag(args, "--grace")
                .map(|g| g.parse::<i64>().map_err(|e| e.to_string()))
                .transpose()?;
            pretty(admin.rotate_secret(positional(args, 0)?, grace))
        }
        "set-webhook" => pretty(admin.set_webhook(
            positional(args, 0)?,
            positional(args, 1)?,
            positional(args, 2)?,
        )),
        "revoke-tokens" => pretty(admin.revoke_tokens(positional(args, 0)?)),
        "audit" => {
            let limit = flag(args, "--limit")
                .map(|l| l.parse::<u32>().map_err(|e| e.to_string()))
                .transpose()?;
            pretty(admin.audit(flag(args, "--client").as_deref(), limit))
        }
        "member-cards" => pretty(admin.member_cards(positional(args, 0)?)),
        "credit" | "debit" => {
            let amount = positional(args, 1)?;
            let amount = parse_millimes(amount).ok_or(format!("montant invalide: {amount}"))?;
            let operator = flag(args, "--operator").ok_or("--operator NAME requis")?;
            pretty(admin.card_movement(
                &operator,
                positional(args, 0)?,
                command,
                amount,
                positional(args, 2)?,
            ))
        }
        "seed-demo" => pretty(admin.seed_demo()),
        other => Err(format!("commande inconnue: {other}")),
    }
}

/// Prints a typed answer, or the server's error.
fn pretty<T: std::fmt::Debug>(result: Result<T, ApiError>) -> Result<String, String> {
    result
        .map(|value| format!("{value:#?}"))
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args[0] == "--help" || args[0] == "-h" {
        eprintln!(
            "{}",
            include_str!("dyno-admin.rs")
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .map(|l| l.trim_start_matches("//!").trim_start_matches(' '))
                .collect::<Vec<_>>()
                .join("\n")
        );
        return ExitCode::SUCCESS;
    }
    let url = std::env::var("DYNO_URL").unwrap_or_else(|_| "http://127.0.0.1:8787".into());
    let Ok(key) = std::env::var("DYNO_ADMIN_KEY") else {
        eprintln!("DYNO_ADMIN_KEY manquant (la valeur ADMIN_API_KEY de .dev.vars en local)");
        return ExitCode::from(2);
    };
    let admin = AdminClient::new(DynoClient::new(url), key);
    match run(&admin, &args[0], &args[1..]) {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("erreur: {e}");
            ExitCode::FAILURE
        }
    }
}
