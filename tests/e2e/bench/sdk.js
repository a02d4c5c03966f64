// The bench's SDK page: the sign-in as an app built on RingCentral's official JS SDK
// (@ringcentral/sdk, its browser bundle `RingCentral.SDK`) would do it, to compare rc-pkce with
// the usual way. On `/` it builds the SDK's platform, enables its sign-in button and sets the
// `sdk:sign-in-ready` mark; a click asks the SDK for its PKCE login URL (`loginUrl` with
// `usePKCE`: the SDK makes the verifier and the S256 challenge), keeps the verifier and a state in
// sessionStorage (the SDK keeps the verifier in memory only, and the page is left for the
// sign-in) and goes there. On `/callback` the SDK exchanges the code (`platform.login` with
// `code` and `code_verifier`; no client secret, so no Basic header and `client_id` in the body),
// then the page reads the extension and the account with `platform.get`, both started at once,
// writes the user's name and sets the `sdk:account-name` mark, as the floor and the app do.
//
// Two SDK options adapt it to the sandbox's CORS rules, both through the SDK's own constructor:
// - `defaultRequestInit: { credentials: "omit" }`: the SDK's default `include` needs
//   `Access-Control-Allow-Credentials`, which the sandbox never sends (the app sends no
//   credentials either);
// - `fetch`: drops the SDK's `X-User-Agent` and `Client-Id` request headers before the request
//   leaves. The sandbox allows only `Authorization`, `Content-Type` and `Accept` in a preflight.
//   With them the token POST would need a preflight too (cached after the first sign-in), so
//   against RingCentral the SDK would do at least what it does here.

const tag = document.querySelector("script[data-server]");
const server = tag.dataset.server;
const clientId = tag.dataset.clientId;
const redirectUri = `${location.origin}/callback`;
const out = document.getElementById("name");

function withoutSdkHeaders(request) {
  request.headers.delete("X-User-Agent");
  request.headers.delete("Client-Id");
  return window.fetch(request);
}

const sdk = new RingCentral.SDK({
  server,
  clientId,
  redirectUri,
  defaultRequestInit: { credentials: "omit" },
  fetch: withoutSdkHeaders,
});
const platform = sdk.platform();

function randomState() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function start() {
  const state = randomState();
  const url = platform.loginUrl({ usePKCE: true, state });
  sessionStorage.setItem("sdk", JSON.stringify({ verifier: platform.codeVerifier, state }));
  location.assign(url);
}

async function callback() {
  const params = new URLSearchParams(location.search);
  const saved = JSON.parse(sessionStorage.getItem("sdk") || "null");
  sessionStorage.removeItem("sdk");
  if (!saved || !params.get("code") || params.get("state") !== saved.state) {
    throw new Error("the callback does not match the sign-in this tab started");
  }
  await platform.login({
    code: params.get("code"),
    code_verifier: saved.verifier,
    redirect_uri: redirectUri,
  });
  const extension = platform.get("/restapi/v1.0/account/~/extension/~").then((r) => r.json());
  const account = platform.get("/restapi/v1.0/account/~").then((r) => r.json());
  out.textContent = (await extension).name;
  performance.mark("sdk:account-name");
  await account;
}

// The bench's mark wait reports `window.benchPageError` when the mark never comes.
function fail(e) {
  window.benchPageError = String(e && e.message ? e.message : e);
  out.textContent = `error: ${window.benchPageError}`;
}

if (location.pathname === "/callback") {
  callback().catch(fail);
} else {
  const button = document.querySelector("[data-testid=sign-in]");
  button.addEventListener("click", () => {
    try {
      start();
    } catch (e) {
      fail(e);
    }
  });
  button.disabled = false;
  out.textContent = "";
  performance.mark("sdk:sign-in-ready");
}
