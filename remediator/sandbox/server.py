"""Start moto's ThreadedMotoServer on a loopback port. moto is the optional `sandbox` extra."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from remediator.errors import RemediatorError

DEMO_ACCOUNT_ID = "123456789012"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Emulator:
    """A running emulator; `url` is its endpoint. stop() ends it."""

    def __init__(self, port: int = 0) -> None:
        # AWS managed policies (AdministratorAccess…) exist in every real account; the emulator loads them on request.
        os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        try:
            from moto.server import ThreadedMotoServer
        except ImportError:
            raise RemediatorError("the sandbox needs moto: pip install 'remediator[sandbox]'")
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        from remediator.sandbox import shims

        shims.install()
        self.port = port or free_port()
        self._server: Any = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        try:
            self._server.start()
        except OSError as exc:
            raise RemediatorError(f"cannot start the emulator on port {self.port}: {exc}")
        self.url = f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=30).read()
        from remediator.sandbox import shims

        shims.LOOKUP_EVENTS.clear()

    def stop(self) -> None:
        self._server.stop()
