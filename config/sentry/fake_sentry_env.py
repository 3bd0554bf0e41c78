"""Test environment: Sentry's models and helpers stood in by ./fakes, a real Django on in-memory SQLite,
a JWKS served over real HTTP, and keys to sign assertions with. Imported by the test modules only."""

import atexit
import base64
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
# Before anything imports `sentry` or `sudo`: the stand-ins must win.
sys.path.insert(0, os.path.join(HERE, "fakes"))

import jwt  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519  # noqa: E402

ISSUER = "https://sentry.example.com"
AUDIENCE = "sentry"
HEADER = "X-Sentry-Gateway-Assertion"


def _b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class SigningKey:
    def __init__(self, alg, kid=None):
        self.alg = alg
        self.kid = kid or "%s-%s" % (alg.lower(), uuid.uuid4().hex[:8])
        self.private = ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else ed25519.Ed25519PrivateKey.generate()
        self.public = self.private.public_key()

    def jwk(self):
        """The public key as the gateway's JWKS lists it.

        EC coordinates are written at the curve's full 32 bytes, as RFC 7518 §6.2.1.2 requires and
        the gateway's JOSE library does; PyJWT's own ``to_jwk`` (2.6) drops leading zero bytes, which
        its ``from_jwk`` then refuses, so about one random P-256 key in 120 would not load.
        """
        if self.alg == "ES256":
            numbers = self.public.public_numbers()
            coords = {c: _b64url(getattr(numbers, c).to_bytes(32, "big")) for c in ("x", "y")}
            base = {"kty": "EC", "crv": "P-256", **coords}
        else:
            base = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.public))
        return dict(base, kid=self.kid, alg=self.alg, use="sig")

    def public_pem(self):
        return self.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, now=None, kid=True, **overrides):
        now = int(time.time() if now is None else now)
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "6f1c2d3e-0000-4000-8000-000000000001",
            "email": "alice@corp.example.com",
            "name": "Alice Example",
            "preferred_username": "alice",
            "iat": now,
            "nbf": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
            "sid": "sid-1",
            # As the gateway signs a password sign-in: when AD checked the password, and how.
            "auth_time": now,
            "amr": ["pwd"],
        }
        for k, v in overrides.items():
            if v is None:
                claims.pop(k, None)
            else:
                claims[k] = v
        headers = {"kid": self.kid} if kid else {}
        return jwt.encode(claims, self.private, algorithm=self.alg, headers=headers)


class JwksServer:
    """The gateway's /_gateway/jwks.json, over real HTTP; counts fetches."""

    def __init__(self):
        self.keys = []
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.fetches += 1
                body = json.dumps({"keys": [k.jwk() for k in outer.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/_gateway/jwks.json" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


ES_KEY = SigningKey("ES256")
ED_KEY = SigningKey("EdDSA")
JWKS = JwksServer()
JWKS.keys = [ES_KEY, ED_KEY]

_ready = False
CACHE_DIR = tempfile.mkdtemp(prefix="sentry-ad-gateway-cache-")
atexit.register(shutil.rmtree, CACHE_DIR, True)


def setup_django():
    """Configure Django once, like Sentry's settings in the parts that matter to the module."""
    global _ready
    if _ready:
        return
    import django
    from django.conf import settings
    from django.core.management import call_command

    settings.configure(
        DEBUG=False,
        SECRET_KEY="test-only-not-secret",
        ALLOWED_HOSTS=["testserver", "sentry.example.com"],
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions", "sentry", "sudo"],
        AUTH_USER_MODEL="sentry.User",
        AUTHENTICATION_BACKENDS=["sentry.utils.auth.EmailAuthBackend"],
        # A fast hasher for tests only: the module sets random passwords on accounts it manages.
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        # A cache Sentry's web workers could share, as the module requires (it refuses locmem and
        # dummy at start): Django's file cache in a directory of this test run.
        CACHES={"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": CACHE_DIR}},
        # Sentry's session and CSRF cookies: signed-cookie sessions named sentrysid, CSRF cookie sc.
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        SESSION_COOKIE_NAME="sentrysid",
        CSRF_COOKIE_NAME="sc",
        ROOT_URLCONF="fake_sentry_urls",
        # The order of Sentry's stack around the module, as sentry.conf.snippet.py installs it.
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "sentry.middleware.auth.AuthenticationMiddleware",
            "sentry_ad_gateway_auth.GatewayAssertionMiddleware",
            "sentry.middleware.sudo.SudoMiddleware",
            "sentry.middleware.superuser.SuperuserMiddleware",
        ],
        SENTRY_AD_GATEWAY={"ISSUER": ISSUER, "JWKS_URL": JWKS.url},
        LOGGING_CONFIG=None,
    )
    django.setup()
    # Sentry's own second factors (src/sentry/users/models/authenticator.py).
    import sentry.users.models.authenticator  # noqa: F401
    # Refusals are expected in these tests; keep their log lines out of the test output.
    for name in ("sentry_ad_gateway", "django.request", "django.security.csrf"):
        logging.getLogger(name).addHandler(logging.NullHandler())
        logging.getLogger(name).propagate = False
    call_command("migrate", run_syncdb=True, verbosity=0)
    _ready = True


def existing_user(verified=True, **fields):
    """An account made in Sentry before the gateway: Sentry gives it an (unverified) UserEmail row.

    Call after setup_django(); `verified` marks that row verified, as a confirmed address would be.
    """
    from sentry.models import User, UserEmail

    user = User.objects.create(**fields)
    if verified:
        UserEmail.objects.filter(user=user, email=user.email).update(is_verified=True)
    return user
