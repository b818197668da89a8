// The web authenticator's service worker: it keeps the app's page and files, so that the
// app opens without a network and says that it is offline. The device API is never
// cached: requests and approvals need the server.
"use strict";

const CACHE = "mobileid-authenticator-v1";
const SHELL = new URL("./", self.location).pathname;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.add(new Request(SHELL, { cache: "no-store" }));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (event.request.mode === "navigate" && url.pathname === SHELL) {
    // The newest page when online, the kept one when not.
    event.respondWith((async () => {
      try {
        const page = await fetch(event.request);
        if (page.ok) (await caches.open(CACHE)).put(SHELL, page.clone());
        return page;
      } catch {
        return (await caches.match(SHELL)) || Response.error();
      }
    })());
  } else if (url.pathname.startsWith("/assets/")) {
    // The files' URLs name their content, so a kept copy is always the right one; the
    // first fetch of each is kept.
    event.respondWith((async () => {
      const kept = await caches.match(event.request);
      if (kept) return kept;
      const fetched = await fetch(event.request);
      if (fetched.ok) (await caches.open(CACHE)).put(event.request, fetched.clone());
      return fetched;
    })());
  }
});
