// Dyno Edge demo — service worker: the app shell works offline; the API is never cached (money and
// statuses must always be fresh).
const SHELL = "dyno-shell-v3";
const FILES = [
  "/", "/index.html", "/pos.html", "/wallet.html", "/console.html", "/manifest.webmanifest",
  "/assets/app.css", "/assets/api.js", "/assets/home.js", "/assets/pos.js", "/assets/wallet.js", "/assets/console.js", "/assets/charts.js",
  "/vendor/qrcode.min.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== SHELL).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || url.pathname.startsWith("/api/") || url.pathname === "/healthz") {
    return;
  }
  // Network first, so a new deployment shows at once; the cached shell when offline.
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        const copy = response.clone();
        caches.open(SHELL).then((cache) => cache.put(event.request, copy));
        return response;
      })
      .catch(() => caches.match(event.request, { ignoreSearch: true })),
  );
});
