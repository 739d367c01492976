/** The console's shell: log in with the API key, then a hash router over the pages. */
import { ApiError, logIn, logOut, resumeSession, whenUnauthorized } from './api.ts';
import { clear, field, h, say } from './dom.ts';
import { renderDeadLetters } from './pages/dead-letters.ts';
import { renderEvents } from './pages/events.ts';
import { renderMessage } from './pages/message.ts';
import { renderMessages } from './pages/messages.ts';
import { renderOverview } from './pages/overview.ts';
import { renderRoutes } from './pages/routes.ts';

/** A page draws into `main` and returns what stops its live updates when the user leaves. */
export type Page = (main: HTMLElement, params: string[]) => Promise<(() => void) | void>;

const pages: [RegExp, string, Page][] = [
  [/^\/overview$/, 'Overview', renderOverview],
  [/^\/routes$/, 'Routes', renderRoutes],
  [/^\/messages$/, 'Messages', renderMessages],
  [/^\/messages\/([^/]+)$/, 'Message', renderMessage],
  [/^\/dead-letters$/, 'Dead letters', renderDeadLetters],
  [/^\/events$/, 'Event webhook', renderEvents],
];

const main = document.getElementById('main') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const logoutButton = document.getElementById('logout') as HTMLButtonElement;
let leavePage: (() => void) | void;
let loggedIn = false;

function showLogin(message?: string): void {
  loggedIn = false;
  leavePage?.();
  leavePage = undefined;
  nav.hidden = true;
  logoutButton.hidden = true;
  document.title = 'Log in - mxhook console';
  clear(main);
  const key = h('input', { type: 'password', name: 'api_key', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'error', id: 'login-error', role: 'alert' }, message ?? '');
  const form = h('form', { class: 'login', 'aria-describedby': 'login-error' },
    h('h1', {}, 'Log in to mxhook'),
    h('p', {}, 'Use the API key that mxhook printed when it first started (or MXHOOK_API_KEY).'),
    field('API key', key),
    error,
    h('button', { type: 'submit' }, 'Log in'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    logIn(key.value).then(() => {
      key.value = '';
      enter();
    }, (err: unknown) => {
      error.textContent = err instanceof ApiError && err.status === 401 ? 'That API key is not valid.' : `Could not log in: ${(err as Error).message}`;
      key.focus();
    });
  });
  main.appendChild(form);
  key.focus();
}

function enter(): void {
  loggedIn = true;
  nav.hidden = false;
  logoutButton.hidden = false;
  if (!location.hash || location.hash === '#' || location.hash === '#/') location.hash = '#/overview';
  else void route();
}

async function route(): Promise<void> {
  if (!loggedIn) return;
  const path = location.hash.replace(/^#/, '') || '/overview';
  leavePage?.();
  leavePage = undefined;
  for (const link of nav.querySelectorAll('a')) {
    const current = path === link.getAttribute('href')!.slice(1) || path.startsWith(`${link.getAttribute('href')!.slice(1)}/`);
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  for (const [pattern, title, page] of pages) {
    const match = pattern.exec(path);
    if (!match) continue;
    document.title = `${title} - mxhook console`;
    clear(main);
    try {
      leavePage = await page(main, match.slice(1).map(decodeURIComponent));
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      main.appendChild(h('p', { class: 'error', role: 'alert' }, `Could not load this page: ${(err as Error).message}`));
    }
    main.focus();
    return;
  }
  clear(main);
  main.appendChild(h('h1', {}, 'Not found'));
  main.appendChild(h('p', {}, 'No such page. ', h('a', { href: '#/routes' }, 'Go to the routes')));
}

logoutButton.addEventListener('click', () => {
  logOut().catch(() => {}).finally(() => {
    say('Logged out.');
    showLogin();
  });
});
whenUnauthorized(() => showLogin('Your session ended. Log in again.'));
window.addEventListener('hashchange', () => void route());

resumeSession().then((ok) => (ok ? enter() : showLogin()));
