//! `CynodLedger`: the simulator's one Durable Object. It authenticates partners, applies injected
//! faults, and serves every CYNOD endpoint from the SQLite ledger in [`crate::store`].
//! Invariant: a debit or credit is idempotent by its reference; a fenced reference can never be
//! used afterwards; balances never go negative.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use chrono::{NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use dyno_core::cynod::{
    is_valid_card_number, CynodCode, ErrorEnvelope, SuccessEnvelope, MAX_HISTORY_ITEMS,
};
use dyno_core::money::DecimalNumber;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{durable_object, Delay, DurableObject, Env, Request, Response, State};

use crate::format::{balance_date, validity_date};
use crate::mode::{ExpiredCards, SimAuth, SimMode, TokenFormat};
use crate::store::{Card, Movement, Operation, Store};

/// Lifetime of a simulator access token, unless `SIM_TOKEN_TTL_SECONDS` says otherwise.
const DEFAULT_TOKEN_TTL_SECONDS: i64 = 3600;

#[durable_object]
pub struct CynodLedger {
    /// Opened once per object instance: schema and demo seed run at start, not per request.
    store: Result<Store, String>,
    env: Env,
}

/// A failed call, rendered as the spec's error envelope.
struct Failure {
    code: CynodCode,
    message: String,
}

fn fail(code: CynodCode, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

fn missing(param: &str) -> Failure {
    // The spec's own wording, typo included.
    fail(
        CynodCode::InvalidParameter,
        format!("Paramètere {param} manquant ou invalide"),
    )
}

type Outcome = Result<(String, Value), Failure>;

fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

impl DurableObject for CynodLedger {
    fn new(state: State, env: Env) -> Self {
        Self {
            store: Store::open(state.storage().sql()),
            env,
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let store = match &self.store {
            Ok(store) => store,
            Err(e) => {
                return envelope_error(fail(CynodCode::SystemError, format!("Erreur système: {e}")))
            }
        };
        let url = req.url()?;
        let path = url.path().to_string();
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let method = req.method().to_string();
        let body = req.bytes().await.unwrap_or_default();

        if let Some(control) = path.strip_prefix("/__sim/") {
            if self.var("ENVIRONMENT").as_deref() == Some("production") {
                return envelope_error(fail(
                    CynodCode::Other(403),
                    "Contrôle du simulateur refusé en production",
                ));
            }
            return self.control(store, &method, control, &query, &body);
        }

        let mode = store.mode().unwrap_or_default();
        let endpoint = path.trim_start_matches('/').to_string();
        let _ = store.bump(&format!("calls:{endpoint}"));
        let fault = store.take_fault(&endpoint).unwrap_or(None);

        if let Some(fault) = &fault {
            if fault.apply_first == 0 {
                match fault.mode.as_str() {
                    "latency" | "hang" => {
                        Delay::from(Duration::from_millis(fault.latency_ms.max(0) as u64)).await
                    }
                    "status_500" | "status_503" | "malformed" => {
                        return self.faulty_reply(&fault.mode)
                    }
                    _ => {}
                }
            }
        }

        let token_call = endpoint == "oauth/token" && mode.auth == SimAuth::Oauth2;
        let outcome = if token_call {
            self.issue_token(store, &req, &body)
        } else if let Err(failure) = self.authenticate(store, &req, &mode) {
            Err(failure)
        } else {
            self.serve(store, &mode, &method, &endpoint, &query, &body)
        };

        if let Some(fault) = &fault {
            if fault.apply_first == 1 {
                match fault.mode.as_str() {
                    "latency" | "hang" => {
                        Delay::from(Duration::from_millis(fault.latency_ms.max(0) as u64)).await
                    }
                    "status_500" | "status_503" | "malformed" => {
                        return self.faulty_reply(&fault.mode)
                    }
                    _ => {}
                }
            }
        }
        match (
            outcome,
            token_call && mode.token_format == TokenFormat::Plain,
        ) {
            (outcome, true) => plain_token_reply(outcome),
            (Ok((message, data)), false) => envelope_ok(&message, data),
            (Err(failure), false) => envelope_error(failure),
        }
    }
}

/// A token answer without CYNOD's envelope: RFC 6749 §5.1, or §5.2 for a refusal.
fn plain_token_reply(outcome: Outcome) -> worker::Result<Response> {
    match outcome {
        Ok((_, data)) => Response::from_json(&data),
        Err(failure) => {
            let (status, error) = match failure.code {
                CynodCode::Unauthenticated => (401, "invalid_client"),
                _ => (400, "invalid_request"),
            };
            Ok(
                Response::from_json(
                    &json!({"error": error, "error_description": failure.message}),
                )?
                .with_status(status),
            )
        }
    }
}

impl CynodLedger {
    fn var(&self, name: &str) -> Option<String> {
        self.env.var(name).ok().map(|v| v.to_string())
    }

    fn consumer_credentials(&self) -> (String, String) {
        let read = |name: &str| {
            self.env
                .secret(name)
                .map(|s| s.to_string())
                .or_else(|_| self.env.var(name).map(|v| v.to_string()))
                .unwrap_or_default()
        };
        (read("CYNOD_CONSUMER_KEY"), read("CYNOD_CONSUMER_SECRET"))
    }

    fn faulty_reply(&self, mode: &str) -> worker::Result<Response> {
        match mode {
            "malformed" => {
                Ok(Response::ok("<html><body>502 Bad Gateway</body></html>")?.with_status(200))
            }
            "status_503" => Ok(Response::ok("Service Unavailable")?.with_status(503)),
            _ => envelope_error(fail(
                CynodCode::SystemError,
                "Erreur système, veuillez réessayer plus tard",
            )),
        }
    }

    /// Basic credentials, if the Authorization header carries them.
    fn basic_credentials(req: &Request) -> Option<(String, String)> {
        let header = req.headers().get("Authorization").ok().flatten()?;
        let encoded = header.strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (key, secret) = text.split_once(':')?;
        Some((key.to_string(), secret.to_string()))
    }

    fn credentials_match(&self, key: &str, secret: &str) -> bool {
        let (expected_key, expected_secret) = self.consumer_credentials();
        !expected_key.is_empty() && key == expected_key && secret == expected_secret
    }

    /// OAuth2 client credentials: consumer-key/secret in a form or JSON body, or Basic.
    fn issue_token(&self, store: &Store, req: &Request, body: &[u8]) -> Outcome {
        let mut fields: HashMap<String, String> =
            serde_urlencoded::from_bytes(body).unwrap_or_default();
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
            for (k, v) in map {
                if let Value::String(s) = v {
                    fields.insert(k, s);
                }
            }
        }
        let grant = fields
            .get("grant_type")
            .map(String::as_str)
            .unwrap_or("client_credentials");
        if grant != "client_credentials" {
            return Err(missing("grant_type"));
        }
        let pick = |names: &[&str]| names.iter().find_map(|n| fields.get(*n).cloned());
        let (key, secret) = match Self::basic_credentials(req) {
            Some(pair) => pair,
            None => (
                pick(&["client_id", "consumer_key", "consumer-key"])
                    .ok_or_else(|| missing("consumer-key"))?,
                pick(&["client_secret", "consumer_secret", "consumer-secret"])
                    .ok_or_else(|| missing("consumer-secret"))?,
            ),
        };
        if !self.credentials_match(&key, &secret) {
            return Err(fail(
                CynodCode::Unauthenticated,
                "Identifiants partenaire invalides",
            ));
        }
        let ttl = self
            .var("SIM_TOKEN_TTL_SECONDS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_TOKEN_TTL_SECONDS);
        let mut raw = [0u8; 24];
        getrandom::fill(&mut raw).map_err(|e| fail(CynodCode::SystemError, e.to_string()))?;
        let token = format!(
            "cyn_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        );
        store
            .insert_token(&token, now_ms() + ttl * 1000)
            .map_err(system)?;
        let _ = store.bump("tokens_issued");
        Ok((
            "Authentification réussie".into(),
            json!({"access_token": token, "token_type": "Bearer", "expires_in": ttl}),
        ))
    }

    fn authenticate(&self, store: &Store, req: &Request, mode: &SimMode) -> Result<(), Failure> {
        let basic = Self::basic_credentials(req);
        if basic.is_none() && mode.auth == SimAuth::Basic {
            return Err(fail(
                CynodCode::Unauthenticated,
                "Authentification Basic requise",
            ));
        }
        if let Some((key, secret)) = basic {
            return if self.credentials_match(&key, &secret) {
                Ok(())
            } else {
                Err(fail(
                    CynodCode::Unauthenticated,
                    "Identifiants partenaire invalides",
                ))
            };
        }
        let header = req
            .headers()
            .get("Authorization")
            .ok()
            .flatten()
            .unwrap_or_default();
        let token = header.strip_prefix("Bearer ").map(str::trim).unwrap_or("");
        if !token.is_empty() && store.token_valid(token, now_ms()).map_err(system)? {
            Ok(())
        } else {
            Err(fail(
                CynodCode::Unauthenticated,
                "Jeton d'accès invalide ou expiré",
            ))
        }
    }

    fn serve(
        &self,
        store: &Store,
        mode: &SimMode,
        method: &str,
        endpoint: &str,
        query: &HashMap<String, String>,
        body: &[u8],
    ) -> Outcome {
        match (method, endpoint) {
            ("GET", "get-solde-carte") => balance(store, mode, query),
            ("GET", "check-card-validity") => validity(store, mode, query, false),
            ("GET", "check-card-validity-membre") => validity(store, mode, query, true),
            ("GET", "get-cartes") => list_cards(store, mode, query),
            ("POST", "debiter-carte") => movement(store, mode, "DEBIT", body),
            ("POST", "crediter-carte") => movement(store, mode, "CREDIT", body),
            ("GET", "get-operation") if mode.recovery => {
                let reference = param(query, "reference")?;
                match store.operation(reference).map_err(system)? {
                    Some(op) => Ok((
                        "Opération trouvée".into(),
                        json!([operation_json(&op, mode)]),
                    )),
                    None => Err(fail(CynodCode::OperationNotFound, "Opération inexistante")),
                }
            }
            ("POST", "annuler-reference") if mode.recovery => fence(store, mode, body),
            ("GET", "get-operations-carte") => card_operations(store, mode, query),
            _ => Err(fail(
                CynodCode::Other(404),
                format!("Ressource inconnue: {method} /{endpoint}"),
            )),
        }
    }

    fn control(
        &self,
        store: &Store,
        method: &str,
        path: &str,
        query: &HashMap<String, String>,
        body: &[u8],
    ) -> worker::Result<Response> {
        let result: Result<Value, String> = match (method, path) {
            ("POST", "reset") => store.reset().map(|_| json!({"reset": true})),
            ("GET", "stats") => store
                .stats()
                .map(|s| Value::Object(s.into_iter().map(|(k, v)| (k, json!(v))).collect())),
            ("GET", "ledger") => {
                // A bound that does not parse is refused, never read as "no bound". SQLite gets
                // it through a JS number, so it is clamped to the exact range (±2^53 − 1 ms, far
                // beyond any stored instant): the answer is the same, without a lossy conversion.
                const EXACT: i64 = (1 << 53) - 1;
                let millis = |name: &str, absent: i64| -> Result<i64, String> {
                    query.get(name).map_or(Ok(absent), |v| {
                        v.parse::<i64>()
                            .map(|ms| ms.clamp(-EXACT, EXACT))
                            .map_err(|_| format!("{name}: entier (millisecondes) attendu"))
                    })
                };
                millis("since_ms", 0).and_then(|since| {
                    millis("until_ms", EXACT).and_then(|until| {
                        store
                            .operations(
                                query.get("numeroCarte").map(String::as_str),
                                query.get("commercant").map(String::as_str),
                                since,
                                until,
                            )
                            .map(|ops| json!(ops))
                    })
                })
            }
            ("POST", "cards") => serde_json::from_slice::<Card>(body)
                .map_err(|e| e.to_string())
                .and_then(|card| card.check().map(|_| card))
                .and_then(|card| match store.card(&card.numero)? {
                    Some(_) => Err(DUPLICATE_CARD.to_string()),
                    None => store.insert_card(&card).map(|_| json!(card)),
                }),
            ("POST", "faults") => {
                #[derive(Deserialize)]
                struct FaultSpec {
                    endpoint: String,
                    mode: String,
                    #[serde(default)]
                    latency_ms: i64,
                    #[serde(default)]
                    apply_first: bool,
                    #[serde(default = "one")]
                    count: i64,
                }
                fn one() -> i64 {
                    1
                }
                serde_json::from_slice::<FaultSpec>(body)
                    .map_err(|e| e.to_string())
                    .and_then(|f| {
                        store
                            .add_fault(&f.endpoint, &f.mode, f.latency_ms, f.apply_first, f.count)
                            .map(|_| json!({"armed": f.endpoint}))
                    })
            }
            ("DELETE", "faults") => store.clear_faults().map(|_| json!({"cleared": true})),
            ("POST", "revoke-tokens") => store.revoke_tokens().map(|_| json!({"revoked": true})),
            ("GET", "mode") => store.mode().map(|m| json!(m)),
            ("POST", "mode") => store
                .mode()
                .and_then(|current| current.patched(body))
                .and_then(|mode| store.set_mode(&mode).map(|_| json!(mode))),
            _ => {
                if let (Some(numero), "GET") = (path.strip_prefix("cards/"), method) {
                    store.card(numero).map(|c| json!(c))
                } else {
                    Err(format!("unknown control {method} {path}"))
                }
            }
        };
        match result {
            Ok(value) => Response::from_json(&value),
            Err(e) => {
                let status = if e == DUPLICATE_CARD { 409 } else { 400 };
                Ok(Response::from_json(&json!({"error": e}))?.with_status(status))
            }
        }
    }
}

/// The control error for a card number already in the ledger (409, not 400: the request was fine).
const DUPLICATE_CARD: &str = "cette carte existe déjà dans le registre du simulateur";

fn system(e: String) -> Failure {
    fail(CynodCode::SystemError, format!("Erreur système: {e}"))
}

fn param<'a>(query: &'a HashMap<String, String>, name: &str) -> Result<&'a str, Failure> {
    query
        .get(name)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing(name))
}

/// The card named by `numeroCarte`, checked against the optional `walletId` / `clientId`.
fn owned_card(store: &Store, query: &HashMap<String, String>) -> Result<Card, Failure> {
    let numero = param(query, "numeroCarte")?;
    if !is_valid_card_number(numero) {
        return Err(missing("numeroCarte"));
    }
    let card = store
        .card(numero)
        .map_err(system)?
        .ok_or_else(|| fail(CynodCode::UnknownCard, "Carte inexistante"))?;
    let wallet_mismatch = query
        .get("walletId")
        .is_some_and(|w| !w.is_empty() && *w != card.wallet_id);
    let client_mismatch = query
        .get("clientId")
        .is_some_and(|c| !c.is_empty() && *c != card.client_id);
    if wallet_mismatch || client_mismatch {
        return Err(fail(
            CynodCode::UnknownUser,
            "Utilisateur inexistant ou invalide",
        ));
    }
    Ok(card)
}

fn expiry(card: &Card) -> Result<NaiveDate, Failure> {
    NaiveDate::parse_from_str(&card.fin_validite, "%Y-%m-%d").map_err(|e| system(e.to_string()))
}

fn not_blocked(card: &Card) -> Result<(), Failure> {
    if card.statut != "ACTIVE" {
        return Err(fail(CynodCode::CardBlocked, "Carte bloquée"));
    }
    Ok(())
}

/// Past its validity date, as of today in CYNOD's zone.
fn not_expired(card: &Card, mode: &SimMode) -> Result<(), Failure> {
    let end = expiry(card)?;
    if mode.local_time(now_utc()).date_naive() > end {
        return Err(fail(
            CynodCode::CardExpired,
            format!("Carte expirée depuis le {}", validity_date(end)),
        ));
    }
    Ok(())
}

/// Functional errors for a card that cannot be used now.
fn usable(card: &Card, mode: &SimMode) -> Result<(), Failure> {
    not_blocked(card)?;
    not_expired(card, mode)
}

fn now_utc() -> chrono::DateTime<Utc> {
    Utc.timestamp_millis_opt(now_ms())
        .single()
        .unwrap_or_default()
}

/// `at` as this CYNOD writes a date-time: in its zone, without saying which.
fn local_date(mode: &SimMode, at: chrono::DateTime<Utc>) -> String {
    balance_date::<Tz>(mode.local_time(at))
}

fn balance(store: &Store, mode: &SimMode, query: &HashMap<String, String>) -> Outcome {
    let card = owned_card(store, query)?;
    let solde = mode.amount(card.solde_minor);
    Ok((
        format!(
            "Sauf omission* de notre part votre nouveau solde est de {} {} ",
            solde.get(),
            mode.currency_label()
        ),
        json!([{
            "numeroCarte": card.numero,
            "soldeOnline": solde,
            "dateSolde": local_date(mode, now_utc()),
            "typeWallet": card.wallet_type,
        }]),
    ))
}

fn validity(
    store: &Store,
    mode: &SimMode,
    query: &HashMap<String, String>,
    for_member: bool,
) -> Outcome {
    if for_member {
        param(query, "clientId")?;
    }
    let card = owned_card(store, query)?;
    not_blocked(&card)?;
    if mode.expired_cards == ExpiredCards::Refuse {
        not_expired(&card, mode)?;
    }
    let end = validity_date(expiry(&card)?);
    Ok((
        format!("Votre carte est valide et valable jusqu'au {end}"),
        json!([{
            "numeroCarte": card.numero,
            "finValidite": end,
            "nom": card.nom,
            "prenom": card.prenom,
            "email": card.email,
            "telephone": card.wallet_id,
            "numeroPiece": "",
            "dateNaissance": "",
            "typeWallet": card.wallet_type,
            "statut": card.statut,
        }]),
    ))
}

fn list_cards(store: &Store, mode: &SimMode, query: &HashMap<String, String>) -> Outcome {
    let wallet = query
        .get("walletId")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty());
    let client = query
        .get("clientId")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty());
    if wallet.is_none() && client.is_none() {
        return Err(missing("walletId"));
    }
    let cards = store.cards_of(wallet, client).map_err(system)?;
    if cards.is_empty() {
        return Err(fail(
            CynodCode::UnknownUser,
            "Utilisateur inexistant ou invalide",
        ));
    }
    let items: Vec<Value> = cards
        .iter()
        .map(|card| {
            json!({
                "numeroCarte": card.numero,
                "typeWallet": card.wallet_type,
                "finValidite": expiry(card).map(validity_date).unwrap_or_default(),
                "statut": card.statut,
                "soldeOnline": mode.amount(card.solde_minor),
                "walletId": card.wallet_id,
                "clientId": card.client_id,
            })
        })
        .collect();
    Ok((
        format!("{} carte(s) trouvée(s)", items.len()),
        Value::Array(items),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MovementRequest {
    numero_carte: Option<String>,
    montant: Option<DecimalNumber>,
    reference: Option<String>,
    wallet_id: Option<String>,
    client_id: Option<String>,
    commercant: Option<String>,
    libelle: Option<String>,
}

/// A debit or a credit, idempotent by reference.
fn movement(store: &Store, mode: &SimMode, sens: &str, body: &[u8]) -> Outcome {
    let request: MovementRequest = serde_json::from_slice(body)
        .map_err(|_| fail(CynodCode::InvalidParameter, "Corps de requête invalide"))?;
    let reference = request
        .reference
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty() && r.len() <= 128)
        .ok_or_else(|| missing("reference"))?;
    let montant = request
        .montant
        .as_ref()
        .and_then(|m| mode.read_amount(m))
        .ok_or_else(|| missing("montant"))?;
    let mut query = HashMap::new();
    query.insert(
        "numeroCarte".to_string(),
        request.numero_carte.clone().unwrap_or_default(),
    );
    if let Some(w) = &request.wallet_id {
        query.insert("walletId".to_string(), w.clone());
    }
    if let Some(c) = &request.client_id {
        query.insert("clientId".to_string(), c.clone());
    }
    let card = owned_card(store, &query)?;

    if let Some(existing) = store.operation(reference).map_err(system)? {
        let same = existing.statut == "EFFECTUEE"
            && existing.sens.as_deref() == Some(sens)
            && existing.numero.as_deref() == Some(card.numero.as_str())
            && existing.montant_minor == Some(montant);
        return if same {
            Ok((
                movement_message(mode, sens, montant),
                json!([operation_json(&existing, mode)]),
            ))
        } else {
            Err(fail(
                CynodCode::ReferenceConflict,
                format!("Référence {reference} déjà utilisée ou annulée"),
            ))
        };
    }
    usable(&card, mode)?;
    if sens == "DEBIT" && card.solde_minor < montant {
        return Err(fail(CynodCode::InsufficientBalance, "Solde insuffisant"));
    }
    let op = store
        .apply_movement(
            &card,
            &Movement {
                sens,
                montant_minor: montant,
                reference,
                commercant: request.commercant.as_deref(),
                libelle: request.libelle.as_deref(),
                now_ms: now_ms(),
            },
        )
        .map_err(system)?;
    Ok((
        movement_message(mode, sens, montant),
        json!([operation_json(&op, mode)]),
    ))
}

fn movement_message(mode: &SimMode, sens: &str, montant: i64) -> String {
    let verb = if sens == "DEBIT" {
        "débitée"
    } else {
        "créditée"
    };
    format!(
        "Votre carte a été {verb} de {} {}",
        mode.amount(montant).get(),
        mode.currency_label()
    )
}

/// A card's applied movements, newest first (`limite`, 1 to 200, default 50); the optional
/// `walletId` / `clientId` must be the card's holder.
fn card_operations(store: &Store, mode: &SimMode, query: &HashMap<String, String>) -> Outcome {
    let card = owned_card(store, query)?;
    let limite = match query.get("limite").map(|l| l.trim().parse::<u32>()) {
        None => 50,
        Some(Ok(l)) if (1..=MAX_HISTORY_ITEMS).contains(&l) => l,
        Some(_) => return Err(missing("limite")),
    };
    let operations = store
        .operations_of_card(&card.numero, limite)
        .map_err(system)?;
    Ok((
        format!("{} opération(s) trouvée(s)", operations.len()),
        Value::Array(
            operations
                .iter()
                .map(|op| operation_json(op, mode))
                .collect(),
        ),
    ))
}

/// Looks a reference up and, if no operation used it, fences it so none ever can.
fn fence(store: &Store, mode: &SimMode, body: &[u8]) -> Outcome {
    #[derive(Deserialize)]
    struct FenceRequest {
        reference: Option<String>,
    }
    let request: FenceRequest = serde_json::from_slice(body)
        .map_err(|_| fail(CynodCode::InvalidParameter, "Corps de requête invalide"))?;
    let reference = request
        .reference
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| missing("reference"))?;
    if let Some(existing) = store.operation(reference).map_err(system)? {
        return Ok((
            "Opération déjà enregistrée".into(),
            json!([operation_json(&existing, mode)]),
        ));
    }
    let fenced = Operation {
        reference: reference.to_string(),
        statut: "ANNULEE".into(),
        sens: None,
        numero: None,
        montant_minor: None,
        solde_apres_minor: None,
        commercant: None,
        libelle: None,
        created_at_ms: now_ms(),
    };
    store.insert_operation(&fenced).map_err(system)?;
    Ok((
        "Référence annulée: aucune opération ne pourra l'utiliser".into(),
        json!([operation_json(&fenced, mode)]),
    ))
}

fn operation_json(op: &Operation, mode: &SimMode) -> Value {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Wire<'a> {
        reference: &'a str,
        statut: &'a str,
        sens: Option<&'a str>,
        numero_carte: Option<&'a str>,
        montant: Option<Box<serde_json::value::RawValue>>,
        solde_online: Option<Box<serde_json::value::RawValue>>,
        commercant: Option<&'a str>,
        date_operation: String,
    }
    serde_json::to_value(Wire {
        reference: &op.reference,
        statut: &op.statut,
        sens: op.sens.as_deref(),
        numero_carte: op.numero.as_deref(),
        montant: op.montant_minor.map(|m| mode.amount(m)),
        solde_online: op.solde_apres_minor.map(|m| mode.amount(m)),
        commercant: op.commercant.as_deref(),
        date_operation: local_date(
            mode,
            Utc.timestamp_millis_opt(op.created_at_ms)
                .single()
                .unwrap_or_default(),
        ),
    })
    .unwrap_or(Value::Null)
}

fn envelope_ok(message: &str, data: Value) -> worker::Result<Response> {
    Response::from_json(&SuccessEnvelope {
        success: true,
        code: 200,
        message,
        data,
    })
}

fn envelope_error(failure: Failure) -> worker::Result<Response> {
    Ok(
        Response::from_json(&ErrorEnvelope::new(failure.code, &failure.message))?
            .with_status(failure.code.http_status()),
    )
}
