// Self-healing in the dashboard: a "quarantined" badge under a row's health, with a button
// that clears the quarantine for operators and admins. Kept apart from app.js, which hands
// it what it needs and calls renderQuarantine for each row it renders.
import { addMessages, t } from "./i18n.js";

addMessages({
  ko: {
    quarantined: "격리됨",
    quarantinedHint: "자동 재시작 한도를 다 썼습니다: 격리를 해제할 때까지 Fleetvisor가 스스로 재시작하지 않습니다.",
    clearQuarantine: "격리 해제",
    quarantineCleared: "{name}: 격리를 해제했습니다. 자동 재시작이 다시 가능합니다.",
    quarantineClearFailed: "{name}의 격리를 해제하지 못했습니다: {error}",
  },
  en: {
    quarantined: "quarantined",
    quarantinedHint:
      "Its automatic-restart budget is spent: Fleetvisor does not restart it by itself until the quarantine is cleared.",
    clearQuarantine: "clear quarantine",
    quarantineCleared: "{name}: quarantine cleared; automatic restarts may resume.",
    quarantineClearFailed: "Could not clear the quarantine of {name}: {error}",
  },
});

const CLEAR = "mutation($n: String!) { clearQuarantine(name: $n) { name quarantined } }";

/** The quarantine part of each row, made once per row (so focus survives updates). */
const parts = new WeakMap();

/**
 * `host`: { request, confirm(name, action), canControl(), update(name, fields), describeError,
 * report(kind, text) } — what app.js lends.
 */
export function setupHealing(host) {
  const busy = new Set();

  async function clear(name) {
    if (busy.has(name) || !(await host.confirm(name, "clearQuarantine"))) return;
    busy.add(name);
    try {
      const { data, errors } = await host.request(CLEAR, { n: name });
      const process = data?.clearQuarantine;
      if (!process) throw errors?.[0] ?? new Error("no data");
      host.update(name, { quarantined: process.quarantined });
      host.report("info", t("quarantineCleared", { name }));
    } catch (error) {
      host.report("error", t("quarantineClearFailed", { name, error: host.describeError(error) }));
    } finally {
      busy.delete(name);
    }
  }

  /** Shows or hides the badge (and the clear button) in the row's health cell. */
  function renderQuarantine(row, process) {
    let part = parts.get(row);
    if (!part) {
      const badge = document.createElement("span");
      badge.className = "badge quarantined";
      badge.dataset.testid = "quarantined";
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-small btn-clear-quarantine";
      button.dataset.testid = "action-clear-quarantine";
      button.addEventListener("click", () => clear(row.tr.dataset.name));
      const box = document.createElement("div");
      box.className = "quarantine";
      box.append(badge, button);
      row.health.after(box);
      part = { box, badge, button };
      parts.set(row, part);
    }
    part.box.hidden = !process.quarantined;
    part.badge.textContent = t("quarantined");
    part.badge.title = t("quarantinedHint");
    part.button.textContent = t("clearQuarantine");
    part.button.hidden = !host.canControl();
  }

  return { renderQuarantine };
}
