//! The honesty check run before measuring a status poll: tokens that differ from a valid one in
//! exactly one way (signature, payload, expiry, audience, issuer, algorithm, key id), minted with
//! the gateway's own key ring. Invariant: a poll route, or the storage ceiling, that answers any of
//! them with anything but 401 is not measured, so no implementation can look fast by skipping
//! verification.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dyno_client::{Auth, DynoClient, RawRequest};
use dyno_core::auth::jwt::{AccessClaims, Audience, KeyRing, POS_TOKEN_TTL_SECONDS};
use dyno_core::time::Millis;

/// Mints POS access tokens like the gateway's, for the client of a genuine token.
pub struct Minter {
    ring: KeyRing,
    /// The same key id with another key: a forged signature.
    forger: KeyRing,
    /// An unknown key id with the right key.
    stranger: KeyRing,
    kid: String,
    pub issuer: String,
    subject: String,
}

fn now() -> Millis {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Millis(since_epoch.as_millis() as i64)
}

/// The claims of a token, read without verifying it.
fn claims_of(token: &str) -> Result<serde_json::Value, String> {
    let payload = token.split('.').nth(1).ok_or("token without payload")?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|e| format!("token payload: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("token claims: {e}"))
}

impl Minter {
    /// From the gateway's `JWT_KEYS` (`kid:hex,…`, the first signs) and one token it issued.
    pub fn new(jwt_keys: &str, genuine: &str) -> Result<Self, String> {
        let first = jwt_keys.split(',').next().unwrap_or_default().trim();
        let (kid, hex_key) = first.split_once(':').ok_or("JWT_KEYS: kid:hex expected")?;
        let other_key: String = hex_key
            .chars()
            .map(|c| if c == '0' { '1' } else { '0' })
            .collect();
        let parse = |text: String| KeyRing::parse(&text).map_err(|e| e.to_string());
        let claims = claims_of(genuine)?;
        let text = |name: &str| {
            claims[name]
                .as_str()
                .map(str::to_string)
                .ok_or(format!("genuine token without {name}"))
        };
        Ok(Self {
            ring: parse(format!("{kid}:{hex_key}"))?,
            forger: parse(format!("{kid}:{other_key}"))?,
            stranger: parse(format!("{kid}-unknown:{hex_key}"))?,
            kid: kid.to_string(),
            issuer: text("iss")?,
            subject: text("sub")?,
        })
    }

    fn claims(&self) -> AccessClaims {
        AccessClaims {
            iss: self.issuer.clone(),
            aud: Audience::Pos.as_str().into(),
            sub: self.subject.clone(),
            merchant_id: None,
            scope: "payments".into(),
            sandbox: true,
            jti: format!("bench-{}", now().0),
            gen: 0,
        }
    }

    fn valid(&self) -> String {
        self.ring.issue(self.claims(), now(), POS_TOKEN_TTL_SECONDS)
    }

    /// (what is wrong, token); `None` is no token at all.
    fn refused_tokens(&self) -> Vec<(&'static str, Option<String>)> {
        let claims = self.claims();
        let valid = self.valid();
        let parts: Vec<&str> = valid.split('.').collect();
        let mut tampered_claims = claims_of(&valid).unwrap_or_default();
        tampered_claims["sub"] = format!("{}-other", self.subject).into();
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(tampered_claims.to_string()),
            parts[2]
        );
        let none_header = serde_json::json!({ "alg": "none", "kid": self.kid, "typ": "JWT" });
        let alg_none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(none_header.to_string()),
            parts[1]
        );
        // Issued 61 minutes ago for an hour: expired a minute ago, past the 5 s leeway.
        let issued_61_minutes_ago = Millis(now().0 - 61 * 60_000);
        vec![
            ("no token", None),
            (
                "signed with another key",
                Some(
                    self.forger
                        .issue(claims.clone(), now(), POS_TOKEN_TTL_SECONDS),
                ),
            ),
            ("payload changed after signing", Some(tampered)),
            (
                "expired a minute ago",
                Some(
                    self.ring
                        .issue(claims.clone(), issued_61_minutes_ago, POS_TOKEN_TTL_SECONDS),
                ),
            ),
            (
                "wallet audience",
                Some(self.ring.issue(
                    AccessClaims {
                        aud: Audience::Wallet.as_str().into(),
                        ..claims.clone()
                    },
                    now(),
                    POS_TOKEN_TTL_SECONDS,
                )),
            ),
            (
                "other issuer",
                Some(self.ring.issue(
                    AccessClaims {
                        iss: "https://elsewhere.example".into(),
                        ..claims.clone()
                    },
                    now(),
                    POS_TOKEN_TTL_SECONDS,
                )),
            ),
            ("alg none", Some(alg_none)),
            (
                "unknown key id",
                Some(self.stranger.issue(claims, now(), POS_TOKEN_TTL_SECONDS)),
            ),
        ]
    }
}

/// One request's status and body.
fn call(
    client: &DynoClient,
    method: &'static str,
    path: &str,
    token: Option<String>,
) -> Result<(u16, String), String> {
    let mut request = RawRequest::new(method, path);
    if let Some(token) = token {
        request = request.auth(Auth::Bearer(token));
    }
    client
        .send(request)
        .map(|r| (r.status, r.text()))
        .map_err(|e| format!("{e:?}"))
}

/// The wrong answers to a set of requests, each with the status it must get.
#[derive(Default)]
struct Expectations {
    wrong: Vec<String>,
}

impl Expectations {
    /// Sends the request and notes a status other than `status`; returns the body when it matched.
    fn expect(
        &mut self,
        what: &str,
        (client, method, path): (&DynoClient, &'static str, &str),
        token: Option<String>,
        status: u16,
    ) -> Option<String> {
        match call(client, method, path, token) {
            Ok((s, body)) if s == status => return Some(body),
            Ok((s, _)) => self.wrong.push(format!(
                "{what}: {method} {path}: HTTP {s}, expected {status}"
            )),
            Err(e) => self.wrong.push(format!("{what}: {method} {path}: {e}")),
        }
        None
    }

    /// 200 to `genuine` and to a token minted here (so each refused token differs from an
    /// accepted one in one way only), 401 to every refused token. Returns the last accepted
    /// answer: what a write left stored.
    fn tokens(
        &mut self,
        route: (&DynoClient, &'static str, &str),
        genuine: &str,
        minter: &Minter,
    ) -> Option<String> {
        let genuine = self.expect("genuine token", route, Some(genuine.to_string()), 200);
        let minted = self.expect(
            "token minted by the bench",
            route,
            Some(minter.valid()),
            200,
        );
        for (what, token) in minter.refused_tokens() {
            self.expect(what, route, token, 401);
        }
        minted.or(genuine)
    }

    fn outcome(self, checked: String) -> Result<String, Vec<String>> {
        if self.wrong.is_empty() {
            Ok(checked)
        } else {
            Err(self.wrong)
        }
    }
}

fn refused_names(minter: &Minter) -> String {
    let names: Vec<&str> = minter
        .refused_tokens()
        .iter()
        .map(|(what, _)| *what)
        .collect();
    names.join(", ")
}

/// Checks that `client` answers the poll of `id` 200 with a genuine and a bench-minted token, 404
/// for an id it does not hold (so it does read its store), and 401 to every refused token.
/// Returns what it checked, or every wrong answer.
pub fn check_refusals(
    client: &DynoClient,
    id: &str,
    genuine: &str,
    minter: &Minter,
) -> Result<String, Vec<String>> {
    let path = format!("/api/v1/pos/payments/{id}/status");
    let unknown = dyno_core::ids::uuid_v4([0x5a; 16]);
    let unknown_path = format!("/api/v1/pos/payments/{unknown}/status");
    let mut checks = Expectations::default();
    checks.tokens((client, "GET", &path), genuine, minter);
    checks.expect(
        "unknown request id",
        (client, "GET", &unknown_path),
        Some(genuine.to_string()),
        404,
    );
    checks.outcome(format!(
        "200 for a genuine and a bench-minted token, 404 for an unknown id, 401 for {}",
        refused_names(minter)
    ))
}

/// The `id` of a payment the JS reference's ceilings answered.
pub fn payment_id(body: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()?
        .get("id")?
        .as_str()
        .map(str::to_string)
}

/// Checks both storage ceilings of the JS reference (`POST /bench/payments`, `POST
/// /bench/payments/{id}/debit`): 200 for a genuine and a bench-minted token, 401 to every refused
/// one, and each accepted call committed what it answered (read back with `GET
/// /bench/payments/{id}`). So neither can look fast by skipping the check or the write.
pub fn check_ceilings(
    client: &DynoClient,
    genuine: &str,
    minter: &Minter,
) -> Result<String, Vec<String>> {
    let mut checks = Expectations::default();
    let read_back = |checks: &mut Expectations, what: &str, id: &str, expected: &str| {
        let path = format!("/bench/payments/{id}");
        let stored = checks.expect(what, (client, "GET", &path), Some(genuine.to_string()), 200);
        if stored.is_some_and(|stored| stored != expected) {
            checks
                .wrong
                .push(format!("{what}: stored {path} differs from the answer"));
        }
    };
    let created = checks.tokens((client, "POST", "/bench/payments"), genuine, minter);
    match created
        .as_deref()
        .and_then(|body| payment_id(body).map(|id| (id, body)))
    {
        Some((id, body)) => {
            read_back(&mut checks, "created payment read back", &id, body);
            let path = format!("/bench/payments/{id}/debit");
            if let Some(debited) = checks.tokens((client, "POST", &path), genuine, minter) {
                read_back(&mut checks, "debited payment read back", &id, &debited);
            }
        }
        None => checks
            .wrong
            .push("POST /bench/payments: no payment id in the answer".into()),
    }
    checks.outcome(format!(
        "200 for a genuine and a bench-minted token, 401 for the {} refused ones, each write read back",
        minter.refused_tokens().len()
    ))
}
