/**
 * The web console in real Chromium (Debian's, driven by playwright-core) against a real mxhook:
 * log in, a wrong key refused, create a route, see a dead letter and replay it, find the message
 * in the log, see its attempts and redeliver it, a route's reply and raw 8-bit options, the overview's charts (live), add an event destination, a change without the CSRF token refused, log out; axe-core finds no serious or critical violation on any page.
 * With MXHOOK_SCREENSHOTS=1, screenshots of each page go to docs/screenshots/ for the docs (only then:
 * each run renders them anew, and a test run should not leave the tree changed).
 */
import { execFileSync } from 'node:child_process';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, seriousViolations } from './helpers/browser.ts';
import { startTestMxhook, TEST_API_KEY, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver } from './helpers/receiver.ts';
import { sendMail } from './helpers/smtp.ts';
import { redisPerFile } from './helpers/suite.ts';

const suite = redisPerFile();
let mx: TestMxhook;
let app: Receiver;
let browser: Browser;
let page: Page;
let base: string;
let appAnswer = 400;

beforeAll(async () => {
  // The console's assets are built by `npm run build`; build them here so the test needs no step before it.
  execFileSync(process.execPath, ['scripts/build-console.mjs'], { stdio: 'inherit' });
  mx = suite.later(await startTestMxhook(suite.redis.socketPath, ['--raw-retention', '1h']));
  app = suite.later(await startReceiver(() => ({ status: appAnswer, body: appAnswer === 200 ? 'ok' : 'no such ticket' })));
  base = `http://127.0.0.1:${mx.apiPort}`;
  browser = await launchChromium();
  suite.afterwards(() => browser.close());
  page = await browser.newPage();
}, 60_000);

afterAll(async () => {
  await page?.close().catch(() => {});
});

const shot = async (name: string) => {
  if (process.env.MXHOOK_SCREENSHOTS === '1') await page.screenshot({ path: `docs/screenshots/console-${name}.png`, fullPage: true });
};

async function expectAccessible(what: string): Promise<void> {
  const violations = await seriousViolations(page);
  expect(violations, `${what}: ${JSON.stringify(violations)}`).toEqual([]);
}

describe('web console', () => {
  it('is served with a strict Content-Security-Policy and no session without the key', async () => {
    const res = await fetch(`${base}/ui/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await fetch(`${base}/ui/session`)).status).toBe(401);
  });

  it('refuses a wrong key, then logs in with the right one', async () => {
    await page.goto(`${base}/ui/`);
    await page.getByLabel('API key').fill('not-the-key');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.getByRole('alert').first().textContent()).toContain('not valid');
    await expectAccessible('login page');
    await shot('login');
    await page.getByLabel('API key').fill(TEST_API_KEY);
    await page.getByRole('button', { name: 'Log in' }).click();
    // The overview is the landing page.
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'mxhook_session');
    expect(session?.httpOnly).toBe(true);
    expect(session?.sameSite).toBe('Strict');
  });

  it('creates a route from the form; its secret is shown once', async () => {
    await page.getByRole('link', { name: 'Routes' }).click();
    await page.getByRole('heading', { name: 'Routes', level: 1 }).waitFor();
    await page.getByLabel('Hostname').fill('console.example');
    await page.getByLabel('URL', { exact: true }).fill(app.url);
    // Raw mode's 8-bit option only applies with raw mode; reply text only without it.
    const create = page.getByRole('form', { name: 'Create a route' });
    expect(await create.getByLabel('Raw mode: 8-bit parts').isDisabled()).toBe(true);
    await create.getByLabel('POST the raw message').check();
    expect([await create.getByLabel('Raw mode: 8-bit parts').isDisabled(), await create.getByLabel('Strip replies').isDisabled()]).toEqual([false, true]);
    await create.getByLabel('POST the raw message').uncheck();
    await create.getByLabel('Strip replies').check();
    await page.getByRole('button', { name: 'Create route' }).click();
    await page.getByRole('cell', { name: 'console.example', exact: true }).waitFor();
    const secret = await page.locator('code.secret').textContent();
    expect(secret).toMatch(/\S{20,}/);
    const routes = await fetch(`${base}/v3/user/webhooks/parse/settings`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } }).then((r) => r.json());
    expect(routes.result.find((r: { hostname: string }) => r.hostname === 'console.example')).toMatchObject({ strip_replies: true });
    await page.getByRole('cell', { name: 'parsed, strip replies', exact: true }).waitFor();
    await expectAccessible('routes page');
    await shot('routes');
  });

  it('edits a route\'s raw 8-bit option; shows it in the list', async () => {
    await page.getByRole('button', { name: 'Manage console.example' }).click();
    const edit = page.getByRole('form', { name: 'Edit' });
    await edit.getByLabel('POST the raw message').check();
    await edit.getByLabel('Raw mode: 8-bit parts').selectOption('encode');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('cell', { name: 'raw, 8-bit parts encoded', exact: true }).waitFor();
    const setting = () => fetch(`${base}/v3/user/webhooks/parse/settings/console.example`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } }).then((r) => r.json());
    expect(await setting()).toMatchObject({ send_raw: true, raw_8bit: 'encode', strip_replies: true });
    // Back to parsed mode: the tests after this one read parsed POSTs.
    await edit.getByLabel('POST the raw message').uncheck();
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('cell', { name: 'parsed, strip replies', exact: true }).waitFor();
    expect(await setting()).toMatchObject({ send_raw: false, raw_8bit: 'encode', strip_replies: true });
  });

  it('shows and edits a route\'s address rules; a bad rule is refused naming it', async () => {
    await page.getByRole('heading', { name: 'Address rules' }).waitFor();
    await page.getByRole('button', { name: 'Add a rule' }).click();
    await page.getByLabel('Rule 1 match').fill('support');
    await page.getByLabel('Rule 1 URL').fill(app.url);
    await page.getByRole('button', { name: 'Add a rule' }).click();
    await page.getByLabel('Rule 2 match').fill('bad*rule');
    await page.getByLabel('Rule 2 action').selectOption('drop');
    await page.getByRole('button', { name: 'Save rules' }).click();
    await expect.poll(() => page.locator('#status').textContent()).toContain('address_rules[1].match: invalid match pattern');
    await page.getByLabel('Rule 2 match').fill('noreply');
    await page.getByRole('button', { name: 'Move rule 2 up' }).click();
    await page.getByRole('button', { name: 'Save rules' }).click();
    await expect.poll(() => page.locator('#status').textContent()).toContain('Address rules saved');
    const route = await fetch(`${base}/v3/user/webhooks/parse/settings/console.example`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } }).then((r) => r.json());
    expect(route.address_rules).toEqual([{ match: 'noreply', action: 'drop' }, { match: 'support', action: 'deliver', url: app.url }]);
    await page.getByRole('cell', { name: /2 address rules/ }).waitFor();
    await expectAccessible('routes page with address rules');
    // Removed again: the tests after this one send mail to this route.
    await page.getByRole('button', { name: 'Remove rule 2' }).click();
    await page.getByRole('button', { name: 'Remove rule 1' }).click();
    await page.getByRole('button', { name: 'Save rules' }).click();
    await expect.poll(async () => (await fetch(`${base}/v3/user/webhooks/parse/settings/console.example`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } }).then((r) => r.json())).address_rules).toBeUndefined();
  });

  it('refuses a change carrying the session cookie but not the CSRF token', async () => {
    const status = await page.evaluate(async () => {
      const res = await fetch('/v3/user/webhooks/parse/settings', {
        method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ hostname: 'csrf.example', url: 'http://127.0.0.1:1/x' }),
      });
      return res.status;
    });
    expect(status).toBe(403);
    const routes = await fetch(`${base}/v3/user/webhooks/parse/settings`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } }).then((r) => r.json());
    expect(routes.result.map((r: { hostname: string }) => r.hostname)).not.toContain('csrf.example');
  });

  it('shows a dead letter and replays it to the app', async () => {
    await sendMail(mx.smtpPort!, { from: 'customer@sender.test', to: 'help@console.example', subject: 'Where is my order?', text: 'Hello' });
    await app.waitFor(1);
    await page.getByRole('link', { name: 'Dead letters' }).click();
    await page.getByRole('heading', { name: 'Dead letters', level: 1 }).waitFor();
    const row = page.getByRole('row').filter({ hasText: 'console.example' });
    await expect.poll(async () => {
      if (await row.count()) return true;
      await page.getByRole('button', { name: 'Show' }).click();
      return false;
    }, { timeout: 10_000 }).toBe(true);
    await expect.poll(() => row.first().textContent()).toContain('HTTP 400');
    await row.first().getByRole('button', { name: /^Inspect / }).click();
    await page.getByRole('heading', { name: /^Dead letter / }).waitFor();
    await expectAccessible('dead letters page');
    await shot('dead-letters');
    appAnswer = 200;
    await row.first().getByRole('button', { name: /^Replay / }).click();
    const [, replayed] = await app.waitFor(2);
    expect(replayed.fields.subject).toBe('Where is my order?');
    expect(replayed.headers['x-mxhook-replay-of']).toMatch(/\.1$/);
  });

  it('finds the message in the log, shows its attempts and what the app receives, and redelivers it', async () => {
    await page.getByRole('link', { name: 'Messages', exact: true }).click();
    await page.getByRole('heading', { name: 'Messages', level: 1 }).waitFor();
    await page.getByLabel('Subject words').fill('order');
    await page.getByRole('button', { name: 'Filter' }).click();
    // Newest first: the replayed copy, delivered (200), above the original (dead-lettered, 400).
    const link = page.getByRole('link', { name: 'Where is my order?' });
    await expect.poll(() => link.count(), { timeout: 10_000 }).toBe(2);
    await expectAccessible('messages page');
    await shot('messages');
    await link.first().click();
    await page.getByRole('heading', { name: 'Where is my order?', level: 1 }).waitFor();
    await expect.poll(async () => {
      if (await page.getByRole('cell', { name: 'HTTP 200', exact: true }).count()) return true;
      await page.reload();
      return false;
    }, { timeout: 10_000 }).toBe(true);
    await page.getByRole('heading', { name: /: delivered$/ }).waitFor();
    await page.getByRole('heading', { name: 'What your app receives' }).waitFor();
    expect(await page.locator('pre.body-text').first().textContent()).toContain('Hello');
    // The route strips replies: the preview shows the field its app gets.
    expect(await page.locator('.posted-as').textContent()).toBe('Posted as multipart/form-data, with these fields.');
    await page.getByRole('cell', { name: 'stripped_text', exact: true }).waitFor();
    await expectAccessible('message page');
    await shot('message');
    await page.getByRole('button', { name: 'Redeliver' }).click();
    const [, , third] = await app.waitFor(3);
    expect(third.fields.subject).toBe('Where is my order?');
    expect(third.headers['x-mxhook-replay-of']).toBeTruthy();
  });

  it('sends a test mail from the Routes page and shows what the app answered', async () => {
    await page.getByRole('link', { name: 'Routes' }).click();
    await page.getByRole('button', { name: 'Manage console.example' }).click();
    await page.getByRole('button', { name: 'Send a test mail' }).click();
    await expect.poll(() => page.locator('.test-result').textContent(), { timeout: 20_000 }).toContain('Your app answered HTTP 200');
    expect(await page.locator('.test-result').textContent()).toContain('delivered');
    const test = app.posts.at(-1)!;
    expect(test.fields.subject).toBe('mxhook test mail');
    expect(test.fields.attachments).toBe('1');
    await expectAccessible('routes page with a test result');
  });

  it('shows the overview as charts with accessible names, reachable by keyboard, and updates it live', async () => {
    const refused = await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'x@nowhere.example', subject: 'refused', text: 'x' }).catch((err: { responseCode?: number }) => err);
    expect((refused as { responseCode?: number }).responseCode).toBe(550);
    // Refusals are written about once a second (they send no event): wait for it before opening the page.
    const overview = () => fetch(`${base}/v3/user/webhooks/parse/overview`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } }).then((r) => r.json());
    await expect.poll(async () => (await overview()).refusals.length, { timeout: 10_000 }).toBe(1);
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    const names = [/^Messages per minute\. received: latest \d+, peak [1-9]/, /^Receipt to delivered, milliseconds: p50 \d+ ms; p99 \d+ ms$/, /^Deliveries by state: waiting \d+; active/,
      /^Refusals by reason and hostname: RELAY_DENIED nowhere\.example 1$/, /^Failed attempts per route, percent: console\.example [\d.]+%$/];
    const labels = () => page.locator('svg[role="img"]').evaluateAll((svgs) => svgs.map((svg) => svg.getAttribute('aria-label')).join('\n'));
    for (const name of names) await expect.poll(async () => (await page.getByRole('img', { name }).count()) || await labels(), { timeout: 10_000 }).toBe(1);
    expect(await page.locator('figure svg[role="img"]').count()).toBe(5);
    await expectAccessible('overview page');
    // The screenshot without an earlier page's passing notice.
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 10_000 }).toBe('');
    await shot('overview');
    // Tab from the heading reaches each chart, then its table of numbers.
    await page.getByRole('heading', { name: 'Overview', level: 1 }).click();
    const reached: string[] = [];
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      reached.push(await page.evaluate(() => document.activeElement?.id ?? ''));
    }
    expect(reached).toEqual(expect.arrayContaining(['chart-flow', 'chart-flow-summary', 'chart-latency', 'chart-queue', 'chart-refusals', 'chart-routes']));
    await page.getByText('Numbers: Messages per minute').click();
    await expectAccessible('overview page with a table of numbers open');
    const receivedSum = () => page.evaluate(() => [...document.querySelectorAll('#chart-flow-numbers tbody tr')].reduce((n, tr) => n + Number(tr.children[1]?.textContent ?? 0), 0));
    const before = await receivedSum();
    expect(before).toBeGreaterThanOrEqual(2);
    // Live: a new message shows without a reload, and the open table stays open.
    await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'help@console.example', subject: 'live', text: 'x' });
    await expect.poll(receivedSum, { timeout: 15_000 }).toBe(before + 1);
    expect(await page.locator('#chart-flow-numbers').getAttribute('open')).not.toBeNull();
  });

  it('adds an event destination from the Events page and lists it; its secret is shown once', async () => {
    const events = suite.later(await startReceiver());
    await page.getByRole('link', { name: 'Events' }).click();
    await page.getByRole('heading', { name: 'Event webhook', level: 1 }).waitFor();
    await page.getByLabel('URL', { exact: true }).fill(events.url);
    await page.getByLabel('refused', { exact: true }).uncheck();
    await page.getByRole('button', { name: 'Add destination' }).click();
    await page.getByRole('cell', { name: events.url, exact: true }).waitFor();
    expect(await page.locator('code.secret').textContent()).toMatch(/^whsec_\S{20,}/);
    await expectAccessible('events page');
    const listed = await fetch(`${base}/v3/user/webhooks/event/settings`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } }).then((r) => r.json());
    const made = listed.result.find((d: { url: string }) => d.url === events.url);
    expect(made).toMatchObject({ enabled: true });
    expect(made.events).not.toContain('refused');
    await page.getByRole('button', { name: `Disable ${made.id}` }).click();
    await page.getByRole('cell', { name: 'disabled', exact: true }).waitFor();
  });

  it('logs out: the session no longer works', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('API key').waitFor();
    const status = await page.evaluate(async () => (await fetch('/v3/user/webhooks/parse/settings', { credentials: 'same-origin' })).status);
    expect(status).toBe(401);
  });
});
