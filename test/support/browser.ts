import { chromium, type Browser, type Page } from "playwright-core";

/** Debian's chromium (playwright-core downloads none); CHROMIUM_PATH for another. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * A headless Chromium for the dashboard tests. As root it needs --no-sandbox; without the
 * background-networking flags it keeps trying hosts this machine's closed network refuses.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
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
