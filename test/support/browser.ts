// A real browser for the end-to-end suites: Debian's Chromium driven by playwright-core, kept off the network.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env['SAG_TEST_CHROMIUM'] ?? '/usr/bin/chromium';
export const SCREENSHOT_DIR = join('test-artifacts', 'screenshots');

export const LAPTOP = { width: 1280, height: 800 } as const;
export const MOBILE = { width: 390, height: 844 } as const;

/**
 * Starts several pieces of a suite's setup at once. If any fails, the ones that did start are closed before the
 * error is thrown: a browser or server left running after a failed `before` keeps the test process alive, and the
 * whole run waits on it.
 */
export async function startTogether<T extends readonly unknown[]>(
  starts: { readonly [K in keyof T]: Promise<T[K]> },
  closeOf: (value: unknown) => Promise<unknown> | undefined = defaultClose,
): Promise<T> {
  const settled = await Promise.allSettled(starts as readonly Promise<unknown>[]);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (!failed) return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
  await Promise.allSettled(settled.flatMap((s) => (s.status === 'fulfilled' ? [closeOf(s.value)] : [])));
  throw failed.reason;
}

function defaultClose(value: unknown): Promise<unknown> | undefined {
  const close = (value as { close?: () => Promise<unknown> } | null)?.close;
  return typeof close === 'function' ? close.call(value) : undefined;
}

/** Headless Chromium that never phones home: the sandbox is closed to the internet and we run as root. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export interface PageOptions {
  /** Sent as Accept-Language and used as the browser's locale (default `en`). */
  locale?: string;
  viewport?: { width: number; height: number };
  /** Default `light`, so screenshots do not depend on the machine's theme. */
  colorScheme?: 'light' | 'dark';
  isMobile?: boolean;
}

export interface OpenPage {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** A fresh context (own cookies) with one page that speaks `locale`. */
export async function openPage(browser: Browser, opts: PageOptions = {}): Promise<OpenPage> {
  const locale = opts.locale ?? 'en';
  const mobile = opts.isMobile ?? false;
  const context = await browser.newContext({
    locale,
    extraHTTPHeaders: { 'Accept-Language': acceptLanguageFor(locale) },
    viewport: opts.viewport ?? LAPTOP,
    colorScheme: opts.colorScheme ?? 'light',
    isMobile: mobile,
    hasTouch: mobile,
    deviceScaleFactor: 1,
  });
  context.setDefaultTimeout(5_000);
  context.setDefaultNavigationTimeout(10_000);
  const page = await context.newPage();
  return { context, page, close: () => context.close() };
}

function acceptLanguageFor(locale: string): string {
  const primary = locale.split('-')[0]!;
  return primary === locale ? locale : `${locale},${primary};q=0.9`;
}

/** Saves the full page as test-artifacts/screenshots/<name>.png and returns the path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true, animations: 'disabled', caret: 'initial' });
  return path;
}
