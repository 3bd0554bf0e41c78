# --- sentry-ad-gateway: Sentry sign-in through the Active Directory gateway ---------------------
# Append to self-hosted Sentry's sentry/sentry.conf.py (after `from sentry.conf.server import *`),
# and copy sentry_ad_gateway_auth.py next to it (self-hosted mounts ./sentry at /etc/sentry).
import os
import sys

# sentry.conf.py is executed as a throw-away module, so middleware must live in a real module
# on sys.path.
if "/etc/sentry" not in sys.path:
    sys.path.append("/etc/sentry")

SENTRY_AD_GATEWAY = {
    # The gateway's server.publicUrl: the assertion's `iss`, and the origin users type.
    "ISSUER": os.environ.get("SENTRY_AD_GATEWAY_ISSUER", "https://sentry.example.com"),
    # Fetched from inside the Sentry network; or "PUBLIC_KEY_FILE": "/etc/sentry/gateway-public.pem".
    "JWKS_URL": os.environ.get("SENTRY_AD_GATEWAY_JWKS_URL", "http://sentry-ad-gateway:8080/_gateway/jwks.json"),
    # Sudo (creating API tokens, ...) for SUDO_MAX_AGE_SECONDS after the sign-in that made the
    # Sentry session, or after /_gateway/reauth; Sentry's sudo prompt points there. False: only
    # Sentry's own prompt with a Sentry password the person knows.
    "GRANT_SUDO": True,
    # Superuser/staff accounts the gateway may sign in; any other one with an AD user's email is refused.
    "SUPERUSER_EMAILS": [],
}

# Right after Sentry's authentication middleware: it needs request.user and request.auth, and it
# must run before Sudo/Superuser middleware (EXTRA_MIDDLEWARE would append it too late).
_sag_after = "sentry.middleware.auth.AuthenticationMiddleware"
_sag_middleware = "sentry_ad_gateway_auth.GatewayAssertionMiddleware"
if _sag_middleware not in MIDDLEWARE:  # noqa: F821 (from sentry.conf.server)
    _sag_list = list(MIDDLEWARE)  # noqa: F821
    _sag_list.insert(_sag_list.index(_sag_after) + 1, _sag_middleware)
    MIDDLEWARE = tuple(_sag_list)

# Sign-in is the gateway's job: no sign-up form (also set auth.allow-registration: false in config.yml).
SENTRY_FEATURES["auth:register"] = False  # noqa: F821
# The gateway provisions every person as an invite made by its one service user. Sentry limits
# invites behind this feature (on by default): 100 a day per inviting user, 100 a day per
# organization, 10 a day per address (sentry/ratelimits/utils.py); the first sync of a larger
# directory would stall on 429s. Install-wide: SENTRY_FEATURES has no per-organization form.
SENTRY_FEATURES["organizations:invite-members-rate-limits"] = False  # noqa: F821

# TLS ends before Sentry: trust the gateway's X-Forwarded-Proto, and the public origin for CSRF.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = [SENTRY_AD_GATEWAY["ISSUER"]]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SOCIAL_AUTH_REDIRECT_IS_HTTPS = True
# --- end sentry-ad-gateway --------------------------------------------------------------------
