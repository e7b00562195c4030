// The log view's "follow" switch: while it is on, the open log is followed over graphql-ws
// (Subscription.processLog) instead of being polled, from the offset the view has reached;
// after a reconnect it resubscribes from the last offset received, and drops anything the
// client library sends again. Kept apart from app.js, which hands it what it needs.
import { addMessages, t } from "./i18n.js";

addMessages({
  ko: {
    logFollow: "실시간",
    logFollowing: "실시간으로 따라가는 중",
    logFollowRetry: "실시간 로그가 끊겼습니다 ({error}). 다시 연결합니다…",
    logGap: "… {message} …",
  },
  en: {
    logFollow: "Follow",
    logFollowing: "Following live",
    logFollowRetry: "Following stopped ({error}); reconnecting…",
    logGap: "… {message} …",
  },
});

const SUBSCRIPTION = `subscription($n: String!, $s: LogStream!, $o: Int) {
  processLog(name: $n, stream: $s, fromOffset: $o) { text startOffset offset overflow rotated message } }`;
const RETRY_MS = 2_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * `host`: { subscribe(query, variables, { next, error }) → dispose, view (the log view's
 * state: name, stream, offset), append({ text, overflow }), status(text), resumePolling(),
 * canFollow(), describeError }.
 */
export function setupLogFollow(host) {
  const label = document.createElement("label");
  label.className = "log-follow";
  const input = document.createElement("input");
  input.type = "checkbox";
  input.id = "log-follow";
  input.dataset.testid = "log-follow";
  const text = document.createElement("span");
  label.append(input, text);
  document.getElementById("log-close").before(label);

  let dispose = null;
  let retry = 0;

  function stop() {
    clearTimeout(retry);
    dispose?.();
    dispose = null;
  }

  /** Follows the open log from where the view is (offset 0: it has read nothing yet, so from now). */
  function follow() {
    stop();
    const { name, stream, offset } = host.view;
    if (!name) return;
    host.status(t("logFollowing"));
    dispose = host.subscribe(
      SUBSCRIPTION,
      { n: name, s: stream, o: offset > 0 ? offset : null },
      {
        next: (chunk) => take(chunk, name, stream),
        error: (error) => {
          if (host.view.name !== name || host.view.stream !== stream) return;
          host.status(t("logFollowRetry", { error: host.describeError(error) }));
          dispose = null;
          retry = setTimeout(follow, RETRY_MS);
        },
      },
    );
  }

  function take(chunk, name, stream) {
    if (host.view.name !== name || host.view.stream !== stream) return;
    let { text: piece } = chunk;
    const at = host.view.offset;
    // A resubscription by the client library repeats its first variables: keep only what is new.
    if (!chunk.rotated && at > 0 && chunk.offset <= at) return;
    if (!chunk.rotated && at > chunk.startOffset && at < chunk.offset) {
      piece = decoder.decode(encoder.encode(piece).slice(at - chunk.startOffset));
    }
    const gap = chunk.message ? `${t("logGap", { message: chunk.message })}\n` : "";
    host.append({ text: gap + piece, overflow: false });
    host.view.offset = chunk.offset;
    host.status(t("logFollowing"));
  }

  input.addEventListener("change", () => {
    if (!host.view.name) return;
    if (input.checked) follow();
    else {
      stop();
      host.status("");
      host.resumePolling();
    }
  });

  function localize() {
    text.textContent = t("logFollow");
    label.hidden = !host.canFollow();
  }
  localize();

  return {
    /** Whether the open log is to be followed rather than polled. */
    wanted: () => input.checked && host.canFollow(),
    follow,
    stop,
    localize,
  };
}
