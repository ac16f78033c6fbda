"""A local SMTP server for the email delivery benchmark, in a process of its own so that
receiving costs the measured process nothing (a real server is another machine). Its one
argument is the security mode; it prints one line of JSON (host, port, CA file, user name,
password), and once its standard input closes, the messages and sessions it received."""

from __future__ import annotations

import json
import logging
import sys

from flowhook_testing import SMTPServer


def main() -> None:
    # aiosmtpd sets its own deprecated Session.login_data at every login, and logs a warning.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    security = sys.argv[1]
    username = None if security == "none" else "flowhook"
    with SMTPServer(security=security, username=username) as server:  # type: ignore[arg-type]
        found = {
            "host": server.host,
            "port": server.port,
            "ca_file": server.ca_file,
            "username": server.username,
            "password": server.password,
        }
        print(json.dumps(found), flush=True)
        sys.stdin.read()  # until the benchmark closes it
        print(json.dumps({"messages": len(server.messages), "sessions": server.sessions}))


if __name__ == "__main__":
    main()
