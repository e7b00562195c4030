#!/usr/bin/env python3
"""Fleetvisor event listener for supervisord (Python standard library only).

supervisord runs it as an [eventlistener] subscribed to PROCESS_STATE; it reports every
state change of the programs of this supervisord to Fleetvisor's reportSupervisorEvent
mutation, so that subscribers see the change within a second instead of at the next poll.

    [eventlistener:fleetvisor]
    command=python3 /opt/fleetvisor/fleetvisor_listener.py
    events=PROCESS_STATE
    buffer_size=100
    environment=FLEETVISOR_URL="http://fleetvisor:4000",FLEETVISOR_SUPERVISOR="domaeka-server-test-01:9101"

Configuration (environment):
  FLEETVISOR_URL          Fleetvisor's address (http://fleetvisor:4000) or its GraphQL
                          endpoint (http://fleetvisor:4000/graphql), with or without a
                          trailing slash
  FLEETVISOR_TOKEN        an AGENT token bound to this supervisord's processes, or
  FLEETVISOR_TOKEN_FILE   a file holding it (preferred: keeps it out of supervisord.conf)
  FLEETVISOR_SUPERVISOR   this supervisord as the registry names it: supervisor_host:supervisor_port
  FLEETVISOR_TIMEOUT      seconds per request to Fleetvisor (default 2)

stdout is supervisord's protocol channel: everything else goes to stderr. When Fleetvisor
cannot be reached the event is answered FAIL, so that supervisord keeps it and sends it
again (after a pause that grows up to 30 s): an event is acknowledged only once Fleetvisor
has it. Events about the listener itself are ignored.

When Fleetvisor answers but refuses the event, the event is answered OK and dropped, and
the refusal is logged once, not once per event. Most refusals are configuration errors: a
FLEETVISOR_URL where no GraphQL endpoint answers (HTTP 404, a redirect, an answer that is
not Fleetvisor's), a token Fleetvisor does not accept (HTTP 401 / 403), or a
FLEETVISOR_SUPERVISOR that names no supervisord in the registry. Sending the same event
again cannot fix those; answering FAIL would only keep the listener backing off on the
oldest event while supervisord's buffer (buffer_size) fills and it discards events
itself. Acknowledged, the listener stays current: once the configuration is fixed the
next event goes through, and Fleetvisor's poller (SUPERVISOR_POLL_INTERVAL_SECONDS)
covers what was dropped meanwhile. When events are accepted again after such a refusal,
that is logged once too.
"""

import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

STATES = {"STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL", "UNKNOWN"}

MUTATION = """mutation ($input: SupervisorEventInput!) {
  reportSupervisorEvent(input: $input) { name status }
}"""


def log(message):
    sys.stderr.write("fleetvisor-listener: %s\n" % message)
    sys.stderr.flush()


def graphql_endpoint(url):
    """Fleetvisor's GraphQL endpoint from FLEETVISOR_URL, its address or the endpoint itself."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "FLEETVISOR_URL must be Fleetvisor's http:// or https:// address, such as http://fleetvisor:4000 "
            "(got %r)" % without_credentials(url)
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/graphql"):
        path += "/graphql"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def without_credentials(url):
    """The URL as it may appear in a log line: without a ``user:password@`` part."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered, not followed: followed, a POST becomes a GET elsewhere and hides a wrong URL."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def parse_tokens(text):
    """'a:1 b:2' -> {'a': '1', 'b': '2'} (supervisord's header and PROCESS_STATE body)."""
    result = {}
    for token in text.split():
        key, _, value = token.partition(":")
        result[key] = value
    return result


def program_of(payload):
    name, group = payload.get("processname", ""), payload.get("groupname", "")
    return name if not group or group == name else "%s:%s" % (group, name)


def event_input(eventname, payload, supervisor_host, supervisor_port, at):
    """The reportSupervisorEvent input for one PROCESS_STATE_* event, or None."""
    state = eventname[len("PROCESS_STATE_"):] if eventname.startswith("PROCESS_STATE_") else ""
    if state not in STATES:
        return None
    event = {
        "supervisorHost": supervisor_host,
        "supervisorPort": supervisor_port,
        "program": program_of(payload),
        "state": state,
        "pid": int(payload["pid"]) if payload.get("pid", "").isdigit() else None,
        "at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + ".%03dZ" % int((at % 1) * 1000),
    }
    if state == "EXITED" and "expected" in payload:
        event["expected"] = payload["expected"] == "1"
    return event


class Fleetvisor:
    #: Answers that mean "not now" rather than "no": the event is sent again.
    RETRYABLE_CODES = {"DATABASE_UNAVAILABLE", "INTERNAL_SERVER_ERROR"}
    #: HTTP statuses below 500 that mean "not now" too (a proxy's timeout, rate limiting).
    RETRYABLE_STATUSES = {408, 429}
    #: How many distinct refusals of single events are remembered as already logged.
    MAX_REMEMBERED_REFUSALS = 100
    UNTIL_FIXED = "then restart this listener; until then its events are acknowledged and dropped"

    def __init__(self, url, token, timeout):
        self.endpoint = graphql_endpoint(url)
        self.shown_endpoint = without_credentials(self.endpoint)
        self.token = token
        self.timeout = timeout
        self.opener = urllib.request.build_opener(NoRedirects)
        # A refusal of every event (the URL, the token, FLEETVISOR_SUPERVISOR), logged when
        # it begins and cleared, with one more line, when an event is accepted again.
        self.misconfiguration = None
        # Refusals of single events (a program outside the token's binding): each once.
        self.logged_refusals = set()

    def report(self, event):
        """True once Fleetvisor has the event (or refused it for good); False to have it sent again."""
        body = json.dumps({"query": MUTATION, "variables": {"input": event}}).encode("utf-8")
        request = urllib.request.Request(
            self.endpoint,
            data=body,
            headers={
                "content-type": "application/json",
                "accept": "application/json",
                "authorization": "Bearer " + self.token,
            },
        )
        location = None
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, location = error.code, error.headers.get("location") if error.headers else None
            try:
                text = error.read()
            except (OSError, http.client.HTTPException):
                text = b""
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", None) or error
            log("Fleetvisor at %s is unreachable (%s); will retry" % (self.shown_endpoint, reason))
            return False
        return self.answered(status, text, location)

    def answered(self, status, text, location):
        url = self.shown_endpoint
        if status == 429 and refused_for_failed_tokens(text):
            # Fleetvisor's limit on failed authentications: it still checks a token that may
            # be valid, so this one is not; sending the event again would only meet it again.
            self.misconfigured(
                "Fleetvisor at %s refused the token (HTTP 429: too many unknown tokens from this address): "
                "set FLEETVISOR_TOKEN or FLEETVISOR_TOKEN_FILE to an AGENT token bound to this supervisord's "
                "processes, %s" % (url, self.UNTIL_FIXED)
            )
            return True
        if status >= 500 or status in self.RETRYABLE_STATUSES:
            log("Fleetvisor at %s answered HTTP %d; will retry" % (url, status))
            return False
        try:
            answer = json.loads(text.decode("utf-8"))
            errors = answer.get("errors") or []
        except (ValueError, AttributeError):
            answer, errors = None, []
        if 300 <= status < 400:
            target = without_credentials(urllib.parse.urljoin(self.endpoint, location)) if location else "elsewhere"
            self.misconfigured(
                "%s redirects (HTTP %d) to %s: set FLEETVISOR_URL to where Fleetvisor is (often https:// instead of "
                "http://), %s" % (url, status, target, self.UNTIL_FIXED)
            )
            return True
        if status in (404, 405):
            self.misconfigured(
                "no GraphQL endpoint at %s (HTTP %d): set FLEETVISOR_URL to Fleetvisor's address, such as "
                "http://fleetvisor:4000 (or its /graphql endpoint), %s" % (url, status, self.UNTIL_FIXED)
            )
            return True
        if status in (401, 403):
            self.misconfigured(
                "Fleetvisor at %s refused the token (HTTP %d): set FLEETVISOR_TOKEN or FLEETVISOR_TOKEN_FILE "
                "to an AGENT token bound to this supervisord's processes, %s" % (url, status, self.UNTIL_FIXED)
            )
            return True
        if not isinstance(answer, dict) or (not errors and not isinstance(answer.get("data"), dict)):
            self.misconfigured(
                "the answer from %s is not Fleetvisor's (HTTP %d, not a GraphQL result): set FLEETVISOR_URL to "
                "Fleetvisor's address, such as http://fleetvisor:4000, %s" % (url, status, self.UNTIL_FIXED)
            )
            return True
        codes = {((e.get("extensions") or {}).get("code")) for e in errors if isinstance(e, dict)}
        if codes & self.RETRYABLE_CODES:
            log("Fleetvisor could not record the event (%s); will retry" % ", ".join(sorted(c for c in codes if c)))
            return False
        for error in errors:
            extensions = (error.get("extensions") if isinstance(error, dict) else None) or {}
            if extensions.get("code") == "NOT_FOUND" and extensions.get("supervisor"):
                supervisor = extensions["supervisor"]
                self.misconfigured(
                    "FLEETVISOR_SUPERVISOR=%s names a supervisord Fleetvisor does not know (no process in the "
                    "registry has supervisorHost:supervisorPort %s): set FLEETVISOR_SUPERVISOR to this "
                    "supervisord as its processes in the registry name it, %s"
                    % (supervisor, supervisor, self.UNTIL_FIXED)
                )
            else:
                message = error.get("message") if isinstance(error, dict) else error
                self.refused("Fleetvisor refused the event: %s" % message)
        if not errors and self.misconfiguration is not None:
            self.misconfiguration = None
            log("Fleetvisor accepts this listener's events again")
        return True

    def misconfigured(self, message):
        if message != self.misconfiguration:
            self.misconfiguration = message
            log(message)

    def refused(self, message):
        if message in self.logged_refusals:
            return
        if len(self.logged_refusals) >= self.MAX_REMEMBERED_REFUSALS:
            self.logged_refusals.clear()
        self.logged_refusals.add(message)
        log(message)


def refused_for_failed_tokens(text):
    """Whether a 429 is Fleetvisor's answer to too many unknown tokens (not a proxy's rate limit)."""
    try:
        errors = json.loads(text.decode("utf-8")).get("errors") or []
    except (ValueError, AttributeError):
        return False
    return any(
        isinstance(e, dict) and (e.get("extensions") or {}).get("reason") == "AUTH_FAILURES" for e in errors
    )


def read_token():
    path = os.environ.get("FLEETVISOR_TOKEN_FILE")
    if path:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    return os.environ.get("FLEETVISOR_TOKEN", "")


def main():
    url = os.environ.get("FLEETVISOR_URL")
    token = read_token()
    supervisor = os.environ.get("FLEETVISOR_SUPERVISOR", "")
    host, _, port = supervisor.rpartition(":")
    problem = None
    if not url or not token or not host or not port.isdigit():
        problem = "set FLEETVISOR_URL, FLEETVISOR_TOKEN (or FLEETVISOR_TOKEN_FILE) and FLEETVISOR_SUPERVISOR=host:port"
    else:
        try:
            fleetvisor = Fleetvisor(url, token, float(os.environ.get("FLEETVISOR_TIMEOUT", "2")))
        except ValueError as error:
            problem = str(error)
    if problem:
        log(problem)
        # supervisord restarts a listener that exits; sleeping keeps the log readable.
        time.sleep(30)
        return 2
    myself = os.environ.get("SUPERVISOR_PROCESS_NAME")
    backoff = 0.0
    # supervisord sends a FAILed event again (same serial): it keeps the time it first came.
    first_seen = {}

    while True:
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        header = parse_tokens(sys.stdin.readline())
        payload_text = sys.stdin.read(int(header.get("len", "0")))
        serial = header.get("serial", "")
        received_at = first_seen.setdefault(serial, time.time())
        if len(first_seen) > 1000:
            first_seen.clear()
            first_seen[serial] = received_at
        payload = parse_tokens(payload_text.split("\n", 1)[0])

        ok = True
        if payload.get("processname") != myself:
            event = event_input(header.get("eventname", ""), payload, host, int(port), received_at)
            if event is not None:
                ok = fleetvisor.report(event)

        if ok:
            first_seen.pop(serial, None)
            backoff = 0.0
            sys.stdout.write("RESULT 2\nOK")
        else:
            backoff = min(30.0, max(0.5, backoff * 2))
            sys.stdout.write("RESULT 4\nFAIL")
        sys.stdout.flush()
        if backoff:
            time.sleep(backoff)


if __name__ == "__main__":
    sys.exit(main())
