// The bench's floor: the least a page can do for the same sign-in as rc-pkce, with no framework
// and no WebAssembly. On `/` it enables its sign-in button and sets the `floor:sign-in-ready` mark
// (as the app sets `rc-pkce:sign-in-ready`); a click makes a PKCE verifier and challenge with
// crypto.subtle, keeps them in sessionStorage and goes to the sandbox's authorize endpoint. On
// `/callback` it makes exactly the app's requests with fetch: the token POST (a CORS simple
// request: form body, Accept application/json, no credentials), then the extension and account
// GETs in parallel; it writes the user's name and sets the `floor:account-name` mark, as the app
// sets `rc-pkce:account-name`. `cargo xtask bench` compares the marks.

const tag = document.querySelector("script[data-server]");
const server = tag.dataset.server;
const clientId = tag.dataset.clientId;
const redirectUri = `${location.origin}/callback`;
const out = document.getElementById("name");
// The same request options as the app: tokens never cached, API calls in the default cache mode
// (so their CORS preflights are cached too).
const plain = { credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" };
const api = { credentials: "omit", referrerPolicy: "no-referrer" };

function base64url(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function start() {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  sessionStorage.setItem("floor", JSON.stringify({ verifier, state }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    state,
    code_challenge: base64url(digest),
    code_challenge_method: "S256",
  });
  location.assign(`${server}/restapi/oauth/authorize?${query}`);
}

async function callback() {
  const params = new URLSearchParams(location.search);
  const saved = JSON.parse(sessionStorage.getItem("floor") || "null");
  sessionStorage.removeItem("floor");
  if (!saved || !params.get("code") || params.get("state") !== saved.state) {
    throw new Error("the callback does not match the sign-in this tab started");
  }
  const token = await fetch(`${server}/restapi/oauth/token`, {
    ...plain,
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: params.get("code"),
      redirect_uri: redirectUri,
      code_verifier: saved.verifier,
      client_id: clientId,
    }).toString(),
  }).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`token: ${r.status}`))));
  const get = (path) =>
    fetch(`${server}/restapi/v1.0${path}`, {
      ...api,
      headers: { Accept: "application/json", Authorization: `Bearer ${token.access_token}` },
    }).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`${path}: ${r.status}`))));
  const extension = get("/account/~/extension/~");
  const account = get("/account/~");
  out.textContent = (await extension).name;
  performance.mark("floor:account-name");
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
  button.addEventListener("click", () => start().catch(fail));
  button.disabled = false;
  out.textContent = "";
  performance.mark("floor:sign-in-ready");
}
