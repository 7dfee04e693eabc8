//! Webhooks: event bodies (the seed's `payment.confirmed` field for field), their signatures
//! (the seed's `X-Dyno-Webhook-Signature` and the Standard Webhooks headers), the retry schedule,
//! and the receiver URL policy. Invariant: a signature always covers the exact bytes sent, and in
//! production a webhook only ever goes to a public HTTPS host.

use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use url::{Host, Url};

use crate::auth::credentials::constant_time_eq;
use crate::money::{DecimalNumber, Minor};
use crate::payment::{CancelledBy, Flow, Payment, Status};
use crate::time::Millis;

type HmacSha256 = Hmac<Sha256>;

/// Retries after the first attempt (the seed: 2 s, 4 s, 8 s); then the dead-letter queue.
pub const RETRY_DELAYS_SECONDS: [u32; 3] = [2, 4, 8];
/// Each attempt gives up after this long.
pub const ATTEMPT_TIMEOUT_MS: u32 = 10_000;

/// The delay before retrying after failed attempt number `attempt` (1-based), or `None` when the
/// delivery must go to the dead-letter queue.
pub fn retry_delay(attempt: u32) -> Option<u32> {
    RETRY_DELAYS_SECONDS
        .get(attempt.checked_sub(1)? as usize)
        .copied()
}

/// Every event a webhook endpoint can receive; `payment.confirmed` (the seed's) by default, the
/// others only when the endpoint subscribes to them.
pub const EVENTS: &[&str] = &[
    "payment.confirmed",
    "payment.failed",
    "payment.expired",
    "payment.cancelled",
    "payment.refunded",
];
pub const DEFAULT_EVENTS: &[&str] = &["payment.confirmed"];

/// The events an endpoint asks for: known names, no duplicates, at least one; none given means
/// the default (the seed's `payment.confirmed`).
pub fn validate_events(events: Option<Vec<String>>) -> Result<Vec<String>, String> {
    let Some(mut events) = events else {
        return Ok(DEFAULT_EVENTS.iter().map(|e| e.to_string()).collect());
    };
    if let Some(unknown) = events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
        return Err(format!(
            "events: « {unknown} » inconnu; valeurs possibles: {}.",
            EVENTS.join(", ")
        ));
    }
    events.sort_by_key(|e| EVENTS.iter().position(|known| known == e));
    events.dedup();
    if events.is_empty() {
        return Err("events: au moins un événement.".into());
    }
    Ok(events)
}

/// Whether two URLs name the same host (a request's own webhook URL must stay on the host the
/// client registered, in production).
pub fn same_host(a: &str, b: &str) -> bool {
    let host = |u: &str| {
        Url::parse(u)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    };
    matches!((host(a), host(b)), (Some(x), Some(y)) if x == y)
}

/// Whether `event` is one an endpoint subscribed to `events` (none listed: the default).
pub fn subscribed(events: &[String], event: &str) -> bool {
    if events.is_empty() {
        DEFAULT_EVENTS.contains(&event)
    } else {
        events.iter().any(|e| e == event)
    }
}

/// A webhook body. Field order is the seed's; `payment.confirmed` is exactly the seed's eight
/// fields. The other events carry `transaction_id` only when money moved, and their own fields.
#[derive(Debug, Serialize)]
pub struct EventBody<'a> {
    pub event: &'a str,
    /// The PPM request (absent for an EPM payment, which has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<&'a str>,
    pub amount: DecimalNumber,
    pub currency: &'a str,
    pub status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<CancelledBy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunded_amount: Option<DecimalNumber>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_status: Option<&'a str>,
    pub pos_reference: &'a str,
    pub timestamp: String,
}

/// The event a PPM request's final status announces, with its body; `None` when the status is
/// not final or the payment has no order.
pub fn event_for(payment: &Payment, now: Millis) -> Option<(&'static str, String)> {
    if payment.flow != Flow::Ppm {
        return None;
    }
    let order = payment.order.as_ref()?;
    let (event, status) = match payment.status {
        Status::Succeeded => ("payment.confirmed", "succeeded"),
        Status::Failed => ("payment.failed", "failed"),
        Status::Expired => ("payment.expired", "expired"),
        Status::Cancelled => ("payment.cancelled", "cancelled"),
        _ => return None,
    };
    let paid = payment.status == Status::Succeeded;
    let body = EventBody {
        event,
        payment_request_id: Some(payment.id.as_str()),
        transaction_id: paid.then_some(order.transaction_id.as_str()),
        amount: order.amount.number(payment.currency),
        currency: payment.currency.code(),
        status,
        reason: (!paid)
            .then_some(payment.failure_reason.as_deref())
            .flatten(),
        cancelled_by: payment.cancelled_by,
        refunded_amount: None,
        refund_status: None,
        pos_reference: order.pos_reference.as_str(),
        timestamp: now.to_rfc3339(),
    };
    Some((event, serde_json::to_string(&body).ok()?))
}

/// `payment.refunded`: the refund's amount, the total refunded so far, and how much of the payment
/// went back.
pub fn refund_event(payment: &Payment, refund: Minor, now: Millis) -> Option<String> {
    let order = payment.order.as_ref()?;
    let body = EventBody {
        event: "payment.refunded",
        payment_request_id: (payment.flow == Flow::Ppm).then_some(payment.id.as_str()),
        transaction_id: Some(order.transaction_id.as_str()),
        amount: refund.number(payment.currency),
        currency: payment.currency.code(),
        status: "succeeded",
        reason: None,
        cancelled_by: None,
        refunded_amount: Some(payment.refunded().number(payment.currency)),
        refund_status: Some(payment.refund_status()),
        pos_reference: order.pos_reference.as_str(),
        timestamp: now.to_rfc3339(),
    };
    serde_json::to_string(&body).ok()
}

fn mac(secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// `X-Dyno-Webhook-Signature`: `sha256=` + hex HMAC-SHA256 of the raw body (the seed).
pub fn signature_header(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(secret, &[body])))
}

/// What a receiver does with the seed's header: recompute and compare in constant time.
pub fn verify_signature_header(secret: &[u8], body: &[u8], header: &str) -> bool {
    constant_time_eq(
        signature_header(secret, body).as_bytes(),
        header.trim().as_bytes(),
    )
}

/// Standard Webhooks `webhook-signature`: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`.
pub fn standard_signature(
    secret: &[u8],
    webhook_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> String {
    let signed = mac(
        secret,
        &[
            webhook_id.as_bytes(),
            b".",
            timestamp_secs.to_string().as_bytes(),
            b".",
            body,
        ],
    );
    format!("v1,{}", STANDARD.encode(signed))
}

/// Checks a merchant's webhook URL. Sandbox accepts `http` and local hosts so integrators (and the
/// tests) can receive on their own machine.
pub fn validate_webhook_url(text: &str, production: bool) -> Result<Url, String> {
    let text = text.trim();
    let url = Url::parse(text).map_err(|e| {
        if text.is_ascii() {
            format!("URL invalide: {e}")
        } else {
            // The IDNA backend is ASCII-only (see Cargo.toml): say how to write such a host.
            format!(
                "URL invalide: {e} (écrivez un nom de domaine international sous sa forme xn--)"
            )
        }
    })?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err("seuls http et https sont acceptés".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("l'URL ne doit pas contenir d'identifiants".into());
    }
    if url.fragment().is_some() {
        return Err("l'URL ne doit pas contenir de fragment".into());
    }
    if !production {
        return Ok(url);
    }
    if url.scheme() != "https" {
        return Err("https est obligatoire en production".into());
    }
    match url.host() {
        Some(Host::Ipv4(ip)) => refuse_private(IpAddr::V4(ip))?,
        Some(Host::Ipv6(ip)) => refuse_private(IpAddr::V6(ip))?,
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let internal = [
                "localhost",
                "local",
                "internal",
                "localdomain",
                "home.arpa",
                "lan",
            ];
            if internal
                .iter()
                .any(|s| name == *s || name.ends_with(&format!(".{s}")))
                || !name.contains('.')
            {
                return Err(format!("l'hôte {name} n'est pas public"));
            }
        }
        None => return Err("hôte manquant".into()),
    }
    Ok(url)
}

fn refuse_private(ip: IpAddr) -> Result<(), String> {
    let private = match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast() // 224.0.0.0/4
                || a == 100 && (64..128).contains(&b) // CGNAT 100.64/10
                || a == 198 && (b & 0xfe) == 18 // benchmarking 198.18/15
                || a >= 240 // reserved 240/4
                || a == 0
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast() // ff00::/8
                || (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (segments[0] & 0xffc0) == 0xfe80 // link local fe80::/10
                // NAT64 (64:ff9b::/96, and the local-use 64:ff9b:1::/48) and 6to4 (2002::/16)
                // reach IPv4 hosts through a translator, private ones included.
                || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
                || segments[..3] == [0x64, 0xff9b, 1]
                || segments[0] == 0x2002
                || v6.to_ipv4_mapped().is_some_and(|v4| refuse_private(IpAddr::V4(v4)).is_err())
        }
    };
    if private {
        Err(format!("l'adresse {ip} est privée ou locale"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn international_hosts_are_taken_in_their_ascii_form_only() {
        let refused = validate_webhook_url("https://café.example.tn/hooks", true).unwrap_err();
        assert!(refused.contains("xn--"), "{refused}");
        let url = validate_webhook_url("https://xn--caf-dma.example.tn/hooks", true).unwrap();
        assert_eq!(url.host_str(), Some("xn--caf-dma.example.tn"));
    }

    fn confirmed() -> Payment {
        crate::payment::fixtures::confirmed_ppm()
    }

    #[test]
    fn confirmed_body_is_the_seeds_field_for_field() {
        let at = Millis::parse_rfc3339("2026-06-05T10:30:47Z").unwrap();
        let (event, body) = event_for(&confirmed(), at).unwrap();
        assert_eq!(event, "payment.confirmed");
        assert_eq!(
            body,
            r#"{"event":"payment.confirmed","payment_request_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","transaction_id":"3fa85f64-5717-4562-b3fc-2c963f66afa6","amount":45.000,"currency":"TND","status":"succeeded","pos_reference":"CAISSE-01-SESS-007","timestamp":"2026-06-05T10:30:47Z"}"#
        );
    }

    #[test]
    fn events_without_money_carry_no_transaction_id() {
        let at = Millis::parse_rfc3339("2026-06-05T10:31:00Z").unwrap();
        let mut p = crate::payment::fixtures::session();
        p.cancel(CancelledBy::Pos, crate::payment::fixtures::t(5))
            .unwrap();
        let (event, body) = event_for(&p, at).unwrap();
        assert_eq!(event, "payment.cancelled");
        assert!(!body.contains("transaction_id"), "{body}");
        assert!(
            body.contains(r#""reason":"cancelled_by_pos","cancelled_by":"pos""#),
            "{body}"
        );
        let mut expired = crate::payment::fixtures::session();
        expired.expire_if_due(crate::payment::fixtures::t(61));
        let (event, body) = event_for(&expired, at).unwrap();
        assert_eq!(event, "payment.expired");
        assert!(!body.contains("transaction_id") && body.contains(r#""status":"expired""#));
    }

    #[test]
    fn an_epm_refund_names_no_payment_request() {
        let mut p = crate::payment::Payment::issue_epm(
            crate::payment::fixtures::id(crate::payment::fixtures::EPM_ID),
            crate::payment::fixtures::payer(),
            crate::payment::fixtures::t(0),
            crate::payment::fixtures::t(30),
            None,
        );
        p.begin_scan(
            crate::payment::fixtures::order("a", "R1", 10_000),
            crate::payment::fixtures::t(1),
        );
        p.succeed(
            crate::payment::fixtures::receipt(),
            crate::payment::fixtures::t(2),
        );
        let id = crate::ids::RefundId::for_key(&crate::payment::fixtures::client("a"), "k");
        p.begin_refund(
            &id,
            Some(Minor(4_000)),
            None,
            crate::payment::fixtures::t(3),
        )
        .unwrap();
        p.settle_refund(
            &id,
            crate::payment::RefundStatus::Succeeded,
            crate::payment::fixtures::t(4),
        );
        let body = refund_event(&p, Minor(4_000), crate::payment::fixtures::t(4)).unwrap();
        assert!(!body.contains("payment_request_id"), "{body}");
        assert!(body.contains(r#""transaction_id":"0b6f3f4e"#), "{body}");
        assert!(body.contains(r#""refunded_amount":4.000,"refund_status":"partially_refunded""#));
    }

    #[test]
    fn endpoints_get_the_confirmation_unless_they_subscribe_to_more() {
        assert!(subscribed(&[], "payment.confirmed"));
        assert!(!subscribed(&[], "payment.expired"));
        let all: Vec<String> = EVENTS.iter().map(|e| e.to_string()).collect();
        assert!(EVENTS.iter().all(|e| subscribed(&all, e)));
        assert!(!subscribed(&["payment.failed".into()], "payment.confirmed"));
    }

    #[test]
    fn signatures_cover_the_exact_body() {
        let body = br#"{"event":"payment.confirmed"}"#;
        let header = signature_header(b"whsec_unit_test_secret", body);
        assert!(header.starts_with("sha256=") && header.len() == 7 + 64);
        assert!(verify_signature_header(
            b"whsec_unit_test_secret",
            body,
            &header
        ));
        assert!(!verify_signature_header(
            b"whsec_unit_test_secret",
            br#"{"event":"payment.confirmed" }"#,
            &header
        ));
        assert!(!verify_signature_header(b"other", body, &header));
        let standard = standard_signature(b"k", "msg_1", 1_780_000_000, body);
        assert!(standard.starts_with("v1,"));
        assert_ne!(
            standard,
            standard_signature(b"k", "msg_2", 1_780_000_000, body)
        );
    }

    #[test]
    fn retries_follow_the_seed_schedule() {
        assert_eq!(
            (1..=4).map(retry_delay).collect::<Vec<_>>(),
            vec![Some(2), Some(4), Some(8), None]
        );
        assert_eq!(retry_delay(0), None);
    }

    #[test]
    fn production_requires_public_https() {
        assert!(validate_webhook_url("https://pos.example.tn/hooks/dyno", true).is_ok());
        for bad in [
            "http://pos.example.tn/hooks",
            "https://127.0.0.1/hooks",
            "https://10.1.2.3/hooks",
            "https://192.168.1.10/hooks",
            "https://169.254.169.254/latest",
            "https://[::1]/hooks",
            "https://[fd00::1]/hooks",
            "https://[::ffff:10.0.0.1]/hooks",
            "https://localhost/hooks",
            "https://api.internal/hooks",
            "https://printer.local/hooks",
            "https://intranet/hooks",
            "https://user:pw@pos.example.tn/hooks",
            "ftp://pos.example.tn/",
            "not a url",
        ] {
            assert!(validate_webhook_url(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn translated_multicast_benchmark_and_reserved_ranges_are_refused() {
        for bad in [
            "https://[64:ff9b::a00:1]/hooks",   // NAT64 of 10.0.0.1
            "https://[64:ff9b::808:808]/hooks", // NAT64, even of a public address
            "https://[64:ff9b:1::1]/hooks",     // local-use NAT64
            "https://[2002:a00:1::1]/hooks",    // 6to4 of 10.0.0.1
            "https://[2002:808:808::1]/hooks",  // 6to4, any
            "https://[ff02::1]/hooks",          // IPv6 multicast
            "https://[ff0e::1]/hooks",          // global-scope multicast
            "https://224.0.0.1/hooks",          // IPv4 multicast
            "https://239.255.255.250/hooks",    // SSDP
            "https://198.18.0.1/hooks",         // benchmarking 198.18/15
            "https://198.19.255.254/hooks",
            "https://240.0.0.1/hooks", // reserved 240/4
            "https://255.255.255.254/hooks",
            "https://[::ffff:198.18.0.1]/hooks", // mapped benchmarking
        ] {
            assert!(validate_webhook_url(bad, true).is_err(), "{bad}");
        }
        // Their neighbours stay public.
        for good in [
            "https://198.17.255.1/hooks",
            "https://198.20.0.1/hooks",
            "https://223.255.255.1/hooks",
            "https://[64:ff9a::1]/hooks",
            "https://[2001:db9::1]/hooks",
            "https://[2003::1]/hooks",
            "https://[2a00:1450::1]/hooks",
        ] {
            assert!(validate_webhook_url(good, true).is_ok(), "{good}");
        }
    }

    #[test]
    fn sandbox_allows_local_receivers() {
        assert!(validate_webhook_url("http://127.0.0.1:9999/hook", false).is_ok());
        assert!(validate_webhook_url("ftp://127.0.0.1/", false).is_err());
    }
}
