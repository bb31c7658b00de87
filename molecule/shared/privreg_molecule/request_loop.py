"""Clients that keep asking while a re-run changes the registry (issue 29: no failed request).

    with RequestLoop(client.endpoint, client.ca_file, "alice", users["alice"]) as loop:
        converge({...}, tmp_path)
    assert loop.requests > 0 and loop.failures == []

Two threads GET ``path`` with the login, one on a keep-alive connection (a new one only when
the server closes it or after an error), one on a fresh connection each time, until the block
ends, ``seconds`` pass or each made ``limit`` requests: bounded in time and count. A failure
is an error (refused, reset, TLS, timeout) or an answer other than 200. A request on a reused
connection the server had closed (nginx's old workers close their idle connections at a
reload) is retried once on a new one, as Go's HTTP client (the docker CLI's), curl and urllib3
do: counted in ``retried``, not a failure. No timing is asserted;
bench/availability_bench.py prints the gaps.

The requests run in this process, from this machine: for scenarios whose registry is on it.
"""

import base64
import http.client
import ssl
import threading
import time

# What a request on a reused connection meets when the server closed it first: no answer began.
STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class RequestLoop:
    def __init__(self, endpoint, ca_file, user, password, path="/v2/", seconds=600, limit=20000, pause=0.02):
        host, separator, port = endpoint.rpartition(":")
        if not (separator and port.isdigit()):
            host, port = endpoint, "443"
        self.host, self.port, self.path = host, int(port), path
        self.context = ssl.create_default_context(cafile=ca_file)
        self.authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.seconds, self.limit, self.pause = seconds, limit, pause
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.requests = 0
        self.retried = 0
        self.failures = []
        self.threads = [
            threading.Thread(target=self.run, args=(keep_alive,), daemon=True) for keep_alive in (True, False)
        ]

    def record(self, failure=None):
        with self.lock:
            self.requests += 1
            if failure:
                self.failures.append(failure)

    def run(self, keep_alive):
        deadline = time.monotonic() + self.seconds
        connection, reused = None, False
        headers = {"Authorization": self.authorization}
        for _request in range(self.limit):
            if self.stop.is_set() or time.monotonic() > deadline:
                break
            try:
                if connection is None:
                    connection, reused = self.connect(), False
                try:
                    response = self.send(connection, headers)
                except STALE_CONNECTION:
                    if not reused:
                        raise
                    with self.lock:
                        self.retried += 1
                    connection.close()
                    connection, reused = self.connect(), False
                    response = self.send(connection, headers)
                self.record(None if response.status == 200 else f"HTTP {response.status}")
                if not keep_alive or response.will_close:
                    connection.close()
                    connection = None
                reused = True
            except (OSError, http.client.HTTPException) as error:
                self.record(f"{'keep-alive' if keep_alive else 'fresh'}: {type(error).__name__}: {error}")
                if connection is not None:
                    connection.close()
                connection = None
            time.sleep(self.pause)
        if connection is not None:
            connection.close()

    def connect(self):
        return http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=30)

    def send(self, connection, headers):
        connection.request("GET", self.path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        return False
