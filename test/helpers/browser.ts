/**
 * Real headless Chromium for the dashboard tests: Debian's `chromium` package driven by playwright-core,
 * launched with a fresh profile per test. Every console error and uncaught exception of a page is kept, and
 * the test fails on any it did not expect. Screenshots go to test/browser/screenshots/ (git-ignored).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

type Ctx = { after(fn: () => unknown): void };

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(import.meta.dirname, '..', 'browser', 'screenshots');

/**
 * Why the browser tests cannot run here, or undefined. Without Chromium they are skipped on a developer's
 * machine, but never where IDCS_EDGE_BROWSER_TESTS=required (.ci/run sets it): there they run, and fail.
 */
export function browserSkipReason(): string | undefined {
  if (existsSync(CHROMIUM) || process.env.IDCS_EDGE_BROWSER_TESTS === 'required') return undefined;
  return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH); .ci/run installs it and makes these tests mandatory`;
}

export interface Browser {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Console errors and page errors so far. */
  readonly errors: string[];
  /** Saves a full-page screenshot as screenshots/<name>.png and returns its path. */
  screenshot(name: string): Promise<string>;
  /** Fails unless every console error matches one of `expected` (each must match at least once). */
  assertNoConsoleErrors(expected?: readonly RegExp[]): void;
}

/** A new Chromium with its own profile, closed (and the profile removed) after the test. */
export async function openBrowser(t: Ctx): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'edge-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1400, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  t.after(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(15_000);
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return {
    page, context, errors,
    async screenshot(name) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      const path = join(SCREENSHOTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    assertNoConsoleErrors(expected = []) {
      const unexpected = errors.filter((e) => !expected.some((re) => re.test(e)));
      assert.deepEqual(unexpected, [], `the page logged errors: ${unexpected.join(' | ')}`);
      for (const re of expected) assert.ok(errors.some((e) => re.test(e)), `expected a console error matching ${re}`);
    },
  };
}

/** Opens the dashboard at `url` and signs in with `token`; resolves once the overview shows. */
export async function signIn(b: Browser, url: string, token: string): Promise<void> {
  await b.page.goto(url);
  await b.page.fill('#token', token);
  await b.page.click('form.signin button[type=submit]');
  await b.page.waitForSelector('#nav:not([hidden])');
}
