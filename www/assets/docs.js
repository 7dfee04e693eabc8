// Dyno Edge — /docs: renders the API contract served at /openapi.json (generated from
// docs/openapi.yaml at build time) with the vendored Redoc. A file of its own, so the page runs
// under a Content-Security-Policy without inline scripts.
"use strict";

(() => {
  const container = document.getElementById("reference");
  const status = document.getElementById("reference-status");
  const fail = (message) => {
    status.textContent = `La référence n'a pas pu être affichée : ${message}. Le document brut reste disponible : /openapi.json.`;
    document.body.dataset.reference = "error";
  };
  if (typeof Redoc === "undefined") {
    fail("le moteur de rendu (/vendor/redoc.standalone.js) manque — lancez scripts/setup.sh");
    return;
  }
  Redoc.init(
    "/openapi.json",
    {
      hideDownloadButton: true,
      expandResponses: "200,201,202",
      jsonSampleExpandLevel: 3,
      requiredPropsFirst: true,
      showExtensions: false,
      theme: {
        colors: { primary: { main: "#1f4fd6" } },
        typography: {
          fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
          headings: { fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif' },
          code: { fontFamily: "ui-monospace, SFMono-Regular, Menlo, monospace" },
        },
        sidebar: { backgroundColor: "#f4f6fb" },
        rightPanel: { backgroundColor: "#14213d" },
      },
    },
    container,
    (error) => {
      if (error) {
        fail(error.message || String(error));
        return;
      }
      status.remove();
      document.body.dataset.reference = "ready";
    },
  );
})();
