// Starts the WebAssembly app.
//
// trunk would inject an inline <script> for this; an external module lets the Content-Security-
// Policy forbid inline scripts entirely. trunk fills in the base path and the app's hashed file
// names as data attributes (see pattern_script in Trunk.toml).
//
// On `/` and on the redirect URI a small first-load module runs before the app (src/first_load):
// on `/` it makes the sign-in button work before the app is even downloaded; at the redirect URI
// it sends the token request while the app loads. Then the app starts and takes over the page.
// trunk builds them as "workers" (it allows one main module per page); a post-build hook gives
// their files hashed names (data-home, data-callback) so they are cached like the app's.
const tag = document.querySelector("script[data-js]");
const base = new URL(tag.dataset.base, location.origin).pathname;
const callbackPath = `${base}oauth2callback`;
const firstLoad = { [base]: tag.dataset.home, [callbackPath]: tag.dataset.callback }[location.pathname];
// Its .wasm downloads and compiles while its JS module loads (a compiled module is what the glue's
// init takes; a refused compile only costs the head start, see below).
const firstLoadWasm =
  firstLoad && typeof WebAssembly === "object" && WebAssembly.compileStreaming?.(fetch(`${firstLoad}_bg.wasm`));
firstLoadWasm?.catch(() => {});

// config.json is needed first thing; fetch it while the wasm modules download and compile. The
// modules take this promise (or fetch by themselves if it is missing or failed).
const configUrl = new URL(`${base}config.json`, location.origin).href;
window.rcPkceConfig = fetch(configUrl, { cache: "no-cache", credentials: "same-origin", referrerPolicy: "no-referrer" })
  .then(async (r) => ({ url: configUrl, status: r.status, body: await r.text() }));
window.rcPkceConfig.catch(() => {});

// Kept for diagnostics and checked by the end-to-end tests: the page must never trip its own CSP.
window.rcPkceCspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.rcPkceCspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});

function fail(...messages) {
  const root = document.getElementById("app");
  root.replaceChildren(
    ...messages.filter(Boolean).map((message) => {
      const p = document.createElement("p");
      p.className = "shell-error";
      p.setAttribute("role", "alert");
      p.textContent = message;
      return p;
    }),
  );
}

// The way back from the sign-in page lands on the redirect URI, whose first-load module no other
// page loads: without this, that page would download it before it could send the code, while the
// app itself is already cached. Its names are hashed and cached for a year, so this is one download
// per release, fetched at low priority once the app runs (never before the sign-in button works).
function cacheCallbackModule() {
  for (const url of [`${tag.dataset.callback}.js`, `${tag.dataset.callback}_bg.wasm`]) {
    fetch(url, { priority: "low", credentials: "same-origin" })
      .then((r) => r.arrayBuffer())
      .catch(() => {});
  }
}

async function start(js, wasm) {
  const [module, compiled] = await Promise.all([import(js), wasm]);
  await module.default({ module_or_path: compiled });
  return module;
}

if (typeof WebAssembly !== "object") {
  fail("This browser cannot run WebAssembly, which this app needs. Use a current version of Chrome, Edge, Firefox or Safari.");
} else {
  let early;
  if (firstLoad) {
    try {
      early = await start(`${firstLoad}.js`, firstLoadWasm);
      await early.first_load();
    } catch {
      // Only a head start: the app does everything the first-load module does.
    }
  }
  try {
    await start(tag.dataset.js, tag.dataset.wasm);
    if (location.pathname !== callbackPath) {
      if ("requestIdleCallback" in window) requestIdleCallback(cacheCallbackModule);
      else setTimeout(cacheCallbackModule, 0);
    }
  } catch (err) {
    const why =
      `The app could not start (${err && err.message ? err.message : err}). Reload the page. ` +
      "If this persists, the site is misconfigured: the .wasm file must be served as application/wasm.";
    fail(why);
    // At the redirect URI the first-load module may have exchanged the code already: with no app
    // to keep the tokens, it revokes them, and says so.
    if (early?.abandon) fail(why, await early.abandon().catch(() => null));
  }
}
