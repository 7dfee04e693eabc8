//! POS routes that are not payments: `GET /api/v1/pos/whoami`, the token introspection an
//! integrator uses to check its setup. Invariant: it reveals only the caller's own identity.

use serde::Serialize;
use worker::Response;

use crate::auth::PosPrincipal;
use crate::error::AppResult;
use crate::http::json_response;

#[derive(Serialize)]
struct Whoami<'a> {
    client_id: &'a str,
    merchant_id: &'a str,
    merchant_name: &'a str,
    scope: &'a str,
    sandbox: bool,
    token_expires_at: String,
}

pub fn whoami(principal: &PosPrincipal) -> AppResult<Response> {
    json_response(
        200,
        &Whoami {
            client_id: principal.client_id(),
            merchant_id: &principal.profile.merchant_id,
            merchant_name: &principal.profile.merchant_name,
            scope: &principal.claims().scope,
            sandbox: principal.claims().sandbox,
            token_expires_at: principal.token.expires_at.to_rfc3339(),
        },
    )
}
