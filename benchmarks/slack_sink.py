"""A local Slack-like webhook for the delivery benchmark, in a process of its own so that
receiving costs the measured process nothing (a real Slack is another machine): prints its URL,
and once its standard input closes, the number of requests it received."""

from __future__ import annotations

import sys

from flowhook_testing import SlackWebhookServer


def main() -> None:
    with SlackWebhookServer() as server:
        print(server.url, flush=True)
        sys.stdin.read()  # until the benchmark closes it
        print(len(server.requests), flush=True)


if __name__ == "__main__":
    main()
