// The JavaScript reference of `make bench`: the gateway's PPM status poll
// (GET /api/v1/pos/payments/{id}/status) as a minimal Hono + jose Worker. It verifies the
// gateway's HS256 access token (kid from JWT_KEYS, alg, iss, aud, exp pinned) and reads the
// stored status from the caller's SQLite-backed Durable Object over RPC.
// It also gives two storage ceilings, for a verified caller and with no other work:
// - POST /bench/payments creates one SQLite-backed object, with one row and one alarm: the least
//   a PPM initiate does, since the gateway keeps each payment in its own object;
// - POST /bench/payments/{id}/debit, on an object made beforehand, claims a sale reference in the
//   caller's own object (a `pos_reference` is unique per client), commits the intent, then one
//   movement in a single ledger object (as the CYNOD simulator keeps one), then the outcome: the
//   least an EPM scan does on the object its QR made, to debit once and never twice.
// GET /bench/payments/{id} reads an object's row back, so the bench can check that a ceiling
// commits what it answers.
// Invariant: no status is read, and no object made or written, for a request whose token does
// not verify; every refusal is 401. The bench checks that before measuring, so this reference
// cannot look fast by skipping work.

import { DurableObject } from "cloudflare:workers";
import { Hono } from "hono";
import { jwtVerify } from "jose";

const AUDIENCE = "dyno-pos";
const LEEWAY_SECONDS = 5;

/// One status store per POS client, as the gateway keeps one gate per client.
export class StatusStore extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS statuses (id TEXT PRIMARY KEY, body TEXT NOT NULL)",
    );
  }

  /// The stored status body of `id`, or null.
  status(id) {
    const row = this.ctx.storage.sql
      .exec("SELECT body FROM statuses WHERE id = ?", id)
      .toArray()[0];
    return row ? row.body : null;
  }

  /// Stores `statuses` ({ id: body }); the bench seeds them before measuring.
  seed(statuses) {
    for (const [id, body] of Object.entries(statuses)) {
      this.ctx.storage.sql.exec(
        "INSERT OR REPLACE INTO statuses (id, body) VALUES (?, ?)",
        id,
        body,
      );
    }
    return Object.keys(statuses).length;
  }
}

/// One payment's object: a single row, and the alarm a payment arms for its expiry.
export class PaymentRecord extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS payment (id INTEGER PRIMARY KEY, state TEXT NOT NULL)",
    );
  }

  /// Stores `state` as the object's first row and arms its alarm; answers the row back.
  create(state) {
    // A day out, so that no alarm fires while the bench runs: what is measured is arming it,
    // in the same turn as the first write, as a payment arms its expiry before its first write.
    this.ctx.storage.setAlarm(Date.now() + 86_400_000);
    this.write(state);
    return state;
  }

  /// Replaces the row with `state`.
  write(state) {
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO payment (id, state) VALUES (1, ?)", state);
    return state;
  }

  /// The row, or null.
  read() {
    const row = this.ctx.storage.sql.exec("SELECT state FROM payment WHERE id = 1").toArray()[0];
    return row ? row.state : null;
  }

  async alarm() {
    this.ctx.storage.deleteAll();
  }
}

/// One per client, as the gateway keeps its `pos_reference`s in the client's gate.
export class SaleReferences extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS refs (reference TEXT PRIMARY KEY)");
  }

  /// Claims `reference`; false when it was already claimed.
  claim(reference) {
    const cursor = this.ctx.storage.sql.exec(
      "INSERT OR IGNORE INTO refs (reference) VALUES (?)",
      reference,
    );
    return cursor.rowsWritten > 0;
  }
}

/// The card core's ledger, one object for every card, as the CYNOD simulator keeps it.
export class Ledger extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS movements (reference TEXT PRIMARY KEY, amount INTEGER NOT NULL)",
    );
  }

  /// Records one debit of `amount` under `reference`; a reference is debited once.
  debit(reference, amount) {
    this.ctx.storage.sql.exec(
      "INSERT OR IGNORE INTO movements (reference, amount) VALUES (?, ?)",
      reference,
      amount,
    );
    return amount;
  }
}

/// The verification keys by kid, imported once per isolate (the gateway parses its ring once too).
let keyRing = null;
function keysOf(env) {
  if (keyRing === null || keyRing.source !== env.JWT_KEYS) {
    const entries = String(env.JWT_KEYS ?? "")
      .split(",")
      .map((entry) => entry.trim())
      .filter((entry) => entry.length > 0)
      .map(async (entry) => {
        const [kid, hex] = entry.split(":");
        const bytes = new Uint8Array(hex.match(/../g).map((pair) => parseInt(pair, 16)));
        const key = await crypto.subtle.importKey(
          "raw",
          bytes,
          { name: "HMAC", hash: "SHA-256" },
          false,
          ["verify"],
        );
        return [kid, key];
      });
    keyRing = { source: env.JWT_KEYS, keys: Promise.all(entries).then((pairs) => new Map(pairs)) };
  }
  return keyRing.keys;
}

function problem(c, status, code, detail) {
  const headers = { "content-type": "application/problem+json" };
  if (status === 401) {
    headers["www-authenticate"] = 'Bearer error="invalid_token"';
  }
  return c.body(JSON.stringify({ status, code, title: detail }), status, headers);
}

const app = new Hono();

app.use("*", async (c, next) => {
  const header = c.req.header("authorization") ?? "";
  const token = header.startsWith("Bearer ") ? header.slice(7) : "";
  const keys = await keysOf(c.env);
  try {
    const { payload } = await jwtVerify(
      token,
      (protectedHeader) => {
        const key = keys.get(protectedHeader.kid);
        if (!key) throw new Error("unknown kid");
        return key;
      },
      {
        algorithms: ["HS256"],
        issuer: c.env.ISSUER,
        audience: AUDIENCE,
        clockTolerance: LEEWAY_SECONDS,
        requiredClaims: ["iat", "exp", "sub"],
      },
    );
    c.set("client", payload.sub);
  } catch {
    return problem(c, 401, "INVALID_TOKEN", "Jeton invalide.");
  }
  await next();
});

function storeOf(c) {
  return c.env.STATUSES.get(c.env.STATUSES.idFromName(c.get("client")));
}

app.get("/api/v1/pos/payments/:id/status", async (c) => {
  const body = await storeOf(c).status(c.req.param("id"));
  if (body === null) {
    return problem(c, 404, "NOT_FOUND", "Demande de paiement introuvable.");
  }
  return c.body(body, 200, { "content-type": "application/json" });
});

function paymentOf(c, id) {
  return c.env.PAYMENTS.get(c.env.PAYMENTS.idFromName(id));
}

function stateOf(c, id, status) {
  return JSON.stringify({ id, client: c.get("client"), amount: 1000, status, at: Date.now() });
}

// The initiate ceiling: a new object per request, as each payment the gateway creates has.
app.post("/bench/payments", async (c) => {
  const id = crypto.randomUUID();
  const state = await paymentOf(c, id).create(stateOf(c, id, "pending"));
  return c.body(state, 200, { "content-type": "application/json" });
});

// The scan ceiling: sale reference, intent, debit, outcome, each committed before the next starts.
app.post("/bench/payments/:id/debit", async (c) => {
  const id = c.req.param("id");
  const references = c.env.SALE_REFERENCES.get(c.env.SALE_REFERENCES.idFromName(c.get("client")));
  if (!(await references.claim(crypto.randomUUID()))) {
    return problem(c, 409, "DUPLICATE_REFERENCE", "Référence de vente déjà utilisée.");
  }
  const payment = paymentOf(c, id);
  await payment.write(stateOf(c, id, "processing"));
  const ledger = c.env.LEDGER.get(c.env.LEDGER.idFromName("ledger"));
  await ledger.debit(crypto.randomUUID(), 1000);
  const state = await payment.write(stateOf(c, id, "accepted"));
  return c.body(state, 200, { "content-type": "application/json" });
});

app.get("/bench/payments/:id", async (c) => {
  const state = await paymentOf(c, c.req.param("id")).read();
  if (state === null) {
    return problem(c, 404, "NOT_FOUND", "Paiement introuvable.");
  }
  return c.body(state, 200, { "content-type": "application/json" });
});

// Seeding, for the bench only: the caller's statuses, under its own token.
app.put("/bench/statuses", async (c) => {
  const stored = await storeOf(c).seed(await c.req.json());
  return c.json({ stored });
});

export default app;
