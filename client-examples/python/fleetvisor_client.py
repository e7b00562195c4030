"""Fleetvisor registry client for managed Python servers (standard library only).

A drop-in for the guide's ``ServerProcess``: instead of writing to MySQL, the server
registers with Fleetvisor, learns its port from the registry, sends heartbeats at the
interval Fleetvisor asks for, and deregisters on SIGTERM / SIGINT.

    from fleetvisor_client import ServerProcess

    server = ServerProcess("domaeka-test-01")      # or ServerProcess.from_environment()
    port = await server.register_process()         # as in the guide (asyncio)
    # ... or, without asyncio:  port = server.start()

Configuration (environment): FLEETVISOR_URL, Fleetvisor's address (http://fleetvisor:4000)
or its GraphQL endpoint (http://fleetvisor:4000/graphql), either with or without a
trailing slash; FLEETVISOR_TOKEN (an AGENT token bound to this process; or
FLEETVISOR_TOKEN_FILE naming a file that holds it); FLEETVISOR_CONFIG_RETRY_SECONDS (how
often to try again after a configuration error, default 30). The process name is given
explicitly, or comes from SUPERVISOR_PROCESS_NAME when supervisord started the server.

Fleetvisor being down never crashes or blocks the server once it has its port:
heartbeats run on a daemon thread and retry with backoff; a heartbeat that Fleetvisor
answers with ``ok: false`` (the registry no longer counts this pid as registered)
registers again. Only the first registration waits, because the port comes from it;
pass ``fallback_port`` to start serving on a known port while Fleetvisor is unreachable.

What goes wrong falls in two kinds, retried differently:

* Fleetvisor cannot answer now (connection refused, a timeout, HTTP 5xx,
  DATABASE_UNAVAILABLE): retried with backoff, 0.5 s doubling up to 30 s (up to the
  heartbeat interval once registered), one warning per attempt.
* Something is configured wrong, which retrying soon cannot fix: nothing answers GraphQL at
  FLEETVISOR_URL (HTTP 404, or an answer that is not Fleetvisor's), the token is refused
  (HTTP 401 / 403, or it is bound to other processes), or the registry has no process of
  this name. Logged once, as one line naming the URL or the process and what to change,
  then retried every FLEETVISOR_CONFIG_RETRY_SECONDS, so that fixing it on Fleetvisor's
  side (creating the token or the process) is picked up without a restart.
"""

import asyncio
import http.client
import json
import logging
import math
import os
import random
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["FleetvisorClient", "FleetvisorError", "ServerProcess", "Unreachable", "graphql_endpoint"]

log = logging.getLogger("fleetvisor")

REGISTER = """mutation ($name: String!, $pid: Int!) {
  registerProcess(name: $name, pid: $pid) { port heartbeatIntervalSeconds }
}"""
HEARTBEAT = """mutation ($name: String!, $pid: Int!) {
  heartbeat(name: $name, pid: $pid) { ok nextHeartbeatInSeconds message }
}"""
DEREGISTER = """mutation ($name: String!) { deregisterProcess(name: $name) { status } }"""

#: How often a configuration error is retried unless FLEETVISOR_CONFIG_RETRY_SECONDS says otherwise.
DEFAULT_CONFIG_RETRY_SECONDS = 30.0


class FleetvisorError(Exception):
    """A configuration error: Fleetvisor (or whatever answers at FLEETVISOR_URL) refused the call.

    The message is one line that names the URL or the process and says what to change;
    it never contains the token. ``code`` is Fleetvisor's ``extensions.code``, or
    ``HTTP_<status>`` when the answer was not GraphQL.
    """

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class Unreachable(Exception):
    """Fleetvisor could not be reached, or could not answer now: retrying soon may help."""


def graphql_endpoint(url):
    """Fleetvisor's GraphQL endpoint from FLEETVISOR_URL.

    Both Fleetvisor's address and its endpoint are accepted, with or without a trailing
    slash: ``http://fleetvisor:4000``, ``http://fleetvisor:4000/`` and
    ``http://fleetvisor:4000/graphql/`` all give ``http://fleetvisor:4000/graphql``.
    """
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "FLEETVISOR_URL must be Fleetvisor's http:// or https:// address, such as http://fleetvisor:4000 "
            "(got %r)" % _without_credentials(url)
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/graphql"):
        path += "/graphql"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _without_credentials(url):
    """The URL as it may appear in a log line: without a ``user:password@`` part."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _read_token():
    """FLEETVISOR_TOKEN_FILE's content (stripped), else FLEETVISOR_TOKEN, else "".

    A file that is named but cannot be read or is empty is an error that says so: falling
    back to another token would hide the mistake.
    """
    path = os.environ.get("FLEETVISOR_TOKEN_FILE")
    if not path:
        return os.environ.get("FLEETVISOR_TOKEN", "")
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.read().strip()
    except OSError as error:
        raise ValueError("FLEETVISOR_TOKEN_FILE cannot be read: %s %s" % (error.strerror or error, path))
    if not token:
        raise ValueError("FLEETVISOR_TOKEN_FILE is empty: %s" % path)
    return token


def _config_retry_seconds(value):
    """``value``, else FLEETVISOR_CONFIG_RETRY_SECONDS, else 30; a number of seconds above 0."""
    if value is None:
        value = os.environ.get("FLEETVISOR_CONFIG_RETRY_SECONDS") or DEFAULT_CONFIG_RETRY_SECONDS
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError("FLEETVISOR_CONFIG_RETRY_SECONDS must be a number of seconds above 0 (got %r)" % value)
    return seconds


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered, not followed: followed, a POST becomes a GET elsewhere and hides a wrong URL."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


class FleetvisorClient:
    """The registry calls, one HTTP request each, with a timeout.

    Each call returns the mutation's data, or raises :class:`Unreachable` (try again soon)
    or :class:`FleetvisorError` (a configuration error).
    """

    #: Answers that mean "not now" rather than "no".
    RETRYABLE_CODES = {"DATABASE_UNAVAILABLE", "INTERNAL_SERVER_ERROR"}
    #: HTTP statuses below 500 that mean "not now" too (a proxy's timeout, rate limiting).
    RETRYABLE_STATUSES = {408, 429}

    def __init__(self, url, token, timeout=3.0):
        if not url or not token:
            raise ValueError("set FLEETVISOR_URL and FLEETVISOR_TOKEN (or FLEETVISOR_TOKEN_FILE)")
        self.endpoint = graphql_endpoint(url)
        #: The endpoint as log lines name it.
        self.shown_endpoint = _without_credentials(self.endpoint)
        self.token = token
        self.timeout = timeout

    def call(self, query, variables):
        body = json.dumps({"query": query, "variables": variables}).encode("utf-8")
        request = urllib.request.Request(
            self.endpoint,
            data=body,
            headers={
                "content-type": "application/json",
                "accept": "application/json",
                "authorization": "Bearer " + self.token,
            },
        )
        try:
            with _opener.open(request, timeout=self.timeout) as response:
                status, text, location = response.status, response.read(), None
        except urllib.error.HTTPError as error:
            status, location = error.code, error.headers.get("location") if error.headers else None
            try:
                text = error.read()
            except (OSError, http.client.HTTPException):
                text = b""
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            raise Unreachable(
                "Fleetvisor at %s is unreachable (%s)" % (self.shown_endpoint, getattr(error, "reason", None) or error)
            )
        return self._answer(status, text, variables.get("name"), location)

    def _answer(self, status, text, name, location=None):
        url = self.shown_endpoint
        if status >= 500 or status in self.RETRYABLE_STATUSES:
            raise Unreachable("Fleetvisor at %s answered HTTP %d" % (url, status))
        if 300 <= status < 400:
            target = _without_credentials(urllib.parse.urljoin(self.endpoint, location)) if location else "elsewhere"
            raise FleetvisorError(
                "%s redirects (HTTP %d) to %s: set FLEETVISOR_URL to where Fleetvisor is (often https:// instead "
                "of http://)" % (url, status, target),
                "HTTP_%d" % status,
            )
        try:
            answer = json.loads(text.decode("utf-8"))
            errors = answer.get("errors") or []
        except (ValueError, AttributeError):
            answer, errors = None, []
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        code = (first.get("extensions") or {}).get("code")
        message = first.get("message") or ""

        if status in (404, 405):
            raise FleetvisorError(
                "no GraphQL endpoint at %s (HTTP %d): set FLEETVISOR_URL to Fleetvisor's address, "
                "such as http://fleetvisor:4000 (or its /graphql endpoint)" % (url, status),
                "HTTP_%d" % status,
            )
        if status in (401, 403) or code == "UNAUTHENTICATED":
            raise FleetvisorError(
                "Fleetvisor at %s refused the token (HTTP %d%s): set FLEETVISOR_TOKEN or FLEETVISOR_TOKEN_FILE "
                "to an AGENT token bound to %s" % (url, status, ": " + message if message else "", _quoted(name)),
                code or "HTTP_%d" % status,
            )
        if not isinstance(answer, dict) or (not errors and not isinstance(answer.get("data"), dict)):
            raise FleetvisorError(
                "the answer from %s is not Fleetvisor's (HTTP %d, not a GraphQL result): set FLEETVISOR_URL to "
                "Fleetvisor's address, such as http://fleetvisor:4000" % (url, status),
                "HTTP_%d" % status,
            )
        if not errors:
            return answer["data"]
        if code in self.RETRYABLE_CODES:
            raise Unreachable("Fleetvisor at %s could not answer now (%s: %s)" % (url, code, message))
        if code == "NOT_FOUND":
            raise FleetvisorError(
                "Fleetvisor at %s has no process named %s: add it to the registry (createProcess), or run this "
                "server under the name the registry has for it" % (url, _quoted(name)),
                code,
            )
        if code == "FORBIDDEN":
            raise FleetvisorError(
                "Fleetvisor at %s refused %s to this token (%s): use an AGENT token bound to this process's name "
                "or to a prefix-* that matches it" % (url, _quoted(name), message),
                code,
            )
        raise FleetvisorError(
            "Fleetvisor at %s refused the call for %s (%s: %s)" % (url, _quoted(name), code, message), code
        )

    def register(self, name, pid):
        return self.call(REGISTER, {"name": name, "pid": pid})["registerProcess"]

    def heartbeat(self, name, pid):
        return self.call(HEARTBEAT, {"name": name, "pid": pid})["heartbeat"]

    def deregister(self, name):
        return self.call(DEREGISTER, {"name": name})["deregisterProcess"]


def _quoted(name):
    return '"%s"' % name if name else "this process"


def backoff_delays(first=0.5, limit=30.0):
    """0.5, 1, 2, 4 … up to ``limit`` seconds, each with up to 20 % jitter."""
    delay = first
    while True:
        yield delay * (1 + random.random() * 0.2)
        delay = min(limit, delay * 2)


class ServerProcess:
    """A managed server's life in the registry (the guide's ``ServerProcess``, over Fleetvisor)."""

    def __init__(
        self,
        process_name,
        url=None,
        token=None,
        pid=None,
        fallback_port=None,
        timeout=3.0,
        config_retry_seconds=None,
    ):
        self.process_name = process_name
        self.pid = pid or os.getpid()
        self.port = None
        self.heartbeat_interval = 30.0
        self.fallback_port = fallback_port
        #: How often a configuration error is retried (FLEETVISOR_CONFIG_RETRY_SECONDS, default 30).
        self.config_retry_seconds = _config_retry_seconds(config_retry_seconds)
        self.client = FleetvisorClient(url or os.environ.get("FLEETVISOR_URL", ""), token or _read_token(), timeout)
        self._stop = threading.Event()
        self._registered = threading.Event()
        # Registering and deregistering never overlap: a deregister from the signal handler
        # waits for a registration in flight, so that the row is not left RUNNING behind it.
        self._calls = threading.RLock()  # re-entrant: the signal handler runs on the main thread
        self._thread = None
        self._previous_handlers = {}
        # The configuration error last logged: the same one again is not logged again.
        self._problem = None

    @classmethod
    def from_environment(cls, name=None, **kwargs):
        """The name given, or supervisord's SUPERVISOR_PROCESS_NAME."""
        name = name or os.environ.get("SUPERVISOR_PROCESS_NAME")
        if not name:
            raise ValueError("give a process name (--name), or run under supervisord (SUPERVISOR_PROCESS_NAME)")
        return cls(name, **kwargs)

    # -- the guide's API -------------------------------------------------------------

    async def register_process(self):
        """Registers, starts heartbeats and signal handling; returns the port (asyncio)."""
        return await asyncio.get_running_loop().run_in_executor(None, self.start)

    # -- plain API -------------------------------------------------------------------

    def start(self, install_signal_handlers=True):
        """Registers (retrying until it can) and returns the port.

        Waits while Fleetvisor is unreachable (retrying with backoff) and while the
        configuration is wrong (retrying every ``config_retry_seconds``): the port can
        only come from the registry. With ``fallback_port``, gives up waiting after the
        first failed attempt, returns the fallback, and keeps trying in the background.
        Returns None if stopped before it registered.
        """
        if install_signal_handlers:
            self.install_signal_handlers()
        delays = backoff_delays()
        while not self._stop.is_set():
            try:
                self._register()
                break
            except Unreachable as error:
                if self.fallback_port is not None:
                    log.warning("%s; serving on fallback port %s, registering later", error, self.fallback_port)
                    self.port = self.fallback_port
                    break
                delay = next(delays)
                log.warning("%s; retrying in %.1f s", error, delay)
                self._stop.wait(delay)
            except FleetvisorError as error:
                if self.fallback_port is not None:
                    self._configuration_error(
                        error, "serving on fallback port %s, registering later" % self.fallback_port
                    )
                    self.port = self.fallback_port
                    break
                self._configuration_error(error)
                delays = backoff_delays()
                self._stop.wait(self.config_retry_seconds)
        self._thread = threading.Thread(target=self._heartbeat_loop, name="fleetvisor-heartbeat", daemon=True)
        self._thread.start()
        return self.port

    def stop(self, deregister=True):
        """Stops heartbeats and deregisters (bounded by the request timeout). Never raises."""
        self._stop.set()
        if not deregister:
            return
        with self._calls:
            if not self._registered.is_set():
                return
            try:
                self.client.deregister(self.process_name)
                self._registered.clear()
                log.info("deregistered %s", self.process_name)
            except (Unreachable, FleetvisorError) as error:
                log.warning("could not deregister %s: %s", self.process_name, error)

    def install_signal_handlers(self):
        """SIGTERM / SIGINT deregister, then do what they did before (by default: exit)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous_handlers[signum] = signal.signal(signum, self._handle_shutdown)

    # -- internals -------------------------------------------------------------------

    def _configuration_error(self, error, then=None):
        """Logs a configuration error once, in one line, however often it is met again."""
        message = str(error)
        if message == self._problem:
            return
        self._problem = message
        log.error("%s; %s", message, then or "retrying every %g s" % self.config_retry_seconds)

    def _answered(self):
        if self._problem is not None:
            self._problem = None
            log.info("Fleetvisor accepts %s again", self.process_name)

    def _register(self):
        with self._calls:
            if self._stop.is_set():
                return  # stopping: a registration now would outlive the server
            answer = self.client.register(self.process_name, self.pid)
            self._registered.set()
        self._problem = None
        if self.port is not None and self.port != answer["port"]:
            log.warning("the registry now says port %s; still serving on %s", answer["port"], self.port)
        self.port = self.port or answer["port"]
        self.heartbeat_interval = float(answer["heartbeatIntervalSeconds"])
        log.info("registered %s (pid %s, port %s)", self.process_name, self.pid, self.port)

    def _heartbeat_loop(self):
        delays = None
        wait = 0.0 if not self._registered.is_set() else self.heartbeat_interval
        while not self._stop.wait(wait):
            try:
                if not self._registered.is_set():
                    self._register()
                else:
                    answer = self.client.heartbeat(self.process_name, self.pid)
                    self._answered()
                    if not answer["ok"]:
                        log.warning("heartbeat not accepted (%s); registering again", answer.get("message"))
                        self._registered.clear()
                        self._register()
                    self.heartbeat_interval = float(answer.get("nextHeartbeatInSeconds") or self.heartbeat_interval)
                delays = None
                wait = self.heartbeat_interval
            except Unreachable as error:
                delays = delays or backoff_delays(limit=self.heartbeat_interval)
                wait = next(delays)
                log.warning("%s; next try in %.1f s", error, wait)
            except FleetvisorError as error:
                # Configured wrong (an unknown name, a revoked token): the server keeps
                # running, and Fleetvisor is asked again rarely, said once.
                self._configuration_error(error)
                delays = None
                wait = self.config_retry_seconds
            except Exception:  # noqa: BLE001 - a bug here must never take the server down
                log.exception("unexpected error in the heartbeat loop")
                wait = self.heartbeat_interval

    def _handle_shutdown(self, signum, frame):
        self.stop()
        previous = self._previous_handlers.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_IGN:
            return
        else:
            sys.exit(0)
