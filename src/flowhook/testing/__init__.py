"""Helpers for testing flowhook and its plugins.

- :mod:`flowhook.testing.servers`: local servers that stand in for the services notifiers talk to
  (a scripted Slack-like webhook server, an SMTP server with STARTTLS, SMTP over TLS and AUTH).
- :mod:`flowhook.testing.plugin`: pytest fixtures built on them.
- :mod:`flowhook.testing.recorder`: a plugin that records every transition hook call.

The SMTP server needs the test-only dependencies ``aiosmtpd`` and ``trustme``; they are imported
only when such a server starts, so importing this package never needs them.
"""
