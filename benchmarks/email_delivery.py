"""flowhook-email's sessions kept open against a new session per message, alternately.

    python benchmarks/email_delivery.py [--messages 200] [--rounds 3]

For each security mode (STARTTLS with a login, and plain SMTP without one), a local SMTP server
runs in a process of its own (``smtp_sink.py``); one sender sends ``--messages`` notifications
through ``EmailNotifier`` as delivery does (a notifier per message), with its sessions kept
open (what the plugin does) and with every session closed after its message (what it did
before: a connection, TLS handshake and login per message), the two alternately, ``--rounds``
times each. Prints messages per second, the median of each, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    for security in ("starttls", "none"):
        rates = _measure(security, options.messages, options.rounds)
        kept, fresh = statistics.median(rates["kept"]), statistics.median(rates["fresh"])
        print(
            f"{security:>8}: sessions kept {kept:7.0f} msg/s, a session per message "
            f"{fresh:7.0f} msg/s, kept / per message {kept / fresh:.2f}"
        )


def _measure(security: str, messages: int, rounds: int) -> dict[str, list[float]]:
    from flowhook_email import EmailNotifier, _connections

    sink = subprocess.Popen(
        [sys.executable, str(HERE / "smtp_sink.py"), security],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdin is not None and sink.stdout is not None
    try:
        server: dict[str, Any] = json.loads(sink.stdout.readline())
        settings = {
            **server,
            "security": security,
            "from_addr": "flowhook <flowhook@example.com>",
            "to": ["ops@example.com"],
        }
        kept_idle = _connections.MAX_IDLE
        rates: dict[str, list[float]] = {"kept": [], "fresh": []}
        for _ in range(rounds):
            for mode in ("kept", "fresh"):
                _connections.MAX_IDLE = kept_idle if mode == "kept" else 0
                started = time.perf_counter()
                for n in range(messages):
                    EmailNotifier(**settings).notify(f"message {n}", subject=f"message {n}")
                rates[mode].append(messages / (time.perf_counter() - started))
        _connections.MAX_IDLE = kept_idle
    finally:
        sink.stdin.close()
        received = json.loads(sink.stdout.readline() or "{}")
        sink.wait(10)
    if received.get("messages") != 2 * rounds * messages:
        raise SystemExit(f"the server received {received}, not {2 * rounds * messages} messages")
    return rates


if __name__ == "__main__":
    main()
