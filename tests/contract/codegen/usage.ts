// Compiled by scripts/check-openapi.sh against the TypeScript types that openapi-typescript
// generates from docs/openapi.yaml: proves a code generator reads the document as intended
// (the seed's requests and answers type-check; what the document forbids does not).
import type { components, operations, paths } from "./dyno-api.js";

type Schemas = components["schemas"];

// EPM: the seed's scan request and its 200 answer.
const scan = {
  qr_payload: "eyJRclR5cGUiOiJ0cmFuc2FjdGlvbiIs...",
  amount: 12.5,
  pos_reference: "CAISSE-01-TXN-20260604-001",
  channel: "qr",
} satisfies Schemas["ScanRequest"];

type ScanOk = paths["/api/v1/pos/payments/scan"]["post"]["responses"][200]["content"]["application/json"];
const scanned: ScanOk = {
  transaction_id: "3fa85f64-5717-4562-b3fc-2c963f66afa6",
  status: "succeeded",
  amount: 12.5,
  currency: "TND",
  wallet_type: "TicketResto",
  confirmation_code: "A1B2C3D4",
  transaction_date: "2026-06-05T10:30:00Z",
};

// @ts-expect-error a scan body has no other fields (additionalProperties: false)
const misspelt: Schemas["ScanRequest"] = { ...scan, pos_ref: "x" };

// @ts-expect-error only qr and nfc are channels
const badChannel: Schemas["ScanRequest"]["channel"] = "bluetooth";

// PPM: initiate, then the status poll.
const initiate = {
  amount: 45,
  pos_reference: "CAISSE-01-SESS-007",
  description: "Déjeuner cafétéria",
  channel: "qr",
} satisfies operations["initiatePayment"]["requestBody"]["content"]["application/json"];

type Status = Schemas["SessionStatus"]["status"];
const seedStatuses: Status[] = ["pending", "scanned", "confirmed", "expired", "failed", "cancelled"];

// Errors: the seed's codes are the Problem's `code`.
const problemCodes: Schemas["Problem"]["code"][] = ["QR_EXPIRED", "INSUFFICIENT_FUNDS", "MERCHANT_NOT_FOUND"];
// @ts-expect-error codes are a closed list
const unknownCode: Schemas["Problem"]["code"] = "SOMETHING_ELSE";

// Webhooks: the seed's payment.confirmed body; an event without money has no transaction_id.
const confirmed: Schemas["PaymentConfirmedEvent"] = {
  event: "payment.confirmed",
  payment_request_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
  transaction_id: "3fa85f64-5717-4562-b3fc-2c963f66afa6",
  amount: 45,
  currency: "TND",
  status: "succeeded",
  pos_reference: "CAISSE-01-SESS-007",
  timestamp: "2026-06-05T10:30:47Z",
};
const failed: Schemas["PaymentFailedEvent"] = {
  event: "payment.failed",
  payment_request_id: confirmed.payment_request_id,
  amount: 45,
  currency: "TND",
  status: "failed",
  reason: "insufficient_funds",
  pos_reference: "CAISSE-01-SESS-007",
  timestamp: "2026-06-05T10:30:47Z",
};
// @ts-expect-error no money moved: a failed event has no transaction_id
const failedWithMoney: Schemas["PaymentFailedEvent"] = { ...failed, transaction_id: confirmed.transaction_id };
type CancelledBy = Schemas["PaymentCancelledEvent"]["cancelled_by"];
const cancelledBy: CancelledBy[] = ["employee", "pos"];
type RefundStatus = Schemas["PaymentRefundedEvent"]["refund_status"];
const refundStatuses: RefundStatus[] = ["refunded", "partially_refunded"];

export {
  scan, scanned, misspelt, badChannel, initiate, seedStatuses, problemCodes, unknownCode,
  confirmed, failed, failedWithMoney, cancelledBy, refundStatuses,
};
