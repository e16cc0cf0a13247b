"""The app stand-in of one region: plays that region's ALB and instances, over HTTPS.

    GET  /health              200 when the region's database answers, else 503
    POST /orders              {"client_id": "drill-7", "sequence": 12, "item": "..."}
                              201 stored, 200 already stored, 503 on a read-only replica
    GET  /orders/<id>         one order; its id is "<client_id>-<sequence>"
    GET  /orders?client_id=X  the sequence numbers stored for client X

Orders carry the client's id and sequence number, so a drill that writes numbered markers
can tell afterwards exactly which acknowledged writes the new writer lacks. Every request
opens its own database session: the server behind the endpoint changes role and restarts
during a drill, and a pooled session would outlive it.

Run: ``python -m dr.lab.dataplane.app --region R --host H --port P --db-port N
--cert C --key K``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import signal
import ssl
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg import errors

from dr.lab.dataplane.postgres import APP_ROLE, DATABASE

logger = logging.getLogger(__name__)

CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
ORDER_ID = re.compile(r"^(?P<client>[A-Za-z0-9_.:-]{1,64})-(?P<sequence>[0-9]{1,18})$")
MAX_BODY = 16 * 1024


class Database:
    """The region's cluster writer endpoint, as the app instances would see it."""

    def __init__(self, region: str, host: str, port: int) -> None:
        self.region = region
        self.host = host
        self.port = port

    def session(self) -> psycopg.Connection:
        return psycopg.connect(host=self.host, port=self.port, user=APP_ROLE,
                               dbname=DATABASE, connect_timeout=2,
                               options="-c statement_timeout=5000")


class OrdersHandler(BaseHTTPRequestHandler):
    server_version = "shopsmart-lab-app/1"
    timeout = 10  # a client that stops sending cannot hold a thread for long
    database: Database

    def setup(self) -> None:
        # The TLS handshake runs here, in the request's thread, so that a client which
        # connects and stays silent cannot stall the accept loop for everyone else.
        self.request.settimeout(self.timeout)
        self.request.do_handshake()
        super().setup()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/health":
            self._health()
        elif url.path == "/orders":
            self._list(parse_qs(url.query).get("client_id", [""])[0])
        elif url.path.startswith("/orders/"):
            self._get(url.path.removeprefix("/orders/"))
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"error": "not-found", "path": url.path})

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/orders":
            self._reply(HTTPStatus.NOT_FOUND, {"error": "not-found", "path": self.path})
            return
        order = self._read_order()
        if order is not None:
            self._guarded(self._store, *order)

    # --- endpoints -------------------------------------------------------------------------

    def _health(self) -> None:
        def check() -> None:
            with self.database.session() as conn:
                replica = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
            role = "replica" if replica else "writer"
            self._reply(HTTPStatus.OK, {"status": "ok", "region": self.database.region,
                                        "database": role})
        self._guarded(check)

    def _store(self, client_id: str, sequence: int, item: str) -> None:
        with self.database.session() as conn:
            row = conn.execute(
                "INSERT INTO orders (client_id, sequence, item, region) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING RETURNING client_id, sequence, item, region, created_at",
                (client_id, sequence, item, self.database.region),
            ).fetchone()
            status = HTTPStatus.CREATED
            if row is None:  # a retried write: answer with what is stored
                row = self._select(conn, client_id, sequence)
                status = HTTPStatus.OK
        self._reply(status, _order(row))

    def _get(self, order_id: str) -> None:
        match = ORDER_ID.match(order_id)
        if not match:
            self._reply(HTTPStatus.NOT_FOUND, {"error": "not-found", "id": order_id})
            return

        def lookup() -> None:
            with self.database.session() as conn:
                row = self._select(conn, match["client"], int(match["sequence"]))
            if row is None:
                self._reply(HTTPStatus.NOT_FOUND, {"error": "not-found", "id": order_id})
            else:
                self._reply(HTTPStatus.OK, _order(row))
        self._guarded(lookup)

    def _list(self, client_id: str) -> None:
        if not CLIENT_ID.match(client_id):
            self._reply(HTTPStatus.BAD_REQUEST, {"error": "bad-request",
                                                 "message": "give ?client_id=<id>"})
            return

        def listing() -> None:
            with self.database.session() as conn:
                rows = conn.execute("SELECT sequence FROM orders WHERE client_id = %s "
                                    "ORDER BY sequence", (client_id,)).fetchall()
            self._reply(HTTPStatus.OK, {"client_id": client_id,
                                        "sequences": [row[0] for row in rows]})
        self._guarded(listing)

    # --- plumbing --------------------------------------------------------------------------

    def _guarded(self, action: Any, *args: Any) -> None:
        """Run ``action``, turning the database's refusals into clear 503 answers."""
        region = self.database.region
        try:
            action(*args)
        except errors.ReadOnlySqlTransaction:
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, {
                "error": "read-only",
                "message": f"the database of {region} is read-only (a replica or fenced): "
                           "writes go to the writer region",
                "region": region,
            })
        except psycopg.OperationalError as err:
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, {
                "error": "database-unavailable",
                "message": f"the database of {region} does not answer: "
                           f"{str(err).strip()[:200]}",
                "region": region,
            })
        except psycopg.Error as err:
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, {
                "error": "database-error",
                "message": f"the database of {region} refused: {str(err).strip()[:200]}",
                "region": region,
            })

    def _read_order(self) -> tuple[str, int, str] | None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if not 0 < length <= MAX_BODY:
                raise ValueError(f"body of {length} bytes (1..{MAX_BODY} allowed)")
            body = json.loads(self.rfile.read(length))
            client_id, sequence = str(body["client_id"]), int(body["sequence"])
            if not CLIENT_ID.match(client_id) or sequence < 0:
                raise ValueError("client_id must match [A-Za-z0-9_.:-]{1,64}, sequence >= 0")
            return client_id, sequence, str(body.get("item", ""))[:200]
        except (ValueError, KeyError, TypeError) as err:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": "bad-request", "message": str(err)})
            return None

    @staticmethod
    def _select(conn: psycopg.Connection, client_id: str, sequence: int) -> Any:
        return conn.execute(
            "SELECT client_id, sequence, item, region, created_at FROM orders "
            "WHERE client_id = %s AND sequence = %s", (client_id, sequence),
        ).fetchone()

    def _reply(self, status: HTTPStatus, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


def _order(row: Any) -> dict[str, Any]:
    client_id, sequence, item, region, created_at = row
    return {"id": f"{client_id}-{sequence}", "client_id": client_id, "sequence": sequence,
            "item": item, "region": region, "created_at": created_at.isoformat()}


def serve(region: str, host: str, port: int, db_host: str, db_port: int,
          cert: str, key: str) -> None:
    """Serve until SIGTERM or SIGINT."""
    handler = type("Handler", (OrdersHandler,), {"database": Database(region, db_host, db_port)})
    server = ThreadingHTTPServer((host, port), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True,
                                         do_handshake_on_connect=False)

    def shut_down(signum: int, frame: Any) -> None:
        logger.info("app stand-in of %s stopping (%s)", region, signal.Signals(signum).name)
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    logger.info("app stand-in of %s on https://%s:%d (database %s:%d)",
                region, host, port, db_host, db_port)
    with server:
        server.serve_forever(poll_interval=0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--region", "--host", "--cert", "--key"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db-host", default="127.0.0.1")
    parser.add_argument("--db-port", type=int, required=True)
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    serve(options.region, options.host, options.port, options.db_host, options.db_port,
          options.cert, options.key)


if __name__ == "__main__":
    main()
