//! The sandbox demo data of DESIGN.md: the seed's demo POS client and webhook secret, a client of a
//! non-affiliated merchant, and the employee wallets whose cards live in the CYNOD simulator.
//! Invariant: seeding is idempotent and only ever runs in the sandbox; it restores the demo
//! credentials to their published values without touching any other client.

use dyno_core::auth::lockout::guard_key;
use dyno_core::auth::sealed;
use dyno_core::webhook;
use dyno_core::ErrorCode;
use serde::Serialize;
use worker::{Env, Request, Response};

use crate::config::{Config, Environment};
use crate::error::{AppError, AppResult};
use crate::http::json_response;
use crate::platform;
use crate::registry::{self, Merchant, NewClient};
use crate::routes::admin::hashed;

pub const DEMO_CLIENT_ID: &str = "pos_sandbox_demo";
const DEMO_CLIENT_SECRET: &str = "sandbox_secret_demo";
pub const DEMO_WEBHOOK_SECRET: &str = "sandbox_webhook_secret";
pub const DEMO_MERCHANT_ID: &str = "DEMO-CAFETERIA";
pub const UNAFFILIATED_CLIENT_ID: &str = "pos_sandbox_unaffiliated";
const UNAFFILIATED_CLIENT_SECRET: &str = "unaffiliated_secret_demo";
const UNAFFILIATED_MERCHANT_ID: &str = "DEMO-NON-AFFILIE";

/// Demo employees: wallet id (phone), CYNOD client id, name, PIN.
pub const DEMO_WALLETS: &[(&str, &str, &str, &str)] = &[
    ("+21620000001", "CLT-0001", "Amira Ben Salah", "1234"),
    ("+21620000002", "CLT-0002", "Karim Trabelsi", "4321"),
    ("+21620000003", "CLT-0003", "Sana Gharbi", "5678"),
];

#[derive(Serialize)]
struct Seeded {
    merchants: Vec<&'static str>,
    clients: Vec<&'static str>,
    wallets: Vec<&'static str>,
    webhook_url: String,
}

/// `POST /api/v1/admin/demo/seed`.
pub async fn seed(req: &Request, env: &Env) -> AppResult<Response> {
    let config = Config::get(env)?;
    if config.environment != Environment::Sandbox {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "Les données de démonstration n'existent qu'en sandbox.",
        ));
    }
    let origin = req.url().map(|u| u.origin().ascii_serialization())?;
    let webhook_url = seed_demo_data(env, Some(&origin)).await?;
    json_response(
        200,
        &Seeded {
            merchants: vec![DEMO_MERCHANT_ID, UNAFFILIATED_MERCHANT_ID],
            clients: vec![DEMO_CLIENT_ID, UNAFFILIATED_CLIENT_ID],
            wallets: DEMO_WALLETS.iter().map(|w| w.0).collect(),
            webhook_url,
        },
    )
}

/// Writes the demo rows; returns the demo webhook URL: the sandbox's own receiver at `origin`, or
/// (for the daily reset, which has no request) the URL already configured.
pub async fn seed_demo_data(env: &Env, origin: Option<&str>) -> AppResult<String> {
    let config = Config::get(env)?;
    let db = registry::db(env)?;
    let now = platform::now().0;
    for (merchant_id, name, affiliated) in [
        (DEMO_MERCHANT_ID, "Cafétéria Démo", true),
        (
            UNAFFILIATED_MERCHANT_ID,
            "Boutique non affiliée (démo)",
            false,
        ),
    ] {
        registry::insert_merchant(
            &db,
            &Merchant {
                merchant_id: merchant_id.into(),
                name: name.into(),
                affiliated,
                active: true,
                created_at_ms: now,
            },
        )
        .await?;
        registry::update_merchant(&db, merchant_id, Some(affiliated), Some(true)).await?;
    }
    for (client_id, secret, merchant_id) in [
        (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_MERCHANT_ID),
        (
            UNAFFILIATED_CLIENT_ID,
            UNAFFILIATED_CLIENT_SECRET,
            UNAFFILIATED_MERCHANT_ID,
        ),
    ] {
        let (salt, hash) = hashed(&config, secret);
        registry::insert_client(
            &db,
            &NewClient {
                client_id,
                merchant_id,
                secret_salt: &salt,
                secret_hash: &hash,
                sandbox: true,
                scopes: "payments",
                read_only: true,
                now_ms: now,
            },
            true,
        )
        .await?;
    }
    let webhook_url = match origin {
        Some(origin) => format!("{origin}/api/v1/sandbox/webhook-receiver"),
        None => registry::webhook_endpoint(&db, DEMO_CLIENT_ID)
            .await?
            .map(|e| e.url)
            .unwrap_or_else(|| "http://127.0.0.1:8787/api/v1/sandbox/webhook-receiver".into()),
    };
    let sealed_secret = sealed::seal(
        &config.webhook_kek,
        platform::random_bytes(),
        DEMO_WEBHOOK_SECRET,
    );
    let events = webhook::validate_events(None).unwrap_or_default();
    registry::upsert_webhook_endpoint(
        &db,
        DEMO_CLIENT_ID,
        &webhook_url,
        &sealed_secret,
        &events,
        now,
    )
    .await?;
    for (wallet_id, cynod_client_id, name, pin) in DEMO_WALLETS {
        // The demo logins keep their tokens across a reseed (the daily sandbox reset).
        let guard = guard_key(&config.secret_pepper, wallet_id);
        let pin = hashed(&config, pin);
        registry::upsert_wallet(&db, wallet_id, cynod_client_id, name, &pin, false, &guard).await?;
    }
    Ok(webhook_url)
}
