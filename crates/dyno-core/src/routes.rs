//! The public route table and the path matcher. Invariant: this table is the single source of truth
//! for which routes exist; the Worker dispatches on it and the contract test compares it with
//! `docs/openapi.yaml`.

/// Which part of the system a route belongs to; decides the authentication it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// No authentication, not audited (health, contract).
    Public,
    /// The token and revocation endpoints: client credentials in the request (or, to revoke, a
    /// POS Bearer), audited.
    Token,
    /// POS Bearer token, one ClientGate round trip, audited.
    Pos,
    /// Employee wallet Bearer token, audited.
    Wallet,
    /// Operator admin key, audited.
    Admin,
}

/// Every route the Worker serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteName {
    Health,
    OpenApi,
    PosToken,
    PosRevoke,
    PosWhoami,
    PosPaymentScan,
    PosPaymentGet,
    PosPaymentList,
    PosPaymentStatus,
    PosPaymentInitiate,
    PosPaymentCancel,
    PosPaymentRefund,
    PosReconciliation,
    PosWebhookDeliveries,
    PosWebhookRedeliver,
    PosWebhookEndpoint,
    PosSetWebhookEndpoint,
    PosSandboxReceipts,
    WalletPaymentRequest,
    WalletPaymentConfirm,
    WalletPaymentCancel,
    SandboxWebhookReceiver,
    PosSandboxScan,
    PosSandboxConfirm,
    PosSandboxFail,
    PosSandboxCancel,
    WalletToken,
    WalletSignOut,
    WalletCards,
    WalletQr,
    PosCardBalance,
    PosCardValidity,
    AdminCreateMerchant,
    AdminGetMerchant,
    AdminUpdateMerchant,
    AdminCreateClient,
    AdminRotateSecret,
    AdminSetWebhook,
    AdminRevokeTokens,
    AdminAudit,
    AdminEnrollWallet,
    AdminDemoSeed,
    AdminCynodSim,
    AdminSandboxFaults,
    AdminSettlePayment,
    AdminHealth,
    WalletCardHistory,
    AdminWalletLockout,
    AdminUnlockWallet,
    AdminMemberCards,
    AdminCardCredit,
    AdminCardDebit,
    PosReportSummary,
}

/// Which of the gateway's two Workers answers a route. The front is deployed everywhere and is
/// the first code every POS call loads, so it holds only the payment calls a till makes in a sale
/// (and what they need: the token, `whoami`, the status poll); the back holds the Durable Objects,
/// the queue consumers and every other route, and the front forwards those to it. Keeping
/// CYNOD, reports, wallets and the operator API out of the front keeps its WASM small, which is
/// what a cold isolate pays for on the till's first call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Front,
    Back,
}

impl RouteName {
    /// Whether a successful call is audited as a count with the same caller's identical calls
    /// (`records::AuditTally`) rather than as its own entry: the reads a till repeats all day and
    /// that change nothing, its status poll (about once a second per open request) and `whoami`
    /// (its keep-alive and token check).
    pub const fn audited_as_count(self) -> bool {
        matches!(self, RouteName::PosPaymentStatus | RouteName::PosWhoami)
    }

    /// The Worker that answers this route (no wildcard: a new route needs a decision).
    pub const fn part(self) -> Part {
        use RouteName::*;
        match self {
            Health | OpenApi | PosToken | PosRevoke | PosWhoami | PosPaymentScan
            | PosPaymentGet | PosPaymentList | PosPaymentStatus | PosPaymentInitiate
            | PosPaymentCancel | PosPaymentRefund => Part::Front,
            PosReconciliation
            | PosReportSummary
            | PosWebhookDeliveries
            | PosWebhookRedeliver
            | PosWebhookEndpoint
            | PosSetWebhookEndpoint
            | PosSandboxReceipts
            | PosSandboxScan
            | PosSandboxConfirm
            | PosSandboxFail
            | PosSandboxCancel
            | PosCardBalance
            | PosCardValidity
            | SandboxWebhookReceiver
            | WalletToken
            | WalletSignOut
            | WalletCards
            | WalletQr
            | WalletPaymentRequest
            | WalletPaymentConfirm
            | WalletPaymentCancel
            | WalletCardHistory
            | AdminCreateMerchant
            | AdminGetMerchant
            | AdminUpdateMerchant
            | AdminCreateClient
            | AdminRotateSecret
            | AdminSetWebhook
            | AdminRevokeTokens
            | AdminAudit
            | AdminEnrollWallet
            | AdminDemoSeed
            | AdminCynodSim
            | AdminSandboxFaults
            | AdminSettlePayment
            | AdminHealth
            | AdminWalletLockout
            | AdminUnlockWallet
            | AdminMemberCards
            | AdminCardCredit
            | AdminCardDebit => Part::Back,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RouteDef {
    pub method: &'static str,
    /// Path with `{param}` segments, exactly as written in the OpenAPI document.
    pub pattern: &'static str,
    pub name: RouteName,
    pub audience: Audience,
    /// The OAuth scope a POS token needs for this route.
    pub scope: Option<&'static str>,
}

const fn route(
    method: &'static str,
    pattern: &'static str,
    name: RouteName,
    audience: Audience,
) -> RouteDef {
    RouteDef {
        method,
        pattern,
        name,
        audience,
        scope: match audience {
            Audience::Pos => Some("payments"),
            _ => None,
        },
    }
}

/// One line per route, kept unformatted so the table reads as a table.
#[rustfmt::skip]
pub const ROUTES: &[RouteDef] = &[
    route("GET", "/healthz", RouteName::Health, Audience::Public),
    route("GET", "/openapi.json", RouteName::OpenApi, Audience::Public),
    route("POST", "/api/v1/pos/oauth/token", RouteName::PosToken, Audience::Token),
    route("POST", "/api/v1/pos/oauth/revoke", RouteName::PosRevoke, Audience::Token),
    route("GET", "/api/v1/pos/whoami", RouteName::PosWhoami, Audience::Pos),
    route("POST", "/api/v1/pos/payments/scan", RouteName::PosPaymentScan, Audience::Pos),
    route("GET", "/api/v1/pos/payments", RouteName::PosPaymentList, Audience::Pos),
    route("GET", "/api/v1/pos/payments/{id}", RouteName::PosPaymentGet, Audience::Pos),
    route("POST", "/api/v1/pos/payments/initiate", RouteName::PosPaymentInitiate, Audience::Pos),
    route("GET", "/api/v1/pos/payments/{id}/status", RouteName::PosPaymentStatus, Audience::Pos),
    route("POST", "/api/v1/pos/payments/{id}/cancel", RouteName::PosPaymentCancel, Audience::Pos),
    route("POST", "/api/v1/pos/payments/{id}/refunds", RouteName::PosPaymentRefund, Audience::Pos),
    route("GET", "/api/v1/pos/reports/reconciliation", RouteName::PosReconciliation, Audience::Pos),
    route("GET", "/api/v1/pos/webhooks/deliveries", RouteName::PosWebhookDeliveries, Audience::Pos),
    route("POST", "/api/v1/pos/webhooks/deliveries/{delivery_id}/redeliver", RouteName::PosWebhookRedeliver, Audience::Pos),
    route("GET", "/api/v1/pos/webhooks/endpoint", RouteName::PosWebhookEndpoint, Audience::Pos),
    route("PUT", "/api/v1/pos/webhooks/endpoint", RouteName::PosSetWebhookEndpoint, Audience::Pos),
    route("GET", "/api/v1/pos/sandbox/webhook-receipts", RouteName::PosSandboxReceipts, Audience::Pos),
    route("GET", "/api/v1/wallet/payment-requests/{id}", RouteName::WalletPaymentRequest, Audience::Wallet),
    route("POST", "/api/v1/wallet/payment-requests/{id}/confirm", RouteName::WalletPaymentConfirm, Audience::Wallet),
    route("POST", "/api/v1/wallet/payment-requests/{id}/cancel", RouteName::WalletPaymentCancel, Audience::Wallet),
    route("POST", "/api/v1/sandbox/webhook-receiver", RouteName::SandboxWebhookReceiver, Audience::Public),
    route("POST", "/api/v1/pos/sandbox/payment-requests/{id}/scan", RouteName::PosSandboxScan, Audience::Pos),
    route("POST", "/api/v1/pos/sandbox/payment-requests/{id}/confirm", RouteName::PosSandboxConfirm, Audience::Pos),
    route("POST", "/api/v1/pos/sandbox/payment-requests/{id}/fail", RouteName::PosSandboxFail, Audience::Pos),
    route("POST", "/api/v1/pos/sandbox/payment-requests/{id}/cancel", RouteName::PosSandboxCancel, Audience::Pos),
    route("POST", "/api/v1/wallet/oauth/token", RouteName::WalletToken, Audience::Token),
        route("POST", "/api/v1/wallet/oauth/revoke", RouteName::WalletSignOut, Audience::Wallet),
    route("GET", "/api/v1/wallet/cards", RouteName::WalletCards, Audience::Wallet),
    route("POST", "/api/v1/wallet/qr", RouteName::WalletQr, Audience::Wallet),
    route("GET", "/api/v1/pos/cards/balance", RouteName::PosCardBalance, Audience::Pos),
    route("GET", "/api/v1/pos/cards/validity", RouteName::PosCardValidity, Audience::Pos),
    route("POST", "/api/v1/admin/merchants", RouteName::AdminCreateMerchant, Audience::Admin),
    route("GET", "/api/v1/admin/merchants/{merchant_id}", RouteName::AdminGetMerchant, Audience::Admin),
    route("PATCH", "/api/v1/admin/merchants/{merchant_id}", RouteName::AdminUpdateMerchant, Audience::Admin),
    route("POST", "/api/v1/admin/clients", RouteName::AdminCreateClient, Audience::Admin),
    route("POST", "/api/v1/admin/clients/{client_id}/rotate-secret", RouteName::AdminRotateSecret, Audience::Admin),
    route("PUT", "/api/v1/admin/clients/{client_id}/webhook", RouteName::AdminSetWebhook, Audience::Admin),
    route("POST", "/api/v1/admin/clients/{client_id}/revoke-tokens", RouteName::AdminRevokeTokens, Audience::Admin),
    route("GET", "/api/v1/admin/audit", RouteName::AdminAudit, Audience::Admin),
    route("PUT", "/api/v1/admin/wallets/{wallet_id}", RouteName::AdminEnrollWallet, Audience::Admin),
    route("POST", "/api/v1/admin/demo/seed", RouteName::AdminDemoSeed, Audience::Admin),
    route("GET", "/api/v1/admin/cynod-sim/ledger", RouteName::AdminCynodSim, Audience::Admin),
    route("GET", "/api/v1/admin/cynod-sim/stats", RouteName::AdminCynodSim, Audience::Admin),
    route("POST", "/api/v1/admin/cynod-sim/cards", RouteName::AdminCynodSim, Audience::Admin),
    route("GET", "/api/v1/admin/cynod-sim/cards/{card_number}", RouteName::AdminCynodSim, Audience::Admin),
    route("POST", "/api/v1/admin/cynod-sim/faults", RouteName::AdminCynodSim, Audience::Admin),
    route("DELETE", "/api/v1/admin/cynod-sim/faults", RouteName::AdminCynodSim, Audience::Admin),
    route("POST", "/api/v1/admin/cynod-sim/revoke-tokens", RouteName::AdminCynodSim, Audience::Admin),
    route("POST", "/api/v1/admin/cynod-sim/reset", RouteName::AdminCynodSim, Audience::Admin),
    route("POST", "/api/v1/admin/sandbox/faults", RouteName::AdminSandboxFaults, Audience::Admin),
    route("POST", "/api/v1/admin/payments/{payment_id}/settle", RouteName::AdminSettlePayment, Audience::Admin),
    route("GET", "/api/v1/admin/health", RouteName::AdminHealth, Audience::Admin),
    route("GET", "/api/v1/admin/cynod-sim/mode", RouteName::AdminCynodSim, Audience::Admin),
    route("POST", "/api/v1/admin/cynod-sim/mode", RouteName::AdminCynodSim, Audience::Admin),
    route("GET", "/api/v1/wallet/cards/{card_number}/history", RouteName::WalletCardHistory, Audience::Wallet),
    route("GET", "/api/v1/admin/wallets/{wallet_id}/pin-lockout", RouteName::AdminWalletLockout, Audience::Admin),
    route("POST", "/api/v1/admin/wallets/{wallet_id}/unlock", RouteName::AdminUnlockWallet, Audience::Admin),
    route("GET", "/api/v1/admin/members/{client_id}/cards", RouteName::AdminMemberCards, Audience::Admin),
    route("POST", "/api/v1/admin/cards/{card_number}/credit", RouteName::AdminCardCredit, Audience::Admin),
    route("POST", "/api/v1/admin/cards/{card_number}/debit", RouteName::AdminCardDebit, Audience::Admin),
    route("GET", "/api/v1/pos/reports/summary", RouteName::PosReportSummary, Audience::Pos),
];

/// A matched route with its path parameters, in pattern order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub def_index: usize,
    pub params: Vec<(&'static str, String)>,
}

impl Matched {
    pub fn def(&self) -> &'static RouteDef {
        &ROUTES[self.def_index]
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Found(Matched),
    /// The path exists with other methods; the list feeds the `Allow` header.
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

/// Matches a request path (without query) against the table. Segments are matched as sent;
/// parameters must be non-empty and are percent-decoded (`%2B216…` → `+216…`); a parameter that
/// does not decode to UTF-8 matches nothing. A literal segment beats a parameter: the path
/// `/payments/initiate` is the initiate route only, never `/payments/{id}` with id `initiate`,
/// so `GET` on it is 405 with `Allow: POST`.
pub fn resolve(method: &str, path: &str) -> Resolution {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let candidates: Vec<(usize, Vec<(&'static str, String)>)> = ROUTES
        .iter()
        .enumerate()
        .filter_map(|(index, def)| match_pattern(def.pattern, path).map(|p| (index, p)))
        .collect();
    let Some(fewest_params) = candidates.iter().map(|(_, p)| p.len()).min() else {
        return Resolution::NotFound;
    };
    let mut allowed = Vec::new();
    for (index, params) in candidates {
        if params.len() != fewest_params {
            continue;
        }
        let def = &ROUTES[index];
        if def.method == method || (method == "HEAD" && def.method == "GET") {
            return Resolution::Found(Matched {
                def_index: index,
                params,
            });
        }
        allowed.push(def.method);
    }
    Resolution::MethodNotAllowed(allowed)
}

fn match_pattern(pattern: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let mut pattern_segments = pattern.split('/');
    let mut path_segments = path.split('/');
    let mut params = Vec::new();
    loop {
        match (pattern_segments.next(), path_segments.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(s)) => {
                if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    if s.is_empty() {
                        return None;
                    }
                    let decoded = percent_encoding::percent_decode_str(s).decode_utf8().ok()?;
                    params.push((name, decoded.into_owned()));
                } else if p != s {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reads_are_audited_as_counts() {
        let counted: Vec<&RouteDef> = ROUTES
            .iter()
            .filter(|d| d.name.audited_as_count())
            .collect();
        assert_eq!(counted.len(), 2);
        for def in counted {
            assert_eq!(def.method, "GET", "{:?} changes something", def.name);
            assert_eq!(def.audience, Audience::Pos);
        }
    }

    #[test]
    fn the_front_answers_a_sale_and_nothing_else() {
        let front: Vec<&RouteDef> = ROUTES
            .iter()
            .filter(|d| d.name.part() == Part::Front)
            .collect();
        // A till's sale: token, whoami, scan, initiate, the status poll, get, list, cancel, refund.
        for name in [
            RouteName::PosToken,
            RouteName::PosWhoami,
            RouteName::PosPaymentScan,
            RouteName::PosPaymentInitiate,
            RouteName::PosPaymentStatus,
            RouteName::PosPaymentRefund,
        ] {
            assert!(front.iter().any(|d| d.name == name), "{name:?}");
        }
        for def in &front {
            assert!(
                matches!(
                    def.audience,
                    Audience::Public | Audience::Token | Audience::Pos
                ),
                "{:?} is not a till's call",
                def.name
            );
            assert!(
                def.pattern.starts_with("/api/v1/pos/") || !def.pattern.starts_with("/api/"),
                "{}",
                def.pattern
            );
            assert!(
                !def.pattern.contains("/sandbox/")
                    && !def.pattern.contains("/cards/")
                    && !def.pattern.contains("/reports/")
                    && !def.pattern.contains("/webhooks/"),
                "{} reaches CYNOD or D1 reports: the back's",
                def.pattern
            );
        }
        // Operators and wallets are the back's.
        assert!(ROUTES
            .iter()
            .filter(|d| matches!(d.audience, Audience::Admin | Audience::Wallet))
            .all(|d| d.name.part() == Part::Back));
        assert_eq!(RouteName::WalletToken.part(), Part::Back);
    }

    #[test]
    fn resolves_static_routes_and_reports_methods() {
        assert!(
            matches!(resolve("GET", "/healthz"), Resolution::Found(m) if m.def().name == RouteName::Health)
        );
        assert!(matches!(resolve("HEAD", "/healthz/"), Resolution::Found(_)));
        assert_eq!(
            resolve("POST", "/healthz"),
            Resolution::MethodNotAllowed(vec!["GET"])
        );
        assert_eq!(resolve("GET", "/nope"), Resolution::NotFound);
    }

    #[test]
    fn literal_segments_beat_parameters() {
        assert!(matches!(
            resolve("POST", "/api/v1/pos/payments/initiate"),
            Resolution::Found(m) if m.def().name == RouteName::PosPaymentInitiate
        ));
        // Not GET /payments/{id} with id "initiate": 405, and Allow names only POST.
        assert_eq!(
            resolve("GET", "/api/v1/pos/payments/initiate"),
            Resolution::MethodNotAllowed(vec!["POST"])
        );
        assert!(matches!(
            resolve("GET", "/api/v1/pos/payments/3fa85f64-5717-4562-b3fc-2c963f66afa6"),
            Resolution::Found(m) if m.def().name == RouteName::PosPaymentGet
        ));
    }

    #[test]
    fn patterns_capture_parameters() {
        let params = match_pattern("/a/{id}/b", "/a/42/b").unwrap();
        assert_eq!(params, vec![("id", "42".to_string())]);
        assert!(match_pattern("/a/{id}/b", "/a//b").is_none());
        assert_eq!(
            match_pattern("/w/{id}", "/w/%2B21620000001").unwrap(),
            vec![("id", "+21620000001".to_string())]
        );
        assert!(match_pattern("/w/{id}", "/w/%FF").is_none());
        assert!(match_pattern("/a/{id}/b", "/a/42/b/c").is_none());
    }

    #[test]
    fn every_pattern_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.pattern == b.pattern),
                    "{} {}",
                    a.method,
                    a.pattern
                );
            }
        }
    }
}
