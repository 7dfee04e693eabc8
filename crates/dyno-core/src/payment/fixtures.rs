//! Test fixtures: payments, orders and payers as the machine's tests and other modules' tests
//! need them. Invariant: test-only; nothing here is compiled into the gateway.

use super::machine::Ctx;
use super::{Channel, Order, Payer, Payment, Receipt};
use crate::ids::{ClientId, PaymentId, PosReference, TransactionId};
use crate::money::Minor;
use crate::time::Millis;

pub const EPM_ID: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
pub const PPM_ID: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

pub fn t(secs: i64) -> Millis {
    Millis::from_secs(1_780_000_000 + secs)
}

pub fn ctx(secs: i64) -> Ctx {
    Ctx {
        now: t(secs),
        entropy: [7; 32],
    }
}

pub fn at_ms(ms: i64) -> Ctx {
    Ctx {
        now: Millis(t(0).0 + ms),
        entropy: [7; 32],
    }
}

pub fn client(name: &str) -> ClientId {
    ClientId::parse(name).expect("client id")
}

pub fn id(text: &str) -> PaymentId {
    PaymentId::parse(text).expect("payment id")
}

pub fn order(client_name: &str, reference: &str, amount: i64) -> Order {
    Order {
        client_id: client(client_name),
        merchant_id: "M".into(),
        merchant_name: "Merchant".into(),
        pos_reference: PosReference::parse(reference).expect("reference"),
        amount: Minor(amount),
        channel: Channel::Qr,
        transaction_id: TransactionId::parse("0b6f3f4e-3c1a-4d47-9a59-6c3e1f0f8a11").unwrap(),
        description: None,
        sandbox: true,
        webhook_url: None,
    }
}

pub fn payer() -> Payer {
    Payer {
        wallet_id: "+21620000001".into(),
        card_number: "7019800100009569".into(),
        wallet_type: "TicketResto".into(),
    }
}

pub fn grant() -> Payment {
    Payment::issue_epm(id(EPM_ID), payer(), t(0), t(30), None)
}

pub fn session() -> Payment {
    Payment::initiate_ppm(id(PPM_ID), order("a", "S1", 45_000), t(0), t(60))
}

pub fn receipt() -> Receipt {
    Receipt {
        confirmation_code: "A1B2C3D4".into(),
        transaction_date: t(5),
        cynod_reference: "epm:x:1".into(),
    }
}

/// The seed's webhook example: a confirmed PPM request of 45.000 TND.
pub fn confirmed_ppm() -> Payment {
    let mut order = order("pos_client_abc123", "CAISSE-01-SESS-007", 45_000);
    order.merchant_name = "Cafétéria".into();
    order.transaction_id = TransactionId::parse("3fa85f64-5717-4562-b3fc-2c963f66afa6").unwrap();
    let t = Millis::parse_rfc3339("2026-06-05T10:30:00Z").unwrap();
    let mut p = Payment::initiate_ppm(id(PPM_ID), order, t, t.plus_ms(60_000));
    p.succeed(
        Receipt {
            confirmation_code: "A1B2C3D4".into(),
            transaction_date: t,
            cynod_reference: "ppm:x:1".into(),
        },
        t,
    );
    p
}
