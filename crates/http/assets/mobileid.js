// Progressive enhancement for the pages; every page also works without it.
//
// An element with data-poll="URL" asks URL (JSON {"done": bool, "next": URL, "message": text})
// every two seconds, writes a message into its aria-live region, and follows "next" when done.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const element of document.querySelectorAll("[data-poll]")) {
    poll(element, element.dataset.poll);
  }
});

async function poll(element, url) {
  const live = element.querySelector("[aria-live]") || element;
  for (;;) {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.ok) {
        const state = await response.json();
        if (state.message) {
          live.textContent = state.message;
        }
        if (state.done && state.next) {
          window.location.assign(state.next);
          return;
        }
      }
    } catch (error) {
      live.textContent = element.dataset.offline || live.textContent;
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}
