//! The Rust reference of `make bench`: the JS reference's status poll (bench/js-reference) written
//! as a Rust Worker with the gateway's own libraries — the same HS256 check (`dyno_core`'s
//! `KeyRing`: kid, alg, iss, aud, exp; its claims are the gateway's, a little stricter than the
//! JS reference's) and one read from the caller's SQLite Durable Object over RPC, and nothing
//! else. It is built as the gateway is (workers-rs, `opt-level = "z"`, `wasm-opt -Oz`). Beside the JS reference, it tells what this work costs a Rust Worker on
//! workerd; beside the gateway's poll, what the gateway's own checks add.
//! Invariant: no status is read for a request whose token does not verify; every refusal is 401.
//! The bench checks that before measuring, so this reference cannot look fast by skipping work.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use dyno_core::auth::jwt::{Audience, KeyRing};
use dyno_core::time::Millis;
use js_sys::Promise;
use serde::Deserialize;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use worker::{
    durable_object, event, Context, Date, DurableObject, Env, Method, Request, Response, State,
};

/// One status store per POS client, as the gateway keeps one gate per client.
#[durable_object]
pub struct StatusStore {
    state: State,
}

impl DurableObject for StatusStore {
    fn new(state: State, _env: Env) -> Self {
        // A store that cannot create its table answers every read with an error, which the
        // bench counts.
        let _ = state.storage().sql().exec(
            "CREATE TABLE IF NOT EXISTS statuses (id TEXT PRIMARY KEY, body TEXT NOT NULL)",
            None,
        );
        Self { state }
    }

    async fn fetch(&self, _req: Request) -> worker::Result<Response> {
        Response::error("RPC only", 405)
    }
}

#[derive(Deserialize)]
struct Stored {
    body: String,
}

#[wasm_bindgen]
impl StatusStore {
    /// The stored status body of `id`, or null.
    #[wasm_bindgen(js_name = status)]
    pub fn status(&self, id: String) -> Result<Option<String>, JsValue> {
        let rows: Vec<Stored> = self
            .state
            .storage()
            .sql()
            .exec("SELECT body FROM statuses WHERE id = ?", vec![id.into()])
            .and_then(|c| c.to_array())
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        Ok(rows.into_iter().next().map(|r| r.body))
    }

    /// Stores `statuses` (the JSON of `{ id: body }`); the bench seeds them before measuring.
    #[wasm_bindgen(js_name = seed)]
    pub fn seed(&self, statuses: String) -> Result<u32, JsValue> {
        let statuses: HashMap<String, String> =
            serde_json::from_str(&statuses).map_err(|e| JsValue::from_str(&e.to_string()))?;
        let sql = self.state.storage().sql();
        for (id, body) in &statuses {
            sql.exec(
                "INSERT OR REPLACE INTO statuses (id, body) VALUES (?, ?)",
                vec![id.as_str().into(), body.as_str().into()],
            )
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        }
        Ok(statuses.len() as u32)
    }
}

#[wasm_bindgen]
extern "C" {
    /// A `StatusStore` stub seen through RPC.
    #[wasm_bindgen(extends = js_sys::Object)]
    type StoreRpc;

    #[wasm_bindgen(method, catch)]
    fn status(this: &StoreRpc, id: &str) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn seed(this: &StoreRpc, statuses: &str) -> Result<JsValue, JsValue>;
}

/// What verification needs, read from the environment once.
struct Verifier {
    ring: KeyRing,
    issuer: String,
}

thread_local! {
    /// Read once per isolate, as the gateway shares its parsed configuration (`Config::get`).
    static VERIFIER: RefCell<Option<Rc<Verifier>>> = const { RefCell::new(None) };
}

fn verifier(env: &Env) -> worker::Result<Rc<Verifier>> {
    if let Some(ready) = VERIFIER.with(|cell| cell.borrow().clone()) {
        return Ok(ready);
    }
    let ring = KeyRing::parse(&env.var("JWT_KEYS")?.to_string())
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    let ready = Rc::new(Verifier {
        ring,
        issuer: env.var("ISSUER")?.to_string(),
    });
    VERIFIER.with(|cell| *cell.borrow_mut() = Some(ready.clone()));
    Ok(ready)
}

fn problem(status: u16, code: &str, title: &str) -> worker::Result<Response> {
    let body = serde_json::json!({ "status": status, "code": code, "title": title });
    let mut response = Response::ok(body.to_string())?.with_status(status);
    response
        .headers_mut()
        .set("content-type", "application/problem+json")?;
    if status == 401 {
        response
            .headers_mut()
            .set("www-authenticate", "Bearer error=\"invalid_token\"")?;
    }
    Ok(response)
}

async fn settle(pending: Result<JsValue, JsValue>) -> worker::Result<JsValue> {
    let pending = pending.map_err(worker::Error::from)?;
    // An RPC result is a thenable, not a `Promise`: resolving it makes it one.
    JsFuture::from(Promise::resolve(&pending))
        .await
        .map_err(worker::Error::from)
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let header = req.headers().get("authorization")?.unwrap_or_default();
    let token = header.strip_prefix("Bearer ").unwrap_or_default();
    let now = Millis(Date::now().as_millis() as i64);
    let verifier = verifier(&env)?;
    let client = match verifier
        .ring
        .verify(token, &verifier.issuer, Audience::Pos, now)
    {
        Ok(verified) => verified.claims.sub,
        Err(_) => return problem(401, "INVALID_TOKEN", "Jeton invalide."),
    };
    let store: StoreRpc = env
        .durable_object("STATUSES")?
        .get_by_name(&client)?
        .into_rpc();
    let path = req.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method(), segments.as_slice()) {
        (Method::Get, ["api", "v1", "pos", "payments", id, "status"]) => {
            match settle(store.status(id)).await?.as_string() {
                Some(body) => {
                    let mut response = Response::ok(body)?;
                    response
                        .headers_mut()
                        .set("content-type", "application/json")?;
                    Ok(response)
                }
                None => problem(404, "NOT_FOUND", "Demande de paiement introuvable."),
            }
        }
        (Method::Put, ["bench", "statuses"]) => {
            let statuses = req.text().await?;
            let stored = settle(store.seed(&statuses)).await?;
            let stored = stored.as_f64().unwrap_or_default() as u64;
            Response::from_json(&serde_json::json!({ "stored": stored }))
        }
        _ => problem(404, "NOT_FOUND", "Route inconnue."),
    }
}
