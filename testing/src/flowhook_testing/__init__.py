"""Local stand-ins for the services flowhook notifiers talk to: a Slack-like webhook and an SMTP
server (distribution ``flowhook-testing``, installed by ``pip install 'flowhook[testing]'``).

Each server listens on 127.0.0.1 only, on a port the system picks, in a background thread, and
records everything it receives. Use them as context managers::

    with SlackWebhookServer("ok", (429, {"Retry-After": "1"})) as slack:
        post_somewhere(slack.url)
        assert slack.requests[0].json()["text"] == "..."

    with SMTPServer(security="starttls", username="ops", password="s3cret") as smtp:
        send_mail(smtp.host, smtp.port, cafile=smtp.ca_file)
        assert smtp.messages[0].message["Subject"] == "..."

In a pytest suite with flowhook installed, the fixtures ``flowhook_slack_webhook_server`` and
``flowhook_smtp_server`` of ``flowhook.testing`` give one of each per test.
"""

from ._common import HOST, closed_port
from ._slack import (
    ReceivedRequest,
    ScriptItem,
    SlackWebhookServer,
    WebhookResponse,
    webhook_response,
)
from ._smtp import ReceivedMessage, SMTPSecurity, SMTPServer

__version__ = "0.1.0"

__all__ = [
    "HOST",
    "ReceivedMessage",
    "ReceivedRequest",
    "SMTPSecurity",
    "SMTPServer",
    "ScriptItem",
    "SlackWebhookServer",
    "WebhookResponse",
    "closed_port",
    "webhook_response",
]
