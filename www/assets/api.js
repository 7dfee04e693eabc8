// Dyno Edge demo — the shared client: calls to the gateway, errors as people read them (in
// French), exact amounts, the offline banner, and the service worker.
"use strict";

const Dyno = (() => {
  /** Human messages for the API's error codes. */
  const MESSAGES = {
    QR_EXPIRED: "Le QR code a expiré (plus de 30 secondes). Demandez à l'employé d'en générer un nouveau.",
    INSUFFICIENT_FUNDS: "Solde insuffisant sur la carte.",
    MERCHANT_NOT_FOUND: "Ce commerçant n'est pas affilié ou a été désactivé : il ne peut pas encaisser.",
    UNAUTHORIZED: "Session absente ou expirée : reconnectez-vous.",
    INVALID_TOKEN: "Session expirée : reconnectez-vous.",
    RATE_LIMITED: "Trop de requêtes en peu de temps : patientez quelques secondes.",
    INVALID_QR: "QR code illisible, altéré ou inconnu.",
    QR_ALREADY_USED: "Ce QR code a déjà servi à un paiement.",
    INVALID_AMOUNT: "Montant invalide : un nombre positif avec 3 décimales au plus.",
    INVALID_PIN: "Code PIN incorrect.",
    WALLET_LOCKED: "Trop de codes PIN erronés : le wallet est verrouillé pour quelques minutes.",
    UPSTREAM_TIMEOUT: "Le système de cartes ne répond pas : réessayez dans un instant.",
    UPSTREAM_ERROR: "Le système de cartes a renvoyé une erreur : réessayez.",
    DUPLICATE_POS_REFERENCE: "Cette référence de caisse a déjà servi : utilisez-en une nouvelle.",
    CARD_EXPIRED: "Cette carte est expirée.",
    CARD_BLOCKED: "Cette carte est bloquée.",
    CARD_NOT_FOUND: "Carte introuvable.",
    INVALID_STATE: "Cette demande de paiement n'est plus modifiable.",
    IDEMPOTENCY_KEY_IN_PROGRESS: "Le paiement est déjà en cours de traitement.",
    SIMULATION_NOT_ALLOWED: "La simulation n'est possible qu'avec des identifiants sandbox.",
    NETWORK: "Réseau indisponible : l'opération reprendra dès le retour de la connexion.",
    invalid_client: "Identifiant ou secret du terminal incorrect.",
    temporarily_unavailable: "Trop de tentatives de connexion : patientez une minute.",
  };

  const STATUS_LABELS = {
    pending: "En attente de scan", scanned: "Scanné — en cours", confirmed: "Paiement confirmé", succeeded: "Paiement réussi",
    expired: "Expiré", failed: "Échoué", cancelled: "Annulé", refunded: "Remboursé", partially_refunded: "Remboursé en partie",
  };

  const DELIVERY_LABELS = {
    pending: "En cours", delivered: "Livré", failed: "Échec, nouvel essai prévu", dead_lettered: "Abandonné (file d'erreurs)",
  };

  /** `2029-07-18` → `18/07/2029`. */
  function frenchDate(iso) {
    const [y, m, d] = String(iso || "").split("-");
    return y && m && d ? `${d}/${m}/${y}` : "—";
  }

  /** An instant as a Tunisian reads it: day and 24-hour time, Tunis time. */
  function frenchDateTime(iso) {
    return new Date(iso).toLocaleString("fr-FR", { timeZone: "Africa/Tunis", dateStyle: "short", timeStyle: "medium" });
  }

  const REASONS = {
    insufficient_funds: "solde insuffisant", pin_attempts_exceeded: "trois codes PIN erronés", card_expired: "carte expirée",
    card_blocked: "carte bloquée", card_not_found: "carte inconnue", upstream_unavailable: "système de cartes indisponible",
    cancelled_by_pos: "annulé par la caisse", cancelled_by_employee: "annulé par l'employé", expired: "délai dépassé",
  };

  class ApiError extends Error {
    constructor(status, code, detail) {
      super(MESSAGES[code] || detail || `Erreur ${status}`);
      this.status = status;
      this.code = code;
      this.detail = detail;
    }
  }

  /** Calls the gateway; resolves with parsed JSON, rejects with an ApiError. */
  async function call(method, path, { token, body, rawBody, headers = {}, accept = "json" } = {}) {
    const init = { method, headers: { ...headers } };
    if (token) init.headers.Authorization = `Bearer ${token}`;
    if (rawBody !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = rawBody;
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      setOffline(true);
      throw new ApiError(0, "NETWORK", String(e));
    }
    setOffline(false);
    if (response.ok) return accept === "json" ? response.json() : response;
    let problem = {};
    try { problem = await response.json(); } catch (_) { /* not JSON */ }
    const code = problem.code || problem.error || `HTTP_${response.status}`;
    throw new ApiError(response.status, code, problem.detail || problem.error_description);
  }

  /** `12,5` or `12.500` → the exact JSON number text `12.500`; null if not a valid TND amount. */
  function amountText(input) {
    const text = String(input).trim().replace(",", ".");
    if (!/^\d{1,7}(\.\d{1,3})?$/.test(text)) return null;
    const [units, decimals = ""] = text.split(".");
    const value = `${Number(units)}.${decimals.padEnd(3, "0")}`;
    return /^0\.000$/.test(value) ? null : value;
  }

  /** A JSON body with an amount written as exact number text (never through a float). */
  function bodyWithAmount(fields, amount) {
    const json = JSON.stringify({ ...fields, amount: "__AMOUNT__" });
    return json.replace('"__AMOUNT__"', amount);
  }

  function formatAmount(value) {
    return `${Number(value).toLocaleString("fr-TN", { minimumFractionDigits: 3, maximumFractionDigits: 3 })} TND`;
  }

  let banner;
  function setOffline(offline) {
    banner ||= document.getElementById("offline");
    if (banner) banner.classList.toggle("hidden", !offline);
  }
  addEventListener("offline", () => setOffline(true));
  addEventListener("online", () => setOffline(false));

  function show(el, kind, text) {
    el.className = `result ${kind}`;
    el.textContent = text;
    el.classList.remove("hidden");
  }

  function statusPill(el, status, labels = STATUS_LABELS) {
    el.className = `pill ${status}`;
    el.textContent = labels[status] || status;
  }

  function isLocalDemo() {
    return ["127.0.0.1", "localhost"].includes(location.hostname) || location.hostname.startsWith("sandbox.");
  }

  if ("serviceWorker" in navigator) {
    addEventListener("load", () => navigator.serviceWorker.register("/sw.js").catch(() => {}));
  }

  return {
    call, ApiError, amountText, bodyWithAmount, formatAmount, show, statusPill, setOffline, isLocalDemo, frenchDate, frenchDateTime,
    MESSAGES, REASONS, STATUS_LABELS, DELIVERY_LABELS,
  };
})();
