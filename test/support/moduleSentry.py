"""The Sentry-side module in a real HTTP server, as the gateway's upstream: the stand-in Sentry of
config/sentry/fake_sentry_env.py (Django with Sentry's middleware order, the fakes of Sentry's
login, sudo and 2FA) served by wsgiref. Prints its port, then reads one JSON line on stdin
({"issuer": ..., "jwksUrl": ...}: the gateway it trusts) before it answers any request."""

import json
import os
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "config", "sentry"))

import fake_sentry_env as env  # noqa: E402

env.setup_django()

from django.conf import settings  # noqa: E402
from django.core import signals  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import close_old_connections  # noqa: E402

# The database is SQLite in memory: one connection kept for the life of this single-threaded server.
signals.request_started.disconnect(close_old_connections)
signals.request_finished.disconnect(close_old_connections)
settings.ALLOWED_HOSTS = ["*"]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


app = []  # Django loads the middleware (and so reads SENTRY_AD_GATEWAY) when the handler is made


def application(environ, start_response):
    return app[0](environ, start_response)


server = make_server("127.0.0.1", 0, application, handler_class=Quiet)
print(server.server_port, flush=True)
gateway = json.loads(sys.stdin.readline())
settings.SENTRY_AD_GATEWAY = {"ISSUER": gateway["issuer"], "JWKS_URL": gateway["jwksUrl"]}
app.append(get_wsgi_application())
server.serve_forever()
