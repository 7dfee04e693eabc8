// Dyno Edge demo — the POS terminal: sign in with client credentials, take an EPM payment from the
// employee's QR, or show a PPM QR and follow it live by polling until it is confirmed.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SESSION_KEY = "dyno.pos.ppm";
  let token = sessionStorage.getItem("dyno.pos.token");
  let timers = [];

  function newReference() {
    const now = new Date();
    const stamp = now.toISOString().replace(/[-:T]/g, "").slice(0, 14);
    $("reference").value = `CAISSE-01-${stamp}-${Math.floor(Math.random() * 1000).toString().padStart(3, "0")}`;
  }

  function scenarioHeaders() {
    const scenario = $("scenario").value;
    return scenario ? { "X-Dyno-Simulate": scenario } : {};
  }

  function showTerminal(who) {
    $("login-card").classList.add("hidden");
    $("terminal").classList.remove("hidden");
    $("who").textContent = who;
    newReference();
    resumeSession();
  }

  async function login(event) {
    event.preventDefault();
    const clientId = $("client-id").value.trim();
    try {
      const answer = await Dyno.call("POST", "/api/v1/pos/oauth/token", {
        body: { grant_type: "client_credentials", client_id: clientId, client_secret: $("client-secret").value },
      });
      token = answer.access_token;
      sessionStorage.setItem("dyno.pos.token", token);
      sessionStorage.setItem("dyno.pos.who", clientId);
      showTerminal(clientId);
    } catch (e) {
      Dyno.show($("login-result"), "ko", e.message);
    }
  }

  function amountOrError() {
    const amount = Dyno.amountText($("amount").value);
    if (!amount) Dyno.show($("result"), "ko", Dyno.MESSAGES.INVALID_AMOUNT);
    return amount;
  }

  function authLost(e) {
    if (e.status === 401) {
      sessionStorage.removeItem("dyno.pos.token");
      token = null;
    }
  }

  async function scan() {
    const amount = amountOrError();
    if (!amount) return;
    const result = $("result");
    $("scan").disabled = true;
    Dyno.show(result, "info", "Paiement en cours…");
    try {
      const paid = await Dyno.call("POST", "/api/v1/pos/payments/scan", {
        token,
        headers: scenarioHeaders(),
        rawBody: Dyno.bodyWithAmount(
          { qr_payload: $("qr-payload").value.trim(), pos_reference: $("reference").value, channel: "qr" },
          amount,
        ),
      });
      Dyno.show(result, "ok", `Paiement réussi : ${Dyno.formatAmount(paid.amount)} (${paid.wallet_type}). Code de confirmation ${paid.confirmation_code}.`);
      result.dataset.confirmationCode = paid.confirmation_code;
      $("qr-payload").value = "";
      newReference();
    } catch (e) {
      authLost(e);
      Dyno.show(result, "ko", e.message);
    } finally {
      $("scan").disabled = false;
    }
  }

  function clearTimers() {
    timers.forEach(clearInterval);
    timers = [];
  }

  function linkFromNfc(nfcPayload) {
    try {
      return JSON.parse(atob(nfcPayload)).Url;
    } catch (_) {
      return null;
    }
  }

  async function initiate() {
    const amount = amountOrError();
    if (!amount) return;
    $("initiate").disabled = true;
    try {
      const request = await Dyno.call("POST", "/api/v1/pos/payments/initiate", {
        token,
        headers: scenarioHeaders(),
        rawBody: Dyno.bodyWithAmount(
          { pos_reference: $("reference").value, description: "Démo caisse", channel: "qr" },
          amount,
        ),
      });
      const session = {
        id: request.payment_request_id, qr: request.qr_payload, link: linkFromNfc(request.nfc_payload),
        expiresAt: request.expires_at, amount: request.amount,
      };
      localStorage.setItem(SESSION_KEY, JSON.stringify(session));
      followSession(session);
    } catch (e) {
      authLost(e);
      Dyno.show($("result"), "ko", e.message);
    } finally {
      $("initiate").disabled = false;
    }
  }

  /** Shows a PPM request and polls its status once a second until it ends (survives reloads). */
  function followSession(session) {
    clearTimers();
    selectTab("ppm");
    $("session").classList.remove("hidden");
    $("ppm-qr").src = `data:image/png;base64,${session.qr}`;
    $("ppm-link").href = session.link || "#";
    $("ppm-cancel").disabled = false;
    Dyno.show($("result"), "info", `Demande de ${Dyno.formatAmount(session.amount)} affichée : l'employé la scanne et confirme avec son PIN.`);
    const deadline = Date.parse(session.expiresAt);
    const tick = () => {
      const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      $("ppm-countdown").textContent = `${left} s`;
    };
    tick();
    timers.push(setInterval(tick, 250));
    let stopped = false;
    const poll = async () => {
      if (stopped || !navigator.onLine) return;
      try {
        const status = await Dyno.call("GET", `/api/v1/pos/payments/${session.id}/status`, { token });
        Dyno.statusPill($("ppm-status"), status.status);
        if (status.status === "confirmed") {
          Dyno.show($("result"), "ok", `Paiement confirmé : ${Dyno.formatAmount(status.amount)}. Code de confirmation ${status.confirmation_code}.`);
          $("result").dataset.confirmationCode = status.confirmation_code;
        } else if (["failed", "expired", "cancelled"].includes(status.status)) {
          const reason = Dyno.REASONS[status.reason] || status.reason || "";
          Dyno.show($("result"), "ko", `${Dyno.STATUS_LABELS[status.status]}${reason ? ` : ${reason}` : ""}.`);
        }
        if (!["pending", "scanned"].includes(status.status)) {
          stopped = true;
          clearTimers();
          $("ppm-cancel").disabled = true;
          localStorage.removeItem(SESSION_KEY);
          newReference();
        }
      } catch (e) {
        authLost(e);
        if (e.code !== "NETWORK" && e.code !== "RATE_LIMITED") Dyno.show($("result"), "ko", e.message);
      }
    };
    poll();
    timers.push(setInterval(poll, 1000));
    addEventListener("online", poll);
  }

  function resumeSession() {
    const saved = localStorage.getItem(SESSION_KEY);
    if (!saved) return;
    const session = JSON.parse(saved);
    if (Date.parse(session.expiresAt) + 30000 > Date.now()) followSession(session);
    else localStorage.removeItem(SESSION_KEY);
  }

  async function cancel() {
    const saved = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    if (!saved) return;
    try {
      await Dyno.call("POST", `/api/v1/pos/payments/${saved.id}/cancel`, { token });
    } catch (e) {
      Dyno.show($("result"), "ko", e.message);
    }
  }

  function selectTab(which) {
    for (const name of ["epm", "ppm"]) {
      $(`tab-${name}`).setAttribute("aria-selected", String(name === which));
      $(`panel-${name}`).classList.toggle("hidden", name !== which);
    }
  }

  async function scanWithCamera() {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      const video = Object.assign(document.createElement("video"), { srcObject: stream, playsInline: true });
      await video.play();
      const detector = new BarcodeDetector({ formats: ["qr_code"] });
      for (let i = 0; i < 100; i++) {
        const codes = await detector.detect(video);
        if (codes.length) {
          $("qr-payload").value = codes[0].rawValue;
          break;
        }
        await new Promise((r) => setTimeout(r, 150));
      }
      stream.getTracks().forEach((t) => t.stop());
    } catch (e) {
      Dyno.show($("result"), "ko", "Caméra indisponible : collez le code du QR.");
    }
  }

  $("login").addEventListener("submit", login);
  $("scan").addEventListener("click", scan);
  $("initiate").addEventListener("click", initiate);
  $("ppm-cancel").addEventListener("click", cancel);
  $("tab-epm").addEventListener("click", () => selectTab("epm"));
  $("tab-ppm").addEventListener("click", () => selectTab("ppm"));
  $("camera-epm").addEventListener("click", scanWithCamera);
  $("logout").addEventListener("click", (e) => {
    e.preventDefault();
    sessionStorage.clear();
    location.reload();
  });
  if ("BarcodeDetector" in window && navigator.mediaDevices) $("camera-epm").classList.remove("hidden");
  if (Dyno.isLocalDemo()) {
    $("client-id").value = "pos_sandbox_demo";
    $("client-secret").value = "sandbox_secret_demo";
  } else {
    $("env").classList.add("hidden");
  }
  if (token) showTerminal(sessionStorage.getItem("dyno.pos.who") || "");
})();
