// The JavaScript reference of `make bench`: the gateway's PPM status poll
// (GET /api/v1/pos/payments/{id}/status) as a minimal Hono + jose Worker. It verifies the
// gateway's HS256 access token (kid from JWT_KEYS, alg, iss, aud, exp pinned) and reads the
// stored status from the caller's SQLite-backed Durable Object over RPC.
// It also measures the storage ceiling of the routes that create a payment (POST
// /bench/payments): one new SQLite-backed object per request, holding one row and one alarm, and
// no other work. The gateway keeps each payment in its own object, so no route that creates one
// can run faster on this workerd and disk than this route does.
// Invariant: no status is read, and no object made, for a request whose token does not verify;
// every refusal is 401. The bench checks that before measuring, so this reference cannot look
// fast by skipping work.

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

/// The least a new payment costs: its own object, a first row committed, an alarm armed.
export class PaymentRecord extends DurableObject {
  /// Stores `state` as the object's only row and arms its alarm; answers the row back.
  create(state) {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS payment (id INTEGER PRIMARY KEY, state TEXT NOT NULL)");
    sql.exec("INSERT INTO payment (id, state) VALUES (1, ?)", state);
    // An hour out, so that no alarm fires while the bench runs: what is measured is arming it,
    // a write in the same commit as the row, as a payment arms its expiry.
    this.ctx.storage.setAlarm(Date.now() + 3_600_000);
    return state;
  }

  async alarm() {
    this.ctx.storage.deleteAll();
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

// The storage ceiling: a new object per request, as each payment the gateway creates has.
app.post("/bench/payments", async (c) => {
  const id = crypto.randomUUID();
  const record = c.env.PAYMENTS.get(c.env.PAYMENTS.idFromName(id));
  const state = JSON.stringify({ id, client: c.get("client"), amount: 1000, created_at: Date.now() });
  return c.body(await record.create(state), 200, { "content-type": "application/json" });
});

// Seeding, for the bench only: the caller's statuses, under its own token.
app.put("/bench/statuses", async (c) => {
  const stored = await storeOf(c).seed(await c.req.json());
  return c.json({ stored });
});

export default app;
