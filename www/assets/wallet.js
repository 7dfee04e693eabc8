// Dyno Edge demo — the employee's wallet: PIN login, cards and balances, the 30-second EPM QR
// (drawn with qrcode-generator), and PPM requests opened from their link, confirmed with the PIN.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem("dyno.wallet.token");
  let cards = [];
  let request = null;
  let qrTimer = null;

  async function login(event) {
    event.preventDefault();
    try {
      const answer = await Dyno.call("POST", "/api/v1/wallet/oauth/token", {
        body: { wallet_id: $("wallet-id").value.trim(), pin: $("pin").value },
      });
      token = answer.access_token;
      sessionStorage.setItem("dyno.wallet.token", token);
      sessionStorage.setItem("dyno.wallet.name", answer.display_name);
      start();
    } catch (e) {
      Dyno.show($("login-result"), "ko", e.message);
    }
  }

  async function loadCards() {
    const answer = await Dyno.call("GET", "/api/v1/wallet/cards", { token });
    cards = answer.cards;
    $("cards").replaceChildren(
      ...cards.map((card) => {
        const el = document.createElement("div");
        el.className = `wallet-card ${card.wallet_type || ""}`;
        el.innerHTML = `<div class="meta"></div><div class="balance"></div><div class="meta"></div>`;
        el.children[0].textContent = `${card.wallet_type || "Carte"} · •••• ${card.card_last4}`;
        el.children[1].textContent = Dyno.formatAmount(card.balance);
                el.children[2].textContent = card.usable ? `Valable jusqu'au ${Dyno.frenchDate(card.valid_until)}` : "Carte inutilisable";
        return el;
      }),
    );
    for (const select of [$("qr-card"), $("req-card")]) {
      select.replaceChildren(
        ...cards.filter((c) => c.usable).map((c) => new Option(`${c.wallet_type} •${c.card_last4} — ${Dyno.formatAmount(c.balance)}`, c.card_number)),
      );
    }
  }

  async function makeQr() {
    clearInterval(qrTimer);
    try {
      const qr = await Dyno.call("POST", "/api/v1/wallet/qr", { token, body: { card_number: $("qr-card").value } });
      const code = qrcode(0, "M");
      code.addData(qr.qr_payload);
      code.make();
      $("qr-image").innerHTML = code.createSvgTag({ cellSize: 4, margin: 4, scalable: true });
      $("qr-text").value = qr.qr_payload;
      $("qr-box").classList.remove("hidden");
      const deadline = Date.parse(qr.expires_at);
      const tick = () => {
        const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
        $("qr-countdown").textContent = left > 0 ? `${left} s` : "Expiré";
        if (left === 0) {
          clearInterval(qrTimer);
          $("qr-box").classList.add("hidden");
        }
      };
      tick();
      qrTimer = setInterval(tick, 250);
    } catch (e) {
      alert(e.message);
    }
  }

  /** `…#pr=<id>&sig=<tag>` → { id, sig }. */
  function parseLink(text) {
    const hash = text.includes("#") ? text.slice(text.indexOf("#") + 1) : text;
    const params = new URLSearchParams(hash);
    return params.get("pr") && params.get("sig") ? { id: params.get("pr"), sig: params.get("sig") } : null;
  }

  async function openRequest(link) {
    const parsed = parseLink(link);
    if (!parsed) return;
    request = parsed;
    try {
      const view = await Dyno.call("GET", `/api/v1/wallet/payment-requests/${parsed.id}?sig=${encodeURIComponent(parsed.sig)}`, { token });
      renderRequest(view);
      $("request").scrollIntoView({ behavior: "smooth" });
    } catch (e) {
      $("request").classList.remove("hidden");
      Dyno.show($("req-result"), "ko", e.message);
    }
  }

  function renderRequest(view) {
    $("request").classList.remove("hidden");
    $("req-merchant").textContent = view.merchant_name;
    $("req-amount").textContent = Dyno.formatAmount(view.amount);
    $("req-description").textContent = view.description || "";
    Dyno.statusPill($("req-status"), view.status);
    const open = ["pending", "scanned"].includes(view.status);
    $("confirm").classList.toggle("hidden", !open);
    if (view.status === "confirmed") {
      Dyno.show($("req-result"), "ok", `Paiement confirmé. Code de confirmation ${view.confirmation_code}.`);
    } else if (!open) {
      const reason = Dyno.REASONS[view.reason] || "";
      Dyno.show($("req-result"), "ko", `${Dyno.STATUS_LABELS[view.status]}${reason ? ` : ${reason}` : ""}.`);
    } else {
      $("req-result").classList.add("hidden");
    }
  }

  async function confirm(event) {
    event.preventDefault();
    $("req-confirm").disabled = true;
    try {
      const view = await Dyno.call("POST", `/api/v1/wallet/payment-requests/${request.id}/confirm`, {
        token,
        body: { card_number: $("req-card").value, pin: $("req-pin").value, sig: request.sig },
      });
      renderRequest(view);
      loadCards();
    } catch (e) {
      Dyno.show($("req-result"), "ko", e.detail && e.code === "INVALID_PIN" ? e.detail : e.message);
    } finally {
      $("req-pin").value = "";
      $("req-confirm").disabled = false;
    }
  }

  async function refuse() {
    try {
      await Dyno.call("POST", `/api/v1/wallet/payment-requests/${request.id}/cancel`, { token, body: { sig: request.sig } });
      renderRequest({ ...(await Dyno.call("GET", `/api/v1/wallet/payment-requests/${request.id}?sig=${encodeURIComponent(request.sig)}`, { token })) });
    } catch (e) {
      Dyno.show($("req-result"), "ko", e.message);
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
          $("open-link").value = codes[0].rawValue;
          openRequest(codes[0].rawValue);
          break;
        }
        await new Promise((r) => setTimeout(r, 150));
      }
      stream.getTracks().forEach((t) => t.stop());
    } catch (_) {
      alert("Caméra indisponible : collez le lien de la demande.");
    }
  }

  async function start() {
    $("login-card").classList.add("hidden");
    $("app").classList.remove("hidden");
    $("name").textContent = sessionStorage.getItem("dyno.wallet.name") || "";
    try {
      await loadCards();
    } catch (e) {
      if (e.status === 401) {
        sessionStorage.clear();
        location.reload();
      }
    }
    if (location.hash.includes("pr=")) openRequest(location.hash);
  }

  $("login").addEventListener("submit", login);
  $("make-qr").addEventListener("click", makeQr);
  $("confirm").addEventListener("submit", confirm);
  $("req-cancel").addEventListener("click", refuse);
  $("open").addEventListener("click", () => openRequest($("open-link").value));
  $("camera").addEventListener("click", scanWithCamera);
  $("logout").addEventListener("click", async (e) => {
    e.preventDefault();
    // Ends the wallet's session on the gateway too (every device), so a token left behind in this
    // browser or on a lost phone is worthless; offline, the local session is forgotten anyway.
    try {
      await Dyno.call("POST", "/api/v1/wallet/oauth/revoke", { token });
    } catch (_) { /* already expired, or offline */ }
    sessionStorage.clear();
    location.hash = "";
    location.reload();
  });
  addEventListener("hashchange", () => token && openRequest(location.hash));
  if ("BarcodeDetector" in window && navigator.mediaDevices) $("camera").classList.remove("hidden");
  if (Dyno.isLocalDemo()) {
    $("wallet-id").value = "+21620000001";
    $("pin").value = "1234";
  }
  if (token) start();
})();
