//! The catalogue of API error codes: for each, the HTTP status, the stable English `code` and the
//! French title shown to people. Invariant: the seed's codes keep the seed's statuses (410, 413,
//! 404, 401, 429) and every other code is unambiguous with them.

use serde::{Deserialize, Serialize};

/// Every error the public API can answer with. The Worker renders these as RFC 9457 problem+json.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    // The seed's own codes.
    QrExpired,
    InsufficientFunds,
    MerchantNotFound,
    Unauthorized,
    RateLimited,
    // Request shape.
    InvalidRequest,
    InvalidJson,
    UnsupportedMediaType,
    BodyTooLarge,
    InvalidAmount,
    InvalidQr,
    InvalidCardNumber,
    UnknownField,
    // Auth.
    InvalidToken,
    InsufficientScope,
    Forbidden,
    // Resources and state.
    NotFound,
    RouteNotFound,
    MethodNotAllowed,
    QrAlreadyUsed,
    AlreadyExists,
    DuplicatePosReference,
    ReferenceAlreadyUsed,
    InvalidState,
    IdempotencyKeyReused,
    IdempotencyKeyInProgress,
    IdempotencyKeyRequired,
    RefundExceedsPayment,
    AmountAboveQrLimit,
    CardNotFound,
    CardExpired,
    CardBlocked,
    InvalidPin,
    WalletLocked,
    CardNotPresented,
    DailyLimitExceeded,
    // Sandbox.
    SimulationNotAllowed,
    InvalidSimulation,
    ReadOnlyCredentials,
    // Upstream and platform.
    UpstreamError,
    UpstreamTimeout,
    ServiceUnavailable,
    InternalError,
    // Transport.
    HttpsRequired,
    /// A CYNOD write whose answer was lost and that no recovery call can settle: an operator must.
    OutcomeUnknown,
}

impl ErrorCode {
    /// Every code, in catalogue order (the OpenAPI contract test checks the document lists them).
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::QrExpired,
        ErrorCode::InsufficientFunds,
        ErrorCode::MerchantNotFound,
        ErrorCode::Unauthorized,
        ErrorCode::RateLimited,
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidJson,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::BodyTooLarge,
        ErrorCode::InvalidAmount,
        ErrorCode::InvalidQr,
        ErrorCode::InvalidCardNumber,
        ErrorCode::UnknownField,
        ErrorCode::InvalidToken,
        ErrorCode::InsufficientScope,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::RouteNotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::QrAlreadyUsed,
        ErrorCode::AlreadyExists,
        ErrorCode::DuplicatePosReference,
        ErrorCode::ReferenceAlreadyUsed,
        ErrorCode::InvalidState,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::IdempotencyKeyInProgress,
        ErrorCode::IdempotencyKeyRequired,
        ErrorCode::RefundExceedsPayment,
        ErrorCode::AmountAboveQrLimit,
        ErrorCode::CardNotFound,
        ErrorCode::CardExpired,
        ErrorCode::CardBlocked,
        ErrorCode::InvalidPin,
        ErrorCode::WalletLocked,
        ErrorCode::CardNotPresented,
        ErrorCode::DailyLimitExceeded,
        ErrorCode::SimulationNotAllowed,
        ErrorCode::InvalidSimulation,
        ErrorCode::ReadOnlyCredentials,
        ErrorCode::UpstreamError,
        ErrorCode::UpstreamTimeout,
        ErrorCode::ServiceUnavailable,
        ErrorCode::InternalError,
        ErrorCode::HttpsRequired,
        ErrorCode::OutcomeUnknown,
    ];

    pub const fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            QrExpired => 410,
            InsufficientFunds => 413,
            MerchantNotFound | NotFound | RouteNotFound | CardNotFound => 404,
            Unauthorized | InvalidToken => 401,
            RateLimited => 429,
            InvalidRequest
            | InvalidJson
            | BodyTooLarge
            | InvalidAmount
            | InvalidQr
            | InvalidCardNumber
            | UnknownField
            | SimulationNotAllowed
            | InvalidSimulation
            | IdempotencyKeyRequired => 400,
            UnsupportedMediaType => 415,
            InsufficientScope | Forbidden | ReadOnlyCredentials | HttpsRequired
            | CardNotPresented => 403,
            MethodNotAllowed => 405,
            QrAlreadyUsed
            | AlreadyExists
            | DuplicatePosReference
            | ReferenceAlreadyUsed
            | InvalidState
            | IdempotencyKeyInProgress => 409,
            IdempotencyKeyReused | RefundExceedsPayment | AmountAboveQrLimit | InvalidPin
            | CardExpired | CardBlocked | DailyLimitExceeded => 422,
            WalletLocked => 423,
            UpstreamError | OutcomeUnknown => 502,
            UpstreamTimeout => 504,
            ServiceUnavailable => 503,
            InternalError => 500,
        }
    }

    /// The stable code string, as it appears in the `code` member.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            QrExpired => "QR_EXPIRED",
            InsufficientFunds => "INSUFFICIENT_FUNDS",
            MerchantNotFound => "MERCHANT_NOT_FOUND",
            Unauthorized => "UNAUTHORIZED",
            RateLimited => "RATE_LIMITED",
            InvalidRequest => "INVALID_REQUEST",
            InvalidJson => "INVALID_JSON",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            BodyTooLarge => "BODY_TOO_LARGE",
            InvalidAmount => "INVALID_AMOUNT",
            InvalidQr => "INVALID_QR",
            InvalidCardNumber => "INVALID_CARD_NUMBER",
            UnknownField => "UNKNOWN_FIELD",
            InvalidToken => "INVALID_TOKEN",
            InsufficientScope => "INSUFFICIENT_SCOPE",
            Forbidden => "FORBIDDEN",
            NotFound => "NOT_FOUND",
            RouteNotFound => "ROUTE_NOT_FOUND",
            MethodNotAllowed => "METHOD_NOT_ALLOWED",
            QrAlreadyUsed => "QR_ALREADY_USED",
            AlreadyExists => "ALREADY_EXISTS",
            DuplicatePosReference => "DUPLICATE_POS_REFERENCE",
            ReferenceAlreadyUsed => "REFERENCE_ALREADY_USED",
            InvalidState => "INVALID_STATE",
            IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            IdempotencyKeyInProgress => "IDEMPOTENCY_KEY_IN_PROGRESS",
            IdempotencyKeyRequired => "IDEMPOTENCY_KEY_REQUIRED",
            RefundExceedsPayment => "REFUND_EXCEEDS_PAYMENT",
            AmountAboveQrLimit => "AMOUNT_ABOVE_QR_LIMIT",
            CardNotFound => "CARD_NOT_FOUND",
            CardExpired => "CARD_EXPIRED",
            CardBlocked => "CARD_BLOCKED",
            InvalidPin => "INVALID_PIN",
            WalletLocked => "WALLET_LOCKED",
            CardNotPresented => "CARD_NOT_PRESENTED",
            DailyLimitExceeded => "DAILY_LIMIT_EXCEEDED",
            SimulationNotAllowed => "SIMULATION_NOT_ALLOWED",
            InvalidSimulation => "INVALID_SIMULATION",
            ReadOnlyCredentials => "READ_ONLY_CREDENTIALS",
            UpstreamError => "UPSTREAM_ERROR",
            UpstreamTimeout => "UPSTREAM_TIMEOUT",
            ServiceUnavailable => "SERVICE_UNAVAILABLE",
            InternalError => "INTERNAL_ERROR",
            HttpsRequired => "HTTPS_REQUIRED",
            OutcomeUnknown => "OUTCOME_UNKNOWN",
        }
    }

    /// Human title, in French as the product speaks to people.
    pub fn title(self) -> &'static str {
        use ErrorCode::*;
        match self {
            QrExpired => "QR code expiré",
            InsufficientFunds => "Solde insuffisant",
            MerchantNotFound => "Commerçant non affilié",
            Unauthorized => "Authentification requise",
            RateLimited => "Trop de requêtes",
            InvalidRequest => "Requête invalide",
            InvalidJson => "JSON invalide",
            UnsupportedMediaType => "Type de contenu non pris en charge",
            BodyTooLarge => "Corps de requête trop volumineux",
            InvalidAmount => "Montant invalide",
            InvalidQr => "QR code invalide",
            InvalidCardNumber => "Numéro de carte invalide",
            UnknownField => "Champ inconnu",
            InvalidToken => "Jeton invalide",
            InsufficientScope => "Autorisation insuffisante",
            Forbidden => "Accès refusé",
            NotFound => "Ressource introuvable",
            RouteNotFound => "Route inconnue",
            MethodNotAllowed => "Méthode non autorisée",
            QrAlreadyUsed => "QR code déjà utilisé",
            AlreadyExists => "Ressource déjà existante",
            DuplicatePosReference => "Référence de caisse déjà utilisée",
            ReferenceAlreadyUsed => "Référence déjà utilisée pour une autre opération",
            InvalidState => "Opération impossible dans l'état actuel",
            IdempotencyKeyReused => "Clé d'idempotence réutilisée avec un autre contenu",
            IdempotencyKeyInProgress => "Requête identique en cours de traitement",
            IdempotencyKeyRequired => "En-tête Idempotency-Key requis",
            RefundExceedsPayment => "Le remboursement dépasse le montant payé",
            AmountAboveQrLimit => "Montant au-dessus du plafond du QR code",
            CardNotFound => "Carte introuvable",
            CardExpired => "Carte expirée",
            CardBlocked => "Carte bloquée",
            InvalidPin => "Code PIN incorrect",
            WalletLocked => "Wallet temporairement verrouillé",
            CardNotPresented => "Carte non présentée",
            DailyLimitExceeded => "Plafond journalier atteint",
            SimulationNotAllowed => "Simulation non autorisée",
            InvalidSimulation => "Scénario de simulation inconnu",
            ReadOnlyCredentials => "Identifiants de démonstration en lecture seule",
            UpstreamError => "Erreur du système de cartes",
            UpstreamTimeout => "Le système de cartes ne répond pas",
            ServiceUnavailable => "Service indisponible",
            InternalError => "Erreur interne",
            HttpsRequired => "HTTPS obligatoire",
            OutcomeUnknown => "Issue du mouvement inconnue",
        }
    }

    /// The `type` URI of the problem document; stable and resolvable in the docs.
    pub fn type_uri(self) -> String {
        format!(
            "https://docs.dyno-motiva.com/errors/{}",
            self.as_str().to_ascii_lowercase().replace('_', "-")
        )
    }
}

/// An API failure with the detail a client needs. The Worker maps it to HTTP in one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub code: ErrorCode,
    pub detail: String,
}

impl Problem {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

impl std::error::Error for Problem {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_codes_keep_seed_statuses() {
        assert_eq!(ErrorCode::QrExpired.status(), 410);
        assert_eq!(ErrorCode::InsufficientFunds.status(), 413);
        assert_eq!(ErrorCode::MerchantNotFound.status(), 404);
        assert_eq!(ErrorCode::Unauthorized.status(), 401);
        assert_eq!(ErrorCode::RateLimited.status(), 429);
    }

    #[test]
    fn oversize_body_is_not_confused_with_insufficient_funds() {
        assert_eq!(ErrorCode::BodyTooLarge.status(), 400);
    }

    #[test]
    fn serialised_code_matches_as_str() {
        for code in [
            ErrorCode::QrExpired,
            ErrorCode::IdempotencyKeyInProgress,
            ErrorCode::InvalidQr,
        ] {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
    }
}
