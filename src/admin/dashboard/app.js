// The dashboard's shell: sign-in and sign-out (the session cookie is HttpOnly: the page never sees it),
// the navigation and a hash router. Pages are async functions that return their element; the overview, a
// proxy's page and the forwards list are rendered again every few seconds while they are shown.
import { api, ApiError, h, notice } from './api.js';
import { certsPage, vmsPage } from './certs.js';
import { editPage } from './edit.js';
import { forwardEditPage } from './forward-edit.js';
import { forwardsPage } from './forwards.js';
import { overviewPage, proxyPage } from './overview.js';

const REFRESH_MS = 5000;
const main = document.getElementById('main');
const nav = document.getElementById('nav');

const routes = [
  { re: /^#\/$/, page: overviewPage, refresh: true, tab: 'overview' },
  { re: /^#\/proxy\/(.+)$/, page: proxyPage, refresh: true, tab: 'overview' },
  { re: /^#\/certs$/, page: certsPage, tab: 'certs' },
  { re: /^#\/vms$/, page: vmsPage, tab: 'vms' },
  { re: /^#\/forwards$/, page: forwardsPage, refresh: true, tab: 'forwards' },
  { re: /^#\/forwards\/edit(?:\/(.+))?$/, page: forwardEditPage, tab: 'forwards' },
  { re: /^#\/edit(?:\/(.+))?$/, page: editPage, tab: 'edit' },
];

let timer = null;
let shown = 0;

function signInForm() {
  const input = h('input', { id: 'token', name: 'token', type: 'password', required: true, autocomplete: 'off', spellcheck: 'false' });
  const msg = h('div', { class: 'form-message' });
  const form = h('form', {
    class: 'signin', onsubmit: async (ev) => {
      ev.preventDefault();
      msg.replaceChildren();
      try {
        await api('POST', '/api/v1/session', { json: { token: input.value } });
        input.value = '';
        await show();
      } catch (err) {
        msg.append(notice('error', err.message));
      }
    },
  },
  h('h1', {}, 'idcs-edge'),
  h('label', { for: 'token' }, 'Admin token'),
  input,
  h('p', { class: 'hint' }, 'The token is in the file admin.tokenFile names (config/admin.token for the shipped config).'),
  h('button', { type: 'submit' }, 'Sign in'),
  msg);
  return form;
}

async function signOut() {
  clearInterval(timer);
  await api('DELETE', '/api/v1/session');
  showSignIn();
}

function showSignIn() {
  clearInterval(timer);
  nav.hidden = true;
  document.title = 'Sign in · idcs-edge';
  main.replaceChildren(signInForm());
  document.getElementById('token').focus();
}

function markTab(tab) {
  for (const a of nav.querySelectorAll('a[data-tab]')) a.classList.toggle('active', a.dataset.tab === tab);
}

/** Renders the page the hash names; every call supersedes the ones before (a slow render never lands late). */
async function show() {
  clearInterval(timer);
  const hash = location.hash || '#/';
  const route = routes.find((r) => r.re.test(hash));
  if (!route) { location.hash = '#/'; return; }
  const arg = route.re.exec(hash)[1];
  const mine = ++shown;
  const render = async () => {
    try {
      const el = await route.page(arg === undefined ? undefined : decodeURIComponent(arg));
      if (mine !== shown) return;
      nav.hidden = false;
      markTab(route.tab);
      main.replaceChildren(el);
    } catch (err) {
      if (mine !== shown) return;
      if (err instanceof ApiError && err.status === 401) { showSignIn(); return; }
      main.replaceChildren(notice('error', `Could not load this page: ${err.message}`));
    }
  };
  await render();
  // Never re-rendered under the operator's hands: not while a field has focus.
  const typing = () => ['INPUT', 'SELECT', 'TEXTAREA'].includes(document.activeElement?.tagName ?? '');
  if (route.refresh && mine === shown) timer = setInterval(() => { if (!typing()) void render(); }, REFRESH_MS);
}

document.getElementById('signout').addEventListener('click', () => { void signOut(); });
window.addEventListener('hashchange', () => { void show(); });

const { signedIn } = await api('GET', '/api/v1/session');
if (signedIn) await show(); else showSignIn();
