// A service worker for the kiosk and tablet pages only (scopes /kiosk and /tablet).
//
// A room screen may be switched on, or its browser restarted, while the server or the
// network is down. With the page's shell cached, it still comes up, shows its last
// programme and keeps retrying, instead of showing the browser's error page that nobody
// is there to reload. Always the network first: the cache is only the fallback. API calls
// and the WebSocket are never cached.

const CACHE = "kohtaamo-device-shell-v1";
const SHELL = [
  "/kiosk",
  "/tablet",
  "/static/kohtaamo.css",
  "/static/kiosk.css",
  "/static/survey.css",
  "/static/js/call.js",
  "/static/js/device.js",
  "/static/js/kiosk.js",
  "/static/js/stage.js",
  "/static/js/survey.js",
  "/static/js/tablet.js",
  "/static/js/ui.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(SHELL);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

function isShell(url) {
  return url.pathname === "/kiosk" || url.pathname === "/tablet" || url.pathname.startsWith("/static/");
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || !isShell(url)) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const response = await fetch(event.request);
        if (response.ok) await cache.put(event.request, response.clone());
        return response;
      } catch (error) {
        // The page varies by Accept-Language, which a stored request does not carry.
        const cached =
          (await cache.match(event.request, { ignoreVary: true })) ||
          (await cache.match(event.request, { ignoreVary: true, ignoreSearch: true }));
        if (cached) return cached;
        throw error;
      }
    })(),
  );
});
