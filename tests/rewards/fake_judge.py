"""A real HTTP server on 127.0.0.1 speaking just enough of OpenAI chat-completions to fault
the judge client: slow, flaky (500/429), malformed bodies, an error body echoing the
Authorization header, never answering, or killed. Stdlib only (http.server threads)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

YES = {"choices": [{"message": {"content": "yes"}, "logprobs": {"content": [{
    "token": "yes", "logprob": -0.1,
    "top_logprobs": [{"token": "yes", "logprob": -0.1}, {"token": "no", "logprob": -2.5}]}]}}]}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, code: int, body: str, ctype: str = "application/json") -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802 - http.server's naming
        srv: FakeJudge = self.server.owner
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with srv.lock:
            srv.requests += 1
            n = srv.requests
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            self._answer(srv, n)
        finally:
            with srv.lock:
                srv.in_flight -= 1

    def _answer(self, srv: FakeJudge, n: int) -> None:
        mode = srv.mode
        if mode == "hang":
            time.sleep(3600)
        time.sleep(srv.latency)
        failing = n <= srv.fail_first
        if mode == "flaky" and failing:
            self._send(500 if n % 2 else 429, '{"error": "overloaded"}')
        elif mode == "malformed" and failing:
            self._send(200, '{"choices": [{"message": ')
        elif mode == "garbled" and failing:
            self._send(200, '[1, 2, 3]')
        elif mode in ("echo401", "echo500"):
            auth = self.headers.get("Authorization", "")
            self._send(401 if mode == "echo401" else 500,
                       json.dumps({"error": f"invalid credentials: Authorization: {auth}"}))
        else:
            self._send(200, json.dumps(YES))


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a "hang" handler must not block shutdown
    request_queue_size = 256

    def handle_error(self, request, client_address):
        # a client that timed out and hung up is the scenario under test, not a server bug
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeJudge:
    """`with FakeJudge(mode=..., latency=...) as j: j.base_url` — mode may change live."""

    def __init__(self, mode: str = "ok", latency: float = 0.0, fail_first: int = 0):
        self.mode, self.latency, self.fail_first = mode, latency, fail_first
        self.requests = self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeJudge:
        self.thread.start()
        return self

    def kill(self) -> None:
        """Stop answering and close the listening socket: new connections are refused."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def __exit__(self, *exc) -> None:
        if self.thread.is_alive():
            self.kill()
