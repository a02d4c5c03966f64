// Starts the WebAssembly app.
//
// trunk would inject an inline <script> for this; an external module lets the Content-Security-
// Policy forbid inline scripts entirely. trunk fills in the hashed file names as data attributes
// (see pattern_script in Trunk.toml).
const tag = document.querySelector("script[data-js]");

// config.json is needed first thing; fetch it while the wasm module downloads and compiles. The app
// takes this promise (or fetches by itself if it is missing or failed).
const configUrl = new URL(`${tag.dataset.base}config.json`, location.origin).href;
window.rcPkceConfig = fetch(configUrl, { cache: "no-cache", credentials: "same-origin", referrerPolicy: "no-referrer" })
  .then(async (r) => ({ url: configUrl, status: r.status, body: await r.text() }));
window.rcPkceConfig.catch(() => {});

// Kept for diagnostics and checked by the end-to-end tests: the page must never trip its own CSP.
window.rcPkceCspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.rcPkceCspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});

function fail(message) {
  const app = document.getElementById("app");
  const p = document.createElement("p");
  p.className = "shell-error";
  p.setAttribute("role", "alert");
  p.textContent = message;
  app.replaceChildren(p);
}

if (typeof WebAssembly !== "object") {
  fail("This browser cannot run WebAssembly, which this app needs. Use a current version of Chrome, Edge, Firefox or Safari.");
} else {
  try {
    const { default: init } = await import(tag.dataset.js);
    await init({ module_or_path: tag.dataset.wasm });
  } catch (err) {
    fail(
      `The app could not start (${err && err.message ? err.message : err}). Reload the page. ` +
        "If this persists, the site is misconfigured: the .wasm file must be served as application/wasm.",
    );
  }
}
