// The log view's "follow" switch: while it is on, the open log is followed over graphql-ws
// (Subscription.processLog) instead of being polled, from the offset the view has reached;
// after a reconnect it resubscribes from the last offset received, and drops anything the
// client library sends again. An error that another try cannot mend (the process is gone,
// may not be read, has no log) switches it off and says why; a process that moved to
// another supervisord is followed again there, from now. Kept apart from app.js, which
// hands it what it needs.
import { addMessages, t } from "./i18n.js";

addMessages({
  ko: {
    logFollow: "실시간",
    logFollowing: "실시간으로 따라가는 중",
    logFollowRetry: "실시간 로그가 끊겼습니다 ({error}). 다시 연결합니다…",
    logFollowStopped: "실시간 로그를 멈췄습니다: {error}",
    logGap: "… {message} …",
  },
  en: {
    logFollow: "Follow",
    logFollowing: "Following live",
    logFollowRetry: "Following stopped ({error}); reconnecting…",
    logFollowStopped: "Following stopped: {error}",
    logGap: "… {message} …",
  },
});

const SUBSCRIPTION = `subscription($n: String!, $s: LogStream!, $o: Int) {
  processLog(name: $n, stream: $s, fromOffset: $o) { text startOffset offset overflow rotated message } }`;
const RETRY_MS = 2_000;
/** Errors that the same subscription would get again: no retry. */
const FINAL_CODES = new Set(["NOT_FOUND", "FORBIDDEN", "BAD_USER_INPUT", "UNAUTHENTICATED"]);
/** The process names another supervisord or program now: its old offsets mean nothing there. */
const MOVED_CODE = "CONFLICT";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * `host`: { subscribe(query, variables, { next, error }) → dispose, view (the log view's
 * state: name, stream, offset), append({ text, overflow }), status(text), stopPolling(),
 * resumePolling(), canFollow(), describeError }.
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
          dispose = null;
          const codes = errorCodes(error);
          if (codes.some((code) => FINAL_CODES.has(code))) {
            input.checked = false;
            host.status(t("logFollowStopped", { error: host.describeError(error) }));
            return;
          }
          if (codes.includes(MOVED_CODE)) host.view.offset = 0;
          host.status(t("logFollowRetry", { error: host.describeError(error) }));
          retry = setTimeout(follow, RETRY_MS);
        },
      },
    );
  }

  /** The GraphQL error codes of what graphql-ws reported (none for a closed socket). */
  function errorCodes(error) {
    return (Array.isArray(error) ? error : [error]).map((e) => e?.extensions?.code).filter(Boolean);
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
    if (input.checked) {
      // A poll under way or due would read the log beside the subscription, and report
      // what it reads (a process with no supervisord, say) over what the subscription says.
      host.stopPolling();
      follow();
    } else {
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
