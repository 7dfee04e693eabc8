//! Sandbox and production side by side, each in its own `wrangler dev` with its own storage:
//! a token of one environment is refused by the other (the issuers differ, even with the same
//! local key ring), so a sandbox token never reaches production data, and a production token
//! cannot ask for a simulation.

use dyno_client::{AdminClient, Auth, Millimes, ProblemDocument, RawRequest};
use dyno_e2e::{dev_var, repo_root, Stack};

fn problem_code(response: &dyno_client::RawResponse) -> String {
    response
        .json::<ProblemDocument>()
        .map(|p| p.code)
        .unwrap_or_else(|_| response.text())
}

#[test]
fn tokens_never_cross_environments() {
    let sandbox = Stack::shared();
    let (_production_process, production) = Stack::start_production_gateway();
    let production_admin =
        AdminClient::new(production.clone(), dev_var(&repo_root(), "ADMIN_API_KEY"));

    // Production data: a production merchant and client, with a production token.
    let (_, created) = production_admin
        .onboard("Production cafeteria", None)
        .expect("onboard in production");
    assert!(
        !created.sandbox,
        "clients created in production are not sandbox clients"
    );
    let production_token = production
        .token(&created.client_id, &created.client_secret)
        .expect("production token")
        .access_token;
    let page = production
        .list_payments(&production_token, &[])
        .expect("production token reads production data");
    assert!(page.data.is_empty());

    // A sandbox token, with a real sandbox payment behind it.
    let pos = sandbox.onboard("Sandbox cafeteria", None);
    let employee = sandbox.new_employee(10_000);
    let paid = pos
        .client
        .scan(
            &pos.token.access_token,
            &employee.qr(sandbox, None),
            Millimes(1_000),
            "ENV-1",
        )
        .expect("sandbox scan");

    // The sandbox token on production routes: refused before any data is looked at.
    for path in [
        "/api/v1/pos/whoami".to_string(),
        "/api/v1/pos/payments".to_string(),
        format!("/api/v1/pos/payments/{}", paid.transaction_id),
    ] {
        let r = production
            .send(RawRequest::new("GET", &path).auth(Auth::Bearer(pos.token.access_token.clone())))
            .unwrap();
        assert_eq!(
            (r.status, problem_code(&r)),
            (401, "INVALID_TOKEN".to_string()),
            "sandbox token on production {path}"
        );
    }
    // And the sandbox client's credentials do not exist in production.
    let e = production
        .token(&pos.client_id, &pos.client_secret)
        .unwrap_err();
    assert_eq!(e.status(), Some(401));

    // The production token on the sandbox: refused too, even for its own kind of route.
    let r = sandbox
        .client
        .send(
            RawRequest::new(
                "GET",
                format!("/api/v1/pos/payments/{}", paid.transaction_id),
            )
            .auth(Auth::Bearer(production_token.clone())),
        )
        .unwrap();
    assert_eq!(
        (r.status, problem_code(&r)),
        (401, "INVALID_TOKEN".to_string())
    );

    // A production token may not ask for a simulation: 400, and nothing is created.
    let r = production
        .send(
            RawRequest::new("POST", "/api/v1/pos/payments/initiate")
                .auth(Auth::Bearer(production_token.clone()))
                .header("X-Dyno-Simulate", "success")
                .body(
                    "application/json",
                    br#"{"amount":1.000,"pos_reference":"PROD-SIM-1","channel":"qr"}"#.to_vec(),
                ),
        )
        .unwrap();
    assert_eq!(
        (r.status, problem_code(&r)),
        (400, "SIMULATION_NOT_ALLOWED".to_string())
    );
    let lookup = production
        .payment_by_reference(&production_token, "PROD-SIM-1")
        .unwrap_err();
    assert_eq!(
        lookup.status(),
        Some(404),
        "the refused simulation created nothing"
    );
}
