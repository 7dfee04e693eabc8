// Dyno Edge demo — the merchant console: recent transactions, webhook deliveries with every
// attempt (and redelivery), and the day's reconciliation export.
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
      await Promise.all([loadTransactions(), loadDeliveries()]);
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
  if (Dyno.isLocalDemo()) {
    $("client-id").value = "pos_sandbox_demo";
    $("client-secret").value = "sandbox_secret_demo";
  }
  if (token) start();
})();
