//! One outbound HTTP exchange bounded by an AbortSignal timeout: to CYNOD (the simulator's service
//! binding or HTTPS) and to merchants' webhook endpoints. Invariant: a timeout is reported as such, distinct from other failures,
//! because a write that timed out has an unknown outcome; and a redirect is never followed (its
//! 3xx is the answer), so a request only ever reaches the URL that was checked.

use wasm_bindgen::JsValue;
use worker::{Env, Fetch, Fetcher, Request};

use crate::config::{CynodConfig, CynodRoute};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// No complete answer within the timeout: the request may or may not have been applied.
    Timeout,
    /// The request could not be sent or the answer could not be read.
    Network(String),
}

/// A raw answer: HTTP status and body bytes.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub body: Vec<u8>,
}

pub struct OutgoingRequest<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub headers: Vec<(&'a str, String)>,
    pub body: Option<String>,
}

pub async fn send(
    env: &Env,
    config: &CynodConfig,
    request: OutgoingRequest<'_>,
) -> Result<RawReply, TransportError> {
    let (url, fetcher) = match &config.route {
        // The host is ignored by a service binding; it only has to be a valid URL.
        CynodRoute::ServiceBinding { binding } => (
            format!("https://cynod.internal{}", request.path_and_query),
            Some(
                env.service(binding)
                    .map_err(|e| TransportError::Network(e.to_string()))?,
            ),
        ),
        CynodRoute::Https { base_url } => (format!("{base_url}{}", request.path_and_query), None),
    };
    fetch_with_timeout(fetcher.as_ref(), &url, &request, config.timeout_ms).await
}

/// One HTTP exchange bounded by `timeout_ms`, through `fetcher` (a service binding) or the
/// public network. The body is read within the same deadline.
pub async fn fetch_with_timeout(
    fetcher: Option<&Fetcher>,
    url: &str,
    request: &OutgoingRequest<'_>,
    timeout_ms: u32,
) -> Result<RawReply, TransportError> {
    let signal = web_sys::AbortSignal::timeout_with_u32(timeout_ms);
    let init = web_sys::RequestInit::new();
    init.set_method(request.method);
    init.set_signal(Some(&signal));
    // A webhook endpoint answering 302 to an internal address must not get the signed body
    // delivered there: the 3xx comes back as the answer, which is not a 2xx, so the attempt fails.
    init.set_redirect(web_sys::RequestRedirect::Manual);
    let headers = web_sys::Headers::new().map_err(js_error)?;
    for (name, value) in &request.headers {
        headers.set(name, value).map_err(js_error)?;
    }
    init.set_headers(&headers);
    if let Some(body) = &request.body {
        init.set_body(&JsValue::from_str(body));
    }
    let raw = web_sys::Request::new_with_str_and_init(url, &init).map_err(js_error)?;
    let outgoing = Request::from(raw);
    let result = match fetcher {
        Some(fetcher) => fetcher.fetch_request(outgoing).await,
        None => Fetch::Request(outgoing).send().await,
    };
    let classify = |e: worker::Error| {
        if signal.aborted() {
            TransportError::Timeout
        } else {
            TransportError::Network(e.to_string())
        }
    };
    let mut response = result.map_err(classify)?;
    let status = response.status_code();
    let body = response.bytes().await.map_err(classify)?;
    Ok(RawReply { status, body })
}

fn js_error(e: JsValue) -> TransportError {
    TransportError::Network(format!("{e:?}"))
}
