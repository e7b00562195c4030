import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";

/**
 * Debian's Chromium (playwright-core downloads none): its headless shell where installed
 * (package chromium-headless-shell; the same Blink, without the browser's UI layer, as
 * Playwright itself runs headless: a dashboard test file costs half the CPU it costs in
 * the full browser), else the browser (package chromium); CHROMIUM_PATH for another.
 */
function chromiumPath(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  const shell = "/usr/bin/chromium-headless-shell";
  return existsSync(shell) ? shell : "/usr/bin/chromium";
}

/**
 * A headless Chromium for the dashboard tests. As root it needs --no-sandbox; without the
 * background-networking flags it keeps trying hosts this machine's closed network refuses.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * Types `text` into the dashboard's name filter one character at a time, timing each
 * keystroke from its input event to the frame after the table changed, in ms. (Given to
 * the page as it is: it names no inner function, which tsx would wrap in a helper the
 * page does not have.)
 */
export function filterKeystrokes(page: Page, text: string): Promise<number[]> {
  return page.evaluate(async (typed) => {
    const input = document.getElementById("filter-name") as HTMLInputElement;
    input.focus();
    const times: number[] = [];
    for (let i = 1; i <= typed.length; i++) {
      const started = performance.now();
      input.value = typed.slice(0, i);
      input.dispatchEvent(new Event("input", { bubbles: true }));
      await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
      times.push(performance.now() - started);
    }
    return times;
  }, text);
}
