//! The sandbox's daily reset, by invoking the scheduled handler: the day's activity goes, the
//! simulator's demo cards get their balances back, and the demo credentials keep working. Its own
//! stack, because the reset wipes sandbox data for everyone.

use dyno_client::Millimes;
use dyno_e2e::Stack;

#[test]
fn the_daily_reset_restores_demo_balances_and_keeps_demo_credentials_working() {
    let stack = Stack::shared();
    let client = stack.fresh_client();
    let token = client
        .token("pos_sandbox_demo", "sandbox_secret_demo")
        .unwrap()
        .access_token;
    let wallet = client
        .wallet_login("+21620000001", "1234")
        .unwrap()
        .access_token;
    let qr = client
        .wallet_qr(&wallet, "7019800100009569", None)
        .unwrap()
        .qr_payload;
    client
        .scan(&token, &qr, Millimes(30_000), "RESET-1")
        .expect("a real demo payment");
    assert_eq!(stack.balance_of("7019800100009569"), 120_000);

    let reset = stack.run_daily_cron(None);
    assert_eq!(reset.status, 200, "{}", reset.text());
    assert_eq!(
        stack.balance_of("7019800100009569"),
        150_000,
        "demo card back to 150.000 TND"
    );
    let after = stack.fresh_client();
    let token = after
        .token("pos_sandbox_demo", "sandbox_secret_demo")
        .expect("demo credentials still work")
        .access_token;
    after.whoami(&token).expect("and their token works");
    after
        .wallet_login("+21620000001", "1234")
        .expect("demo wallet still works");
    let e = after.payment_by_reference(&token, "RESET-1").unwrap_err();
    assert_eq!(
        e.status(),
        Some(404),
        "yesterday's sandbox payments are forgotten"
    );
}
