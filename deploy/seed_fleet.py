#!/usr/bin/env python3
"""Puts a fleet file's processes in Fleetvisor's registry and gives each its agent token.

docker-compose.yml runs it once per `docker compose up`, after the Fleetvisor replicas are
healthy and before the managed containers start (Python standard library only):

    FLEETVISOR_URL=http://fleetvisor:4000 FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN=... \\
        python3 seed_fleet.py fleet.json --token-dir /tokens [--owner 10001:10001]

Everything goes through Fleetvisor's GraphQL API with the bootstrap admin token, as an
admin would do it by hand. For each process of the file:

- its registry row is created, or updated to what the file says (port, supervisord,
  program); the rest of the row (pid, status, heartbeat) is left to the process;
- an AGENT token bound to that one process is written to TOKEN_DIR/<name>/agent-token,
  unless the token already there still works (so a second `up` changes nothing). A new
  token revokes the ones this script made for the process before.

A token never passes through an image, a variable or the output: the file is written
with mode 0400 (owned by --owner when given) into a folder that only that process's
container mounts, and its registry client and event listener read it through
FLEETVISOR_TOKEN_FILE. Exits 0 when every process is seeded, 1 otherwise, 2 on bad usage.
"""

import argparse
import json
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request

#: Fleetvisor's process names (src/domain/validation.ts): safe as folder names too.
PROCESS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
TOKEN_FILE = "agent-token"
FIELDS = ("port", "supervisorHost", "supervisorPort", "program")

CREATE_PROCESS = """mutation ($input: CreateProcessInput!) { createProcess(input: $input) { name } }"""
UPDATE_PROCESS = """mutation ($name: String!, $input: UpdateProcessInput!) {
  updateProcess(name: $name, input: $input) { name }
}"""
PROCESS = """query ($name: String!) {
  process(name: $name) { name port supervisorHost supervisorPort program }
}"""
ME = "{ me { role processPattern } }"
TOKENS = "{ apiTokens { id name role processPattern } }"
CREATE_TOKEN = """mutation ($input: CreateApiTokenInput!) { createApiToken(input: $input) { id token } }"""
REVOKE_TOKEN = """mutation ($id: ID!) { revokeApiToken(id: $id) { id } }"""


def log(message):
    sys.stderr.write("seed: %s\n" % message)
    sys.stderr.flush()


class Refused(Exception):
    """Fleetvisor answered with an error (its code and message)."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code


class Fleetvisor:
    def __init__(self, url, timeout=10.0):
        base = url.rstrip("/")
        self.base = base[: -len("/graphql")] if base.endswith("/graphql") else base
        self.timeout = timeout

    def graphql(self, token, query, variables=None):
        body = json.dumps({"query": query, "variables": variables or {}}).encode("utf-8")
        request = urllib.request.Request(
            self.base + "/graphql",
            data=body,
            headers={
                "content-type": "application/json",
                "accept": "application/json",
                "authorization": "Bearer " + token,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            # 401 and friends still carry a GraphQL body with the code.
            try:
                answer = json.loads(error.read().decode("utf-8"))
            except ValueError:
                raise Refused("HTTP_%d" % error.code, "Fleetvisor answered HTTP %d" % error.code)
        errors = answer.get("errors") or []
        if errors:
            first = errors[0]
            raise Refused((first.get("extensions") or {}).get("code", "ERROR"), first.get("message", "error"))
        return answer["data"]

    def wait_until_ready(self, seconds):
        """Until /readyz answers 200 (the database answers), for at most `seconds`."""
        deadline = time.monotonic() + seconds
        last = "no answer yet"
        while True:
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=3) as response:
                    if response.status == 200:
                        return
                    last = "HTTP %d" % response.status
            except urllib.error.HTTPError as error:
                last = "HTTP %d" % error.code
            except (urllib.error.URLError, OSError) as error:
                last = str(getattr(error, "reason", error))
            if time.monotonic() > deadline:
                raise SystemExit("seed: Fleetvisor at %s was not ready within %ds (%s)" % (self.base, seconds, last))
            time.sleep(1)


def read_fleet(path):
    """The processes of the fleet file, checked before anything is sent."""
    with open(path, encoding="utf-8") as handle:
        fleet = json.load(handle)
    processes = fleet.get("processes") if isinstance(fleet, dict) else None
    if not isinstance(processes, list) or not processes:
        raise SystemExit('seed: %s must be {"processes": [{"name": …, "port": …}, …]}' % path)
    for index, process in enumerate(processes):
        name = process.get("name") if isinstance(process, dict) else None
        if not isinstance(name, str) or not PROCESS_NAME.match(name):
            raise SystemExit("seed: %s: processes[%d] needs a valid name" % (path, index))
        if not isinstance(process.get("port"), int):
            raise SystemExit("seed: %s: %s needs a port" % (path, name))
        unknown = set(process) - {"name", *FIELDS}
        if unknown:
            raise SystemExit("seed: %s: %s has unknown fields: %s" % (path, name, ", ".join(sorted(unknown))))
    return processes


def seed_row(fleetvisor, admin, process):
    """Creates the row, or brings an existing one to what the file says. Returns what it did."""
    name = process["name"]
    wanted = {field: process[field] for field in FIELDS if field in process}
    try:
        fleetvisor.graphql(admin, CREATE_PROCESS, {"input": dict(wanted, name=name)})
        return "created"
    except Refused as error:
        if error.code != "CONFLICT":
            raise
    current = fleetvisor.graphql(admin, PROCESS, {"name": name})["process"] or {}
    changes = {field: value for field, value in wanted.items() if current.get(field) != value}
    if not changes:
        return "unchanged"
    fleetvisor.graphql(admin, UPDATE_PROCESS, {"name": name, "input": changes})
    return "updated (%s)" % ", ".join(sorted(changes))


def token_works(fleetvisor, token, name):
    try:
        me = fleetvisor.graphql(token, ME)["me"]
    except Refused as error:
        if error.code == "UNAUTHENTICATED":
            return False
        raise
    return me["role"] == "AGENT" and me["processPattern"] == name


def write_secret(path, text, owner):
    """Writes `text` to `path` atomically, readable by its owner only."""
    folder = os.path.dirname(path)
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".agent-token-")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.chmod(temporary, 0o400)
        if owner:
            os.chown(temporary, owner[0], owner[1])
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def seed_token(fleetvisor, admin, name, token_dir, owner):
    """Makes sure TOKEN_DIR/<name>/agent-token holds a working agent token for `name`."""
    folder = os.path.join(token_dir, name)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, TOKEN_FILE)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            existing = handle.read().strip()
        if existing and token_works(fleetvisor, existing, name):
            if owner:
                os.chown(path, owner[0], owner[1])
            return "kept"
    token_name = "%s (seed)" % name
    created = fleetvisor.graphql(
        admin, CREATE_TOKEN, {"input": {"name": token_name, "role": "AGENT", "processPattern": name}}
    )["createApiToken"]
    write_secret(path, created["token"], owner)
    # The tokens this script made for the process before (a volume lost, a token revoked).
    for old in fleetvisor.graphql(admin, TOKENS)["apiTokens"]:
        if old["name"] == token_name and old["role"] == "AGENT" and old["id"] != created["id"]:
            fleetvisor.graphql(admin, REVOKE_TOKEN, {"id": old["id"]})
    return "created"


def parse_owner(value):
    match = re.match(r"^(\d+):(\d+)$", value or "")
    if value and not match:
        raise argparse.ArgumentTypeError("--owner must be UID:GID")
    return (int(match.group(1)), int(match.group(2))) if match else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("fleet", help="the fleet file (JSON)")
    parser.add_argument("--token-dir", required=True, help="write TOKEN_DIR/<name>/agent-token for each process")
    parser.add_argument("--owner", type=parse_owner, help="UID:GID to own the token files (needs root)")
    parser.add_argument("--wait", type=int, default=180, help="seconds to wait for Fleetvisor to be ready")
    args = parser.parse_args(argv)

    url = os.environ.get("FLEETVISOR_URL")
    admin = os.environ.get("FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN")
    if not url or not admin:
        log("set FLEETVISOR_URL and FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN")
        return 2
    processes = read_fleet(args.fleet)
    fleetvisor = Fleetvisor(url)
    fleetvisor.wait_until_ready(args.wait)
    try:
        if fleetvisor.graphql(admin, ME)["me"]["role"] != "ADMIN":
            log("FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN is not an admin token here")
            return 1
    except Refused as error:
        log("Fleetvisor refused FLEETVISOR_BOOTSTRAP_ADMIN_TOKEN (%s): is it the one the replicas have?" % error.code)
        return 1

    failed = 0
    for process in processes:
        name = process["name"]
        try:
            row = seed_row(fleetvisor, admin, process)
            token = seed_token(fleetvisor, admin, name, args.token_dir, args.owner)
            log("%s: row %s, agent token %s" % (name, row, token))
        except (Refused, OSError) as error:
            failed += 1
            log("%s: %s" % (name, error))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
