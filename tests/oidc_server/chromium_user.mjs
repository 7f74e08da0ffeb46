// A BROWSER command for cclogin's tests: Debian's real Chromium, headless, plays the
// user. It opens the URL cclogin gives it, signs in on oidc-provider's development
// login page, grants consent, follows the redirect to cclogin's loopback listener and
// writes the title of the page it ends on to $RESULT_FILE. Driven by playwright-core,
// which downloads no browser of its own.
import fs from 'node:fs';

import { chromium } from 'playwright-core';

const url = process.argv[2];
const resultFile = process.env.RESULT_FILE;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  headless: true,
  // The flags Chromium needs as root in a sandboxed machine with no outside network.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  await page.goto(url);
  await page.fill('input[name=login]', 'alice@example.test');
  await page.fill('input[name=password]', 'any-password');
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/callback', { timeout: 30000 }),
    page.click('button[type=submit]'),
  ]);
  await page.waitForLoadState('load');
  if (resultFile) fs.writeFileSync(resultFile, `${await page.title()}\n`);
} finally {
  await browser.close();
}
