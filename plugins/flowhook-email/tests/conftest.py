# The fixtures slack_webhook_server and smtp_server come from the flowhook.testing pytest plugin
# (registered through the pytest11 entry point of the flowhook distribution).
