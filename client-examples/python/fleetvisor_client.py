"""Fleetvisor registry client for managed Python servers (standard library only).

A drop-in for the guide's ``ServerProcess``: instead of writing to MySQL, the server
registers with Fleetvisor, learns its port from the registry, sends heartbeats at the
interval Fleetvisor asks for, and deregisters on SIGTERM / SIGINT.

    from fleetvisor_client import ServerProcess

    server = ServerProcess("domaeka-test-01")      # or ServerProcess.from_environment()
    port = await server.register_process()         # as in the guide (asyncio)
    # ... or, without asyncio:  port = server.start()

Configuration (environment): FLEETVISOR_URL (e.g. http://fleetvisor:4000) and
FLEETVISOR_TOKEN (an AGENT token bound to this process; or FLEETVISOR_TOKEN_FILE).
The process name is given explicitly, or comes from SUPERVISOR_PROCESS_NAME when
supervisord started the server.

Fleetvisor being down never crashes or blocks the server once it has its port:
heartbeats run on a daemon thread and retry with backoff; a heartbeat that Fleetvisor
answers with ``ok: false`` (the registry no longer counts this pid as registered)
registers again. Only the first registration waits, because the port comes from it;
pass ``fallback_port`` to start serving on a known port while Fleetvisor is unreachable.
"""

import asyncio
import json
import logging
import os
import random
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

__all__ = ["FleetvisorClient", "FleetvisorError", "ServerProcess"]

log = logging.getLogger("fleetvisor")

REGISTER = """mutation ($name: String!, $pid: Int!) {
  registerProcess(name: $name, pid: $pid) { port heartbeatIntervalSeconds }
}"""
HEARTBEAT = """mutation ($name: String!, $pid: Int!) {
  heartbeat(name: $name, pid: $pid) { ok nextHeartbeatInSeconds message }
}"""
DEREGISTER = """mutation ($name: String!) { deregisterProcess(name: $name) { status } }"""


class FleetvisorError(Exception):
    """Fleetvisor answered, and refused (bad token, unknown name, …): retrying will not help."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class Unreachable(Exception):
    """Fleetvisor could not be reached, or could not answer now: retrying may help."""


def _read_token():
    path = os.environ.get("FLEETVISOR_TOKEN_FILE")
    if path:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    return os.environ.get("FLEETVISOR_TOKEN", "")


class FleetvisorClient:
    """The registry calls, one HTTP request each, with a timeout."""

    #: Answers that mean "not now" rather than "no".
    RETRYABLE_CODES = {"DATABASE_UNAVAILABLE", "INTERNAL_SERVER_ERROR"}

    def __init__(self, url, token, timeout=3.0):
        if not url or not token:
            raise ValueError("set FLEETVISOR_URL and FLEETVISOR_TOKEN (or FLEETVISOR_TOKEN_FILE)")
        self.endpoint = url.rstrip("/") + "/graphql"
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
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            if error.code in (401, 403):
                raise FleetvisorError("Fleetvisor refused the token (HTTP %d)" % error.code, "UNAUTHENTICATED")
            if 400 <= error.code < 500:
                raise FleetvisorError("Fleetvisor refused the request (HTTP %d)" % error.code)
            raise Unreachable("Fleetvisor answered HTTP %d" % error.code)
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise Unreachable("Fleetvisor is unreachable: %s" % getattr(error, "reason", error))
        errors = answer.get("errors") or []
        if errors:
            code = (errors[0].get("extensions") or {}).get("code")
            message = errors[0].get("message", "error")
            if code in self.RETRYABLE_CODES:
                raise Unreachable("Fleetvisor could not answer now: %s" % message)
            raise FleetvisorError(message, code)
        return answer["data"]

    def register(self, name, pid):
        return self.call(REGISTER, {"name": name, "pid": pid})["registerProcess"]

    def heartbeat(self, name, pid):
        return self.call(HEARTBEAT, {"name": name, "pid": pid})["heartbeat"]

    def deregister(self, name):
        return self.call(DEREGISTER, {"name": name})["deregisterProcess"]


def backoff_delays(first=0.5, limit=30.0):
    """0.5, 1, 2, 4 … up to ``limit`` seconds, each with up to 20 % jitter."""
    delay = first
    while True:
        yield delay * (1 + random.random() * 0.2)
        delay = min(limit, delay * 2)


class ServerProcess:
    """A managed server's life in the registry (the guide's ``ServerProcess``, over Fleetvisor)."""

    def __init__(self, process_name, url=None, token=None, pid=None, fallback_port=None, timeout=3.0):
        self.process_name = process_name
        self.pid = pid or os.getpid()
        self.port = None
        self.heartbeat_interval = 30.0
        self.fallback_port = fallback_port
        self.client = FleetvisorClient(url or os.environ.get("FLEETVISOR_URL", ""), token or _read_token(), timeout)
        self._stop = threading.Event()
        self._registered = threading.Event()
        # Registering and deregistering never overlap: a deregister from the signal handler
        # waits for a registration in flight, so that the row is not left RUNNING behind it.
        self._calls = threading.RLock()  # re-entrant: the signal handler runs on the main thread
        self._thread = None
        self._previous_handlers = {}

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
        """Registers (retrying while Fleetvisor is unreachable) and returns the port.

        With ``fallback_port``, gives up waiting after the first failed attempt, returns
        the fallback, and keeps trying to register in the background.
        """
        if install_signal_handlers:
            self.install_signal_handlers()
        delays = backoff_delays()
        while not self._stop.is_set():
            try:
                self._register()
                break
            except (Unreachable, FleetvisorError) as error:
                # Refused too (not in the registry yet, a token not created yet): the port can
                # only come from the registry, so wait for it rather than crash.
                if self.fallback_port is not None:
                    log.warning("%s; serving on fallback port %s and registering later", error, self.fallback_port)
                    self.port = self.fallback_port
                    break
                delay = next(delays)
                log.warning("%s; retrying in %.1fs", error, delay)
                self._stop.wait(delay)
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

    def _register(self):
        with self._calls:
            if self._stop.is_set():
                return  # stopping: a registration now would outlive the server
            answer = self.client.register(self.process_name, self.pid)
            self._registered.set()
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
                log.warning("%s; next try in %.1fs", error, wait)
            except FleetvisorError as error:
                # Refused (unknown name, revoked token): keep the server running, try rarely.
                log.error("Fleetvisor refused: %s", error)
                wait = max(self.heartbeat_interval, 30.0)
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
