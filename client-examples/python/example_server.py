#!/usr/bin/env python3
"""An example managed server: learns its port from the registry through Fleetvisor, serves
HTTP on it, sends heartbeats, and deregisters when supervisord stops it.

    FLEETVISOR_URL=http://fleetvisor:4000 FLEETVISOR_TOKEN=... python3 example_server.py --name domaeka-test-01

Under supervisord the name may come from the program's SUPERVISOR_PROCESS_NAME instead.
GET / answers {"name", "pid", "port"}. A configuration that cannot work at all (no
FLEETVISOR_URL, a token file that cannot be read) ends it at once with one line on stderr
and exit status 2; see fleetvisor_client for what is retried.
"""

import argparse
import json
import logging
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fleetvisor_client import ServerProcess  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", help="the process name in the registry (default: SUPERVISOR_PROCESS_NAME)")
    parser.add_argument("--fallback-port", type=int, help="serve here if Fleetvisor is unreachable at start")
    parser.add_argument("--host", default="0.0.0.0")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    try:
        registry = ServerProcess.from_environment(args.name, fallback_port=args.fallback_port)
    except (ValueError, OSError) as error:
        logging.getLogger("example").error("%s", error)
        sys.exit(2)
    try:
        port = registry.start()
    except KeyboardInterrupt:  # Ctrl-C while waiting to register: deregistered already, nothing to serve
        return

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            body = json.dumps({"name": registry.process_name, "pid": registry.pid, "port": port}).encode("utf-8")
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *values):
            logging.getLogger("http").info(fmt, *values)

    server = ThreadingHTTPServer((args.host, port), Handler)
    logging.getLogger("example").info("serving %s on port %s", registry.process_name, port)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        registry.stop()  # a no-op after the signal handler deregistered


if __name__ == "__main__":
    main()
