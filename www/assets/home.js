// Dyno Edge demo — the home page: whether the gateway answers. Its dependency report is for
// operators (with the admin key), so the page only says up or down.
(() => {
  const status = document.getElementById("status");
  fetch("/healthz", { cache: "no-store" })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(String(r.status)))))
    .then((report) => { status.textContent = report.status === "ok" ? "Opérationnel" : "Dégradé"; })
    .catch(() => { status.textContent = "Service injoignable."; });
})();
