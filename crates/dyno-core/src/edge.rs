//! What the gateway checks on every request before any route runs: the transport (HTTPS only in
//! production) and the size of the body. Invariant: a request over plain http is never treated as
//! secure, and a body is never held beyond `MAX_BODY_BYTES`, whether or not it declared a length.

use crate::{ErrorCode, Problem};

/// Largest request body accepted anywhere (16 KiB). Payment requests are a few hundred bytes; the
/// OpenAPI document states the same figure, and a test holds them together.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// `Strict-Transport-Security` of production answers: two years, subdomains included. Browsers
/// ignore it over plain http (RFC 6797 §8.1), so it is sent on every production answer.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000; includeSubDomains";

/// Whether the visitor reached the gateway over plain http. The request URL's scheme is what
/// Cloudflare saw from the visitor. `X-Forwarded-Proto` and `CF-Visitor` are set by Cloudflare's
/// edge to the visitor's protocol (a client's own value is overwritten), and they can only mark a
/// request as plain http here, never make an `http:` URL count as secure: a forged header can at
/// worst get its own sender refused.
pub fn is_plain_http(
    url_scheme: &str,
    forwarded_proto: Option<&str>,
    cf_visitor: Option<&str>,
) -> bool {
    let forwarded_http = forwarded_proto
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("http"));
    let visitor_http = cf_visitor
        .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
        .and_then(|v| {
            v.get("scheme")?
                .as_str()
                .map(|s| s.eq_ignore_ascii_case("http"))
        })
        .unwrap_or(false);
    !url_scheme.eq_ignore_ascii_case("https") || forwarded_http || visitor_http
}

/// Whether the gateway itself answers `path`: the API and the liveness probe. Every other path
/// (the demo pages, `/openapi.json`) belongs to the demo site's assets, which the gateway reaches
/// through its `WWW` binding, so an API call never passes through an assets router first.
pub fn answered_by_gateway(path: &str) -> bool {
    path.starts_with("/api/") || path == "/healthz"
}

/// The answer to an `/api/*` request of production that came over plain http: 403
/// HTTPS_REQUIRED, never a redirect (its credentials already travelled in clear, and a redirect
/// would have the client send them again). `None` for anything else.
pub fn plain_http_refusal(
    production: bool,
    path: &str,
    url_scheme: &str,
    forwarded_proto: Option<&str>,
    cf_visitor: Option<&str>,
) -> Option<Problem> {
    (production
        && path.starts_with("/api/")
        && is_plain_http(url_scheme, forwarded_proto, cf_visitor))
    .then(|| {
        Problem::new(
            ErrorCode::HttpsRequired,
            "Cette API n'accepte que HTTPS: la requête n'a pas été traitée. Les identifiants \
             envoyés en clair doivent être considérés comme exposés: renouvelez-les.",
        )
    })
}

/// A base URL the production configuration depends on (`PUBLIC_BASE_URL`, `CYNOD_BASE_URL`):
/// an absolute `https` URL with a host and no credentials, query or fragment. Returns it without a
/// trailing slash, ready to have paths appended.
pub fn https_base_url(value: &str) -> Result<String, String> {
    let url = url::Url::parse(value.trim()).map_err(|e| format!("URL invalide ({e})"))?;
    if url.scheme() != "https" {
        return Err(format!("https obligatoire, pas {}", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("hôte manquant".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("pas d'identifiants dans l'URL".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("ni requête ni fragment".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// A base URL read from the configuration (`CYNOD_BASE_URL`, `PUBLIC_BASE_URL`): production
/// requires it, over https ([`https_base_url`]); elsewhere it is optional and any scheme serves
/// (local dev reaches the simulator through a binding, and links follow the request).
pub fn configured_base_url(
    value: Option<&str>,
    production: bool,
) -> Result<Option<String>, String> {
    match value {
        Some(url) if production => https_base_url(url).map(Some),
        Some(url) => Ok(Some(url.trim().trim_end_matches('/').to_string())),
        None if production => Err("requis en production (https)".into()),
        None => Ok(None),
    }
}

/// The body is over [`MAX_BODY_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTooLarge;

/// Whether a declared `Content-Length` may be read: absent (the body is then capped as it
/// streams), or a number within the limit. A value that is not a number is refused as well.
pub fn declared_length_fits(content_length: Option<&str>) -> Result<(), BodyTooLarge> {
    match content_length {
        None => Ok(()),
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if n <= MAX_BODY_BYTES => Ok(()),
            _ => Err(BodyTooLarge),
        },
    }
}

/// A body gathered chunk by chunk as it arrives, refused as soon as it passes the limit, so a
/// stream without `Content-Length` is never buffered beyond [`MAX_BODY_BYTES`].
#[derive(Debug, Default)]
pub struct CappedBody {
    bytes: Vec<u8>,
}

impl CappedBody {
    /// Adds the next chunk; past the limit nothing more is kept and the caller stops reading.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), BodyTooLarge> {
        if self.bytes.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyTooLarge);
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_answers_the_api_and_the_probe_and_the_demo_site_the_rest() {
        for path in ["/api/v1/pos/whoami", "/api/", "/healthz"] {
            assert!(answered_by_gateway(path), "{path}");
        }
        for path in [
            "/",
            "/pos",
            "/openapi.json",
            "/assets/app.css",
            "/api",
            "/apix/v1",
            "/healthz/",
        ] {
            assert!(!answered_by_gateway(path), "{path}");
        }
    }

    #[test]
    fn only_a_secure_url_without_a_plain_http_mark_is_https() {
        assert!(!is_plain_http("https", None, None));
        assert!(!is_plain_http(
            "https",
            Some("https"),
            Some(r#"{"scheme":"https"}"#)
        ));
        assert!(is_plain_http("http", None, None));
        // Headers can only tighten: an http URL stays plain whatever they claim.
        assert!(is_plain_http(
            "http",
            Some("https"),
            Some(r#"{"scheme":"https"}"#)
        ));
        // Cloudflare's marks of a plain-http visitor, in either header.
        assert!(is_plain_http("https", Some("http"), None));
        assert!(is_plain_http("https", Some(" HTTP , https"), None));
        assert!(is_plain_http("https", None, Some(r#"{"scheme":"http"}"#)));
        // Unreadable headers are ignored rather than trusted.
        assert!(!is_plain_http("https", Some(""), Some("not json")));
    }

    #[test]
    fn only_production_api_calls_over_plain_http_are_refused() {
        let refused = plain_http_refusal(true, "/api/v1/pos/oauth/token", "http", None, None);
        assert_eq!(refused.map(|p| p.code), Some(ErrorCode::HttpsRequired));
        assert!(plain_http_refusal(true, "/api/v1/x", "https", Some("http"), None).is_some());
        assert!(plain_http_refusal(true, "/api/v1/x", "https", None, None).is_none());
        // The sandbox, and what is not the API (liveness, pages), are left alone.
        assert!(plain_http_refusal(false, "/api/v1/x", "http", None, None).is_none());
        assert!(plain_http_refusal(true, "/healthz", "http", None, None).is_none());
        assert!(plain_http_refusal(true, "/wallet.html", "http", None, None).is_none());
    }

    #[test]
    fn production_base_urls_must_be_https() {
        assert_eq!(
            https_base_url("https://api.dyno-motiva.com/").as_deref(),
            Ok("https://api.dyno-motiva.com")
        );
        assert_eq!(
            https_base_url(" https://cynod.example/api/v1 ").as_deref(),
            Ok("https://cynod.example/api/v1")
        );
        for refused in [
            "http://api.dyno-motiva.com",
            "api.dyno-motiva.com",
            "https://user:pw@api.dyno-motiva.com",
            "https://api.dyno-motiva.com/?x=1",
            "https://api.dyno-motiva.com/#f",
            "ftp://api.dyno-motiva.com",
            "",
        ] {
            assert!(https_base_url(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn production_requires_its_base_urls_the_sandbox_does_not() {
        assert_eq!(
            configured_base_url(Some("https://cynod.example/"), true),
            Ok(Some("https://cynod.example".into()))
        );
        assert!(configured_base_url(Some("http://cynod.example"), true).is_err());
        assert!(configured_base_url(None, true).is_err());
        assert_eq!(
            configured_base_url(Some("http://127.0.0.1:8787/"), false),
            Ok(Some("http://127.0.0.1:8787".into()))
        );
        assert_eq!(configured_base_url(None, false), Ok(None));
    }

    #[test]
    fn declared_lengths_over_the_limit_or_unreadable_are_refused() {
        assert_eq!(declared_length_fits(None), Ok(()));
        assert_eq!(declared_length_fits(Some("0")), Ok(()));
        assert_eq!(
            declared_length_fits(Some(&MAX_BODY_BYTES.to_string())),
            Ok(())
        );
        assert_eq!(
            declared_length_fits(Some(&(MAX_BODY_BYTES + 1).to_string())),
            Err(BodyTooLarge)
        );
        assert_eq!(declared_length_fits(Some("12abc")), Err(BodyTooLarge));
        assert_eq!(declared_length_fits(Some("-1")), Err(BodyTooLarge));
    }

    #[test]
    fn a_streamed_body_stops_at_the_first_chunk_past_the_limit() {
        let mut body = CappedBody::default();
        let chunk = [b' '; 1000];
        let mut accepted = 0;
        while body.push(&chunk).is_ok() {
            accepted += 1;
        }
        assert_eq!(accepted, MAX_BODY_BYTES / 1000);
        // Exactly the limit is accepted; one byte more is not.
        let mut exact = CappedBody::default();
        assert_eq!(exact.push(&vec![b'x'; MAX_BODY_BYTES]), Ok(()));
        assert_eq!(exact.push(b"x"), Err(BodyTooLarge));
        assert_eq!(exact.into_bytes().len(), MAX_BODY_BYTES);
    }
}
