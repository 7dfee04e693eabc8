// Dyno Edge demo — the merchant console: the day at a glance (volume by hour, outcomes by flow,
// webhook health, drawn by charts.js), recent transactions, webhook deliveries with every attempt
// (and redelivery), what the sandbox receiver got, and the day's reconciliation export.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem("dyno.console.token");

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  async function loadTransactions() {
    const page = await Dyno.call("GET", "/api/v1/pos/payments?limit=20", { token });
    $("tx").replaceChildren(
      ...page.data.map((p) => {
        const tr = document.createElement("tr");
        const status = document.createElement("span");
        // A refund shows in its own field; the pill shows it when money went back.
        const refunded = p.refund_status && p.refund_status !== "none";
        Dyno.statusPill(status, refunded ? p.refund_status : p.status);
        const statusCell = document.createElement("td");
        statusCell.append(status);
        tr.append(
          cell(Dyno.frenchDateTime(p.transaction_date || p.created_at)),
          cell(p.pos_reference),
          cell(p.flow.toUpperCase()),
          statusCell,
          cell(Dyno.formatAmount(p.amount), "num"),
          cell(p.confirmation_code || ""),
        );
        return tr;
      }),
    );
    $("tx-empty").classList.toggle("hidden", page.data.length > 0);
  }

  async function loadDeliveries() {
    const page = await Dyno.call("GET", "/api/v1/pos/webhooks/deliveries?limit=20", { token });
    $("hooks").replaceChildren(
      ...page.data.map((d) => {
        const tr = document.createElement("tr");
        const pill = document.createElement("span");
        Dyno.statusPill(pill, d.status, Dyno.DELIVERY_LABELS);
        const statusCell = document.createElement("td");
        statusCell.append(pill);
        const attempts = d.attempts
          .map((a) => `#${a.attempt} ${a.http_status ?? "—"} (${a.latency_ms} ms)${a.error ? ` ${a.error}` : ""}`)
          .join(" · ");
        const action = document.createElement("td");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "secondary";
        button.textContent = "Relivrer";
        button.addEventListener("click", () => redeliver(d.delivery_id));
        action.append(button);
        tr.append(cell(d.event), statusCell, cell(attempts), action);
        return tr;
      }),
    );
    $("hooks-empty").classList.toggle("hidden", page.data.length > 0);
  }

  const plural = (n, one, many) => `${n.toLocaleString("fr-FR")} ${n > 1 ? many : one}`;
  const payments = (n) => plural(n, "paiement", "paiements");

  const OUTCOMES = [
    ["succeeded", "réussi", "réussis"], ["failed", "échoué", "échoués"],
    ["expired", "expiré", "expirés"], ["cancelled", "annulé", "annulés"],
  ];
  const DELIVERIES = [
    ["delivered", "livré", "livrés"], ["failed", "en échec (nouvel essai prévu)", "en échec (nouvel essai prévu)"],
    ["dead_lettered", "abandonné", "abandonnés"], ["pending", "en cours", "en cours"],
  ];

  /** A chart's width in its container's own pixels, so its text keeps its size on any screen. */
  const widthOf = (id, fallback) => Math.max(280, $(id).clientWidth || fallback);

  /** A legend line: a colour swatch for `key`, then its words. */
  function legendItem(key, text, data = {}) {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = `swatch seg-${key}`;
    swatch.setAttribute("aria-hidden", "true");
    li.append(swatch, text);
    Object.assign(li.dataset, data);
    return li;
  }

  function drawVolume(summary) {
    const { volume } = summary;
    $("volume-total").textContent = `${Dyno.formatAmount(volume.amount)} · ${payments(volume.count)}`;
    const busiest = volume.hours.reduce((best, h) => (h.amount > (best?.amount ?? 0) ? h : best), null);
    const description = volume.count === 0
      ? "Aucun paiement ce jour."
      : `${payments(volume.count)} pour ${Dyno.formatAmount(volume.amount)} ; l'heure la plus chargée est ${busiest.hour} (${Dyno.formatAmount(busiest.amount)}).`;
    const items = volume.hours.map((h, index) => ({
      label: h.hour.slice(0, 2) + "h",
      value: h.amount,
      title: `${h.hour} – ${volume.hours[index + 1]?.hour ?? "24:00"} : ${payments(h.count)}, ${Dyno.formatAmount(h.amount)}`,
    }));
    $("volume-chart").replaceChildren(DynoCharts.bars(items, {
      label: `Volume par heure du ${Dyno.frenchDate(summary.date)} (${summary.time_zone})`,
      description,
      axis: (v) => `${v.toLocaleString("fr-FR", { maximumFractionDigits: 1 })} DT`,
      labelEvery: 3,
      width: widthOf("volume-chart", 720),
    }));
    // The same figures as text: the hours when money came in.
    const busy = volume.hours.map((h, i) => [h, volume.hours[i + 1]?.hour ?? "24:00"]).filter(([h]) => h.count > 0);
    $("volume-rows").replaceChildren(...busy.map(([h, end]) => {
      const tr = document.createElement("tr");
      tr.dataset.hour = h.hour;
      tr.append(cell(`${h.hour} – ${end}`), cell(String(h.count), "num"), cell(Dyno.formatAmount(h.amount), "num"));
      return tr;
    }));
    $("volume-table").classList.toggle("hidden", busy.length === 0);
  }

  function drawOutcomes(summary) {
    const flows = [["epm", "EPM"], ["ppm", "PPM"]];
    const rows = flows.map(([key, label]) => ({
      key, label,
      segments: OUTCOMES.map(([status, one, many]) => ({ key: status, value: summary.outcomes.by_flow[key][status], name: many })),
    }));
    const words = (key) => OUTCOMES.map(([status, one, many]) => plural(summary.outcomes.by_flow[key][status], one, many)).join(" · ");
    $("outcomes-chart").replaceChildren(DynoCharts.stacked(rows, {
      label: "Paiements réussis et échoués, par flux",
      description: flows.map(([key, label]) => `${label} : ${words(key)}`).join(". "),
      width: widthOf("outcomes-chart", 360),
    }));
    $("outcomes-text").replaceChildren(
      ...flows.map(([key, label]) => {
        const li = document.createElement("li");
        li.dataset.flow = key;
        const name = document.createElement("strong");
        name.textContent = `${label} : `;
        li.append(name, words(key));
        return li;
      }),
    );
    $("outcomes-legend").replaceChildren(...OUTCOMES.map(([status, , many]) => legendItem(status, many)));
    $("outcomes-reasons").replaceChildren(...summary.outcomes.reasons.map((r) => {
      const li = document.createElement("li");
      const why = Dyno.REASONS[r.reason] || r.reason || "raison inconnue";
      li.textContent = `${r.flow.toUpperCase()} — ${why} : ${r.count.toLocaleString("fr-FR")}`;
      return li;
    }));
  }

  function drawHealth(summary) {
    const { deliveries, latency, recent_attempts: recent } = summary.webhooks;
    const words = DELIVERIES.map(([key, one, many]) => plural(deliveries[key], one, many)).join(" · ");
    $("health-chart").replaceChildren(DynoCharts.stacked(
      [{ key: "deliveries", label: "Livraisons", segments: DELIVERIES.map(([key, , many]) => ({ key: `hook-${key}`, value: deliveries[key], name: many })) }],
      { label: "Livraisons de webhooks du jour, par état", description: words, labelWidth: 0, width: widthOf("health-chart", 360) },
    ));
    $("health-text").replaceChildren(...DELIVERIES.map(([key, one, many]) =>
      legendItem(`hook-${key}`, plural(deliveries[key], one, many), { state: key, count: deliveries[key] })));
    if (!latency) {
      $("latency-text").textContent = "Aucune tentative de livraison ce jour.";
      $("latency-chart").replaceChildren();
      return;
    }
    $("latency-text").textContent =
      `Latence des ${plural(latency.attempts, "dernière tentative", "dernières tentatives")} : médiane ${latency.p50_ms} ms · 95e centile ${latency.p95_ms} ms · max ${latency.max_ms} ms.`;
    $("latency-chart").replaceChildren(DynoCharts.bars(
      recent.map((a) => ({
        label: "",
        value: a.latency_ms,
        className: a.acknowledged ? "ok" : "ko",
        title: `${Dyno.frenchDateTime(a.at)} : ${a.latency_ms} ms, ${a.http_status ? `HTTP ${a.http_status}` : "pas de réponse"}`,
      })),
      {
        label: "Latence des dernières tentatives de livraison",
        description: `${recent.length} tentatives, de la plus ancienne à la plus récente ; ${recent.filter((a) => !a.acknowledged).length} sans accusé de réception.`,
        axis: (v) => `${Math.round(v)} ms`,
        width: widthOf("latency-chart", 360),
        height: 120,
        maxBar: 22,
        className: "latency",
      },
    ));
  }

  let shown;
  function drawSummary(summary) {
    shown = summary;
    drawVolume(summary);
    drawOutcomes(summary);
    drawHealth(summary);
    $("summary").dataset.loaded = summary.date;
  }

  // The charts are drawn at their container's width: drawn again when it changes.
  let resizing;
  addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => shown && drawSummary(shown), 150);
  });

  async function loadSummary() {
    const date = $("day-date").value;
    const query = date ? `?date=${encodeURIComponent(date)}` : "";
    try {
      const summary = await Dyno.call("GET", `/api/v1/pos/reports/summary${query}`, { token });
      $("day-date").value = summary.date;
      $("summary-result").classList.add("hidden");
      drawSummary(summary);
    } catch (e) {
      Dyno.show($("summary-result"), "ko", e.message);
      throw e;
    }
  }

  /** One receipt of the sandbox receiver: what arrived, and whether its signature verified. */
  function receiptView(receipt, open) {
    const details = document.createElement("details");
    details.className = "receipt";
    details.open = open;
    details.dataset.deliveryId = receipt.delivery_id || "";
    details.dataset.verified = String(receipt.signature_verified);
    const summary = document.createElement("summary");
    const event = receipt.headers.find(([name]) => name === "X-Dyno-Event")?.[1] || "événement inconnu";
    const verdict = document.createElement("span");
    verdict.className = `pill ${receipt.signature_verified ? "delivered" : "failed"}`;
    verdict.textContent = receipt.signature_verified ? "Signature vérifiée" : "Signature invalide";
    const name = document.createElement("code");
    name.textContent = event;
    summary.append(name, ` · reçu le ${Dyno.frenchDateTime(receipt.received_at)} `, verdict);
    const headers = document.createElement("table");
    headers.className = "compact headers";
    headers.append(...receipt.headers.map(([header, value]) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = header;
      tr.append(th, cell(value, "mono"));
      return tr;
    }));
    const body = document.createElement("pre");
    body.className = "body";
    body.textContent = receipt.body;
    const headersTitle = document.createElement("h4");
    headersTitle.textContent = "En-têtes";
    const bodyTitle = document.createElement("h4");
    bodyTitle.textContent = "Corps (octets exacts, tels que signés)";
    details.append(summary, headersTitle, headers, bodyTitle, body);
    return details;
  }

  async function loadReceipts() {
    try {
      const page = await Dyno.call("GET", "/api/v1/pos/sandbox/webhook-receipts", { token });
      $("receipts").replaceChildren(...page.data.slice(0, 10).map((r, i) => receiptView(r, i === 0)));
      $("receipts-empty").classList.toggle("hidden", page.data.length > 0);
    } catch (e) {
      // Outside the sandbox there is no sandbox receiver: the section goes.
      if (e.status === 404) $("receipts-card").classList.add("hidden");
      else throw e;
    }
  }

  async function redeliver(id) {
    try {
      await Dyno.call("POST", `/api/v1/pos/webhooks/deliveries/${id}/redeliver`, { token });
      Dyno.show($("hooks-result"), "info", "Livraison relancée.");
      setTimeout(loadDeliveries, 1500);
    } catch (e) {
      Dyno.show($("hooks-result"), "ko", e.message);
    }
  }

  async function download() {
    const date = $("report-date").value;
    const format = $("report-format").value;
    try {
      const response = await Dyno.call("GET", `/api/v1/pos/reports/reconciliation?date=${date}&format=${format}`, { token, accept: "raw" });
      const blob = await response.blob();
      const link = Object.assign(document.createElement("a"), {
        href: URL.createObjectURL(blob),
        download: `rapprochement-${date}.${format}`,
      });
      link.click();
      Dyno.show($("report-result"), "ok", `Rapport du ${date} téléchargé (fuseau ${response.headers.get("Dyno-Report-Time-Zone")}).`);
    } catch (e) {
      Dyno.show($("report-result"), "ko", e.message);
    }
  }

  async function refresh() {
    try {
      await Promise.all([loadSummary(), loadTransactions(), loadDeliveries(), loadReceipts()]);
    } catch (e) {
      if (e.status === 401) {
        sessionStorage.removeItem("dyno.console.token");
        location.reload();
      }
    }
  }

  async function login(event) {
    event.preventDefault();
    try {
      const answer = await Dyno.call("POST", "/api/v1/pos/oauth/token", {
        body: { grant_type: "client_credentials", client_id: $("client-id").value.trim(), client_secret: $("client-secret").value },
      });
      token = answer.access_token;
      sessionStorage.setItem("dyno.console.token", token);
      start();
    } catch (e) {
      Dyno.show($("login-result"), "ko", e.message);
    }
  }

  function start() {
    $("login-card").classList.add("hidden");
    $("app").classList.remove("hidden");
    $("report-date").value = new Date(Date.now() + 3600000).toISOString().slice(0, 10);
    refresh();
  }

  $("login").addEventListener("submit", login);
  $("refresh").addEventListener("click", refresh);
  $("download").addEventListener("click", download);
  $("day-date").addEventListener("change", () => loadSummary().catch(() => {}));
  if (Dyno.isLocalDemo()) {
    $("client-id").value = "pos_sandbox_demo";
    $("client-secret").value = "sandbox_secret_demo";
  }
  if (token) start();
})();
