"""Sentry-side half of sentry-ad-gateway: turns the gateway's signed assertion into a Sentry session.

Installed into Sentry's MIDDLEWARE right after ``sentry.middleware.auth.AuthenticationMiddleware``
(see ``sentry.conf.snippet.py``). Configured by the ``SENTRY_AD_GATEWAY`` dict in ``sentry.conf.py``.

Sentry's own modules are imported inside functions, never at import time: ``sentry.conf.py`` is
evaluated before Sentry's app registry is ready, and the tests swap in small stand-ins for
Sentry's models and helpers by putting them first on ``sys.path``.
"""

import json
import logging
import os
import threading
import time
import urllib.request

import jwt
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, router, transaction
from django.http import HttpResponse, JsonResponse

logger = logging.getLogger("sentry_ad_gateway")

# The gateway's default assertion lifetime is 60 s; the issue caps accepted clock skew at 30 s.
MAX_LEEWAY_SECONDS = 30
# Django's CSRF middleware checks unsafe methods in process_view, after every middleware ran:
# logging in rotates the CSRF secret, so doing it on a POST would fail the very request.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Only these two: the key type decides the algorithm, so a token cannot pick a weaker one.
ALGORITHM_FOR_KEY = {("EC", "P-256"): "ES256", ("OKP", "Ed25519"): "EdDSA"}
REQUIRED_CLAIMS = ["iss", "aud", "sub", "email", "iat", "nbf", "exp", "sid"]
SESSION_SID_KEY = "_sag_sid"  # the gateway session (hashed id) this Sentry session was made for
LOGIN_SOURCE = "ad-gateway"
# Sentry's User.email and OrganizationMember.email are EmailField(max_length=75).
MAX_EMAIL_LENGTH = 75

DEFAULTS = {
    "ISSUER": None,  # required: the gateway's server.publicUrl
    "AUDIENCE": "sentry",
    "HEADER": "X-Sentry-Gateway-Assertion",
    "JWKS_URL": None,  # e.g. http://sentry-ad-gateway:8080/_gateway/jwks.json (internal address)
    "PUBLIC_KEY_FILE": None,  # alternative to JWKS_URL: one or more PEM public keys in one file
    "LEEWAY_SECONDS": 30,
    "MAX_TOKEN_LIFETIME_SECONDS": 300,  # refuse assertions minted to live longer than this
    "JWKS_CACHE_SECONDS": 300,
    "JWKS_REFETCH_COOLDOWN_SECONDS": 10,  # an unknown kid refetches at most this often
    "JWKS_TIMEOUT_SECONDS": 5,
    "GRANT_SUDO": True,
    "SUDO_MAX_AGE_SECONDS": 900,
    "SUPERUSER_EMAILS": [],  # superuser accounts the gateway may sign in; all others are refused
    "INVITE_RECHECK_SECONDS": 30,  # invites made after sign-in are linked within this time
    "EXEMPT_PATH_PREFIXES": ["/_health/", "/api/0/internal/rpc/"],
}


class AssertionRejected(Exception):
    """The assertion header is present but not acceptable. ``code`` is stable; the message is for logs."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class AccountRefused(Exception):
    """The assertion is valid but names a Sentry account the gateway must not sign in."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


# --- configuration --------------------------------------------------------------------------


class GatewaySettings:
    """``SENTRY_AD_GATEWAY`` merged over DEFAULTS; every problem is reported at once, as the gateway does."""

    def __init__(self, raw):
        if not isinstance(raw, dict):
            raise ImproperlyConfigured("SENTRY_AD_GATEWAY must be a dict")
        problems = ["SENTRY_AD_GATEWAY[%r]: unknown key" % k for k in sorted(set(raw) - set(DEFAULTS))]
        merged = dict(DEFAULTS, **raw)
        if not merged["ISSUER"]:
            problems.append("SENTRY_AD_GATEWAY['ISSUER']: required (the gateway's server.publicUrl)")
        if bool(merged["JWKS_URL"]) == bool(merged["PUBLIC_KEY_FILE"]):
            problems.append("SENTRY_AD_GATEWAY: set exactly one of 'JWKS_URL' and 'PUBLIC_KEY_FILE'")
        leeway = merged["LEEWAY_SECONDS"]
        if not isinstance(leeway, (int, float)) or not 0 <= leeway <= MAX_LEEWAY_SECONDS:
            problems.append("SENTRY_AD_GATEWAY['LEEWAY_SECONDS']: must be 0..%d" % MAX_LEEWAY_SECONDS)
        for key in ("MAX_TOKEN_LIFETIME_SECONDS", "JWKS_CACHE_SECONDS", "JWKS_TIMEOUT_SECONDS", "SUDO_MAX_AGE_SECONDS"):
            if not isinstance(merged[key], (int, float)) or merged[key] <= 0:
                problems.append("SENTRY_AD_GATEWAY[%r]: must be a positive number of seconds" % key)
        if problems:
            raise ImproperlyConfigured("; ".join(problems))
        for key, value in merged.items():
            setattr(self, key.lower(), value)
        self.superuser_emails = {e.strip().lower() for e in merged["SUPERUSER_EMAILS"]}
        self.exempt_path_prefixes = tuple(merged["EXEMPT_PATH_PREFIXES"])
        # Django exposes request headers in META as HTTP_UPPER_SNAKE.
        self.header_meta_key = "HTTP_" + merged["HEADER"].upper().replace("-", "_")


# --- keys -----------------------------------------------------------------------------------


def _algorithm_for_jwk(jwk):
    alg = ALGORITHM_FOR_KEY.get((jwk.get("kty"), jwk.get("crv")))
    if alg is None or jwk.get("alg", alg) != alg or jwk.get("use", "sig") != "sig":
        return None
    return alg


def _algorithm_for_public_key(key):
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    return None


def _fetch_url(url, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (operator-set URL)
        return json.loads(response.read(1_000_000).decode("utf-8"))


class JwksKeySource:
    """The gateway's JWKS, cached; an unknown kid refetches it, at most once per cooldown.

    The cooldown matters because the kid comes from the (not yet verified) token: without it,
    anyone able to reach Sentry could make every request fetch the JWKS.
    """

    def __init__(self, url, cache_seconds, cooldown_seconds, timeout_seconds, clock=time.time, fetch=_fetch_url):
        self.url = url
        self.cache_seconds = cache_seconds
        self.cooldown_seconds = cooldown_seconds
        self.timeout_seconds = timeout_seconds
        self.clock = clock
        self.fetch = fetch
        self._keys = None  # kid -> (key, alg)
        self._fetched_at = None
        self._lock = threading.Lock()  # uWSGI runs Sentry with threads

    def keys_for(self, kid):
        if not kid:
            raise AssertionRejected("GW_ASSERTION_NO_KID", "assertion header has no kid")
        with self._lock:
            now = self.clock()
            stale = self._keys is None or now - self._fetched_at >= self.cache_seconds
            unknown = self._keys is not None and kid not in self._keys
            may_refetch = self._fetched_at is None or now - self._fetched_at >= self.cooldown_seconds
            if stale or (unknown and may_refetch):
                self._refresh(now)
            entry = (self._keys or {}).get(kid)
        if entry is None:
            raise AssertionRejected("GW_ASSERTION_UNKNOWN_KID", "no key %r in the gateway's JWKS" % kid)
        return [entry]

    def _refresh(self, now):
        try:
            document = self.fetch(self.url, self.timeout_seconds)
            keys = {}
            for jwk in document.get("keys", []):
                alg = _algorithm_for_jwk(jwk)
                if alg is None or not jwk.get("kid"):
                    continue  # keys we would never accept are left out, not errors
                keys[jwk["kid"]] = (jwt.PyJWK(jwk, algorithm=alg).key, alg)
        except Exception as e:  # network, JSON or key errors all mean "no fresh keys"
            self._fetched_at = now  # the cooldown also spaces out retries against a failing gateway
            if self._keys is None:
                raise AssertionRejected("GW_JWKS_UNAVAILABLE", "cannot load the gateway's JWKS: %s" % e)
            logger.warning("sentry_ad_gateway.jwks_refresh_failed", extra={"error": str(e)})
            return  # keep serving the keys we had
        self._keys = keys
        self._fetched_at = now


class PemKeySource:
    """Public keys from a PEM file (current and previous key during a rotation), re-read when it changes."""

    def __init__(self, path):
        self.path = path
        self._keys = []
        self._stamp = None
        self._lock = threading.Lock()

    def keys_for(self, kid):
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        try:
            st = os.stat(self.path)
        except OSError as e:
            raise AssertionRejected("GW_PUBLIC_KEY_UNAVAILABLE", "cannot read %s: %s" % (self.path, e))
        with self._lock:
            if self._stamp != (st.st_mtime_ns, st.st_size):
                with open(self.path, "rb") as f:
                    text = f.read()
                keys = []
                marker = b"-----END PUBLIC KEY-----"
                for block in text.split(marker)[:-1]:
                    key = load_pem_public_key(block.strip() + b"\n" + marker + b"\n")
                    alg = _algorithm_for_public_key(key)
                    if alg:
                        keys.append((key, alg))
                self._keys, self._stamp = keys, (st.st_mtime_ns, st.st_size)
            return list(self._keys)


# --- verification ---------------------------------------------------------------------------


class AssertionVerifier:
    """Signature (ES256/EdDSA only), iss, aud, exp, nbf, iat with bounded skew; returns the claims."""

    def __init__(self, keys, issuer, audience, leeway, max_lifetime, clock=time.time):
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.max_lifetime = max_lifetime
        self.clock = clock

    def verify(self, token):
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as e:
            raise AssertionRejected("GW_ASSERTION_MALFORMED", str(e))
        alg = header.get("alg")
        if alg not in ALGORITHM_FOR_KEY.values():
            raise AssertionRejected("GW_ASSERTION_ALGORITHM", "algorithm %r not accepted" % alg)
        candidates = [key for key, key_alg in self.keys.keys_for(header.get("kid")) if key_alg == alg]
        if not candidates:
            raise AssertionRejected("GW_ASSERTION_UNKNOWN_KEY", "no %s key for this assertion" % alg)
        claims = None
        for key in candidates:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[alg],
                    audience=self.audience,
                    issuer=self.issuer,
                    # Times are checked below against an injectable clock (tests pin it).
                    options={"require": REQUIRED_CLAIMS, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.InvalidTokenError as e:
                raise AssertionRejected("GW_ASSERTION_INVALID", "%s: %s" % (type(e).__name__, e))
        if claims is None:
            raise AssertionRejected("GW_ASSERTION_SIGNATURE", "signature does not verify")
        self._check_times(claims)
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email or len(email.strip()) > MAX_EMAIL_LENGTH:
            raise AssertionRejected("GW_ASSERTION_EMAIL", "email claim missing or unusable")
        return claims

    def _check_times(self, claims):
        try:
            iat, nbf, exp = (int(claims[k]) for k in ("iat", "nbf", "exp"))
        except (TypeError, ValueError):
            raise AssertionRejected("GW_ASSERTION_INVALID", "iat, nbf and exp must be numbers")
        now = self.clock()
        if exp <= now - self.leeway:
            raise AssertionRejected("GW_ASSERTION_EXPIRED", "assertion expired")
        if nbf > now + self.leeway or iat > now + self.leeway:
            raise AssertionRejected("GW_ASSERTION_NOT_YET_VALID", "assertion not valid yet (clock skew?)")
        if exp - iat > self.max_lifetime:
            raise AssertionRejected("GW_ASSERTION_LIFETIME", "assertion lifetime longer than allowed")


def build_verifier(conf, clock=time.time):
    if conf.jwks_url:
        keys = JwksKeySource(
            conf.jwks_url, conf.jwks_cache_seconds, conf.jwks_refetch_cooldown_seconds, conf.jwks_timeout_seconds, clock=clock
        )
    else:
        keys = PemKeySource(conf.public_key_file)
    return AssertionVerifier(keys, conf.issuer, conf.audience, conf.leeway_seconds, conf.max_token_lifetime_seconds, clock)


# --- accounts -------------------------------------------------------------------------------


def _models():
    try:
        from sentry.users.models.user import User
        from sentry.users.models.useremail import UserEmail
    except ImportError:  # Sentry releases before the users/ package split
        from sentry.models import User, UserEmail
    from sentry.models.organizationmember import InviteStatus, OrganizationMember

    return User, UserEmail, OrganizationMember, InviteStatus


def check_account_allowed(user, conf):
    """The gateway never signs anyone in as a superuser, staff or disabled account unless told to by name."""
    if not user.is_active:
        raise AccountRefused("GW_ACCOUNT_DISABLED", "Sentry account %s is disabled" % user.pk)
    if (user.is_superuser or user.is_staff) and (user.email or "").strip().lower() not in conf.superuser_emails:
        raise AccountRefused("GW_ACCOUNT_PRIVILEGED", "Sentry account %s is a superuser or staff" % user.pk)


def find_or_create_user(claims, conf):
    """The Sentry user for the assertion's email: found case-insensitively, else created managed and passwordless."""
    User, UserEmail, _, _ = _models()
    email = claims["email"].strip()
    matches = list(User.objects.filter(email__iexact=email)[:2])
    if not matches:
        # Sentry names users by their email; one whose primary email changed keeps that username.
        matches = list(User.objects.filter(username__iexact=email)[:2])
    if len(matches) > 1:
        raise AccountRefused("GW_ACCOUNT_AMBIGUOUS", "more than one Sentry account has this email")
    if matches:
        user = matches[0]
    else:
        user = _create_user(User, email, claims)
    check_account_allowed(user, conf)
    _ensure_verified_email(UserEmail, user, email)
    return user


def _create_user(User, email, claims):
    name = str(claims.get("name") or "").strip()[:200]
    user = User(username=email, email=email, name=name, is_managed=True)
    # Managed + unusable password: the account cannot sign in with a password and its
    # username and password cannot be changed in Sentry's UI; AD stays the source of truth.
    user.set_unusable_password()
    try:
        with transaction.atomic(router.db_for_write(User)):
            user.save()
    except IntegrityError:
        # Two first requests of the same person raced; the other one created the account.
        return User.objects.get(username__iexact=email)
    logger.info("sentry_ad_gateway.user_created", extra={"user_id": user.pk, "sub": claims.get("sub")})
    return user


def _ensure_verified_email(UserEmail, user, email):
    # AD vouches for the address, so Sentry may send mail to it and match invites against it.
    address = user.email if (user.email or "").lower() == email.lower() else email
    user_email, _ = UserEmail.objects.get_or_create(user=user, email=address)
    if not user_email.is_verified:
        user_email.is_verified = True
        user_email.save(update_fields=["is_verified"])


def attach_pending_invites(user, email):
    """Link every approved, pending invite for ``email`` to ``user``, as Sentry's SSO login does.

    The gateway provisions members as pending invites (the API cannot link users); roles and
    teams are already on the invite row. An invite into an org the user already belongs to is
    deleted. Returns how many invites became memberships.
    """
    _, _, OrganizationMember, InviteStatus = _models()
    db = router.db_for_write(OrganizationMember)
    pending = OrganizationMember.objects.filter(
        email__iexact=email, user_id__isnull=True, invite_status=InviteStatus.APPROVED.value
    )
    linked = 0
    for member in list(pending):
        with transaction.atomic(db):
            if OrganizationMember.objects.filter(organization_id=member.organization_id, user_id=user.pk).exists():
                member.delete()
                continue
            # Same effect as OrganizationMember.set_user, whose argument changed from a User to a
            # user id across Sentry releases; these attributes are the same in both.
            member.user_id = user.pk
            member.email = None
            member.token = None
            member.token_expires_at = None
            member.save()
        linked += 1
        logger.info(
            "sentry_ad_gateway.invite_linked",
            extra={"user_id": user.pk, "organization_id": member.organization_id, "member_id": member.pk},
        )
    return linked


# --- the middleware -------------------------------------------------------------------------


def _refusal(request, status, code, message):
    if "text/html" in request.META.get("HTTP_ACCEPT", ""):
        return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    return JsonResponse({"detail": message, "error": code}, status=status)


class GatewayAssertionMiddleware:
    """Binds every browser session to a valid gateway assertion.

    - token-authenticated requests (``request.auth`` set by Sentry's middleware): untouched;
    - no assertion: a logged-in session is logged out, the request goes on anonymous;
    - invalid assertion: 403 (503 if the keys cannot be loaded), session logged out; going on
      anonymous would bounce the browser between Sentry's login redirect and the gateway;
    - valid assertion, session already this user for this gateway session: go on (pending
      invites re-checked every INVITE_RECHECK_SECONDS);
    - valid assertion, otherwise, on a safe method: find or create the user, link invites,
      log in with Sentry's helper, grant sudo if configured;
    - valid assertion, otherwise, on an unsafe method: 401, so the app reloads with a GET.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.conf = GatewaySettings(getattr(settings, "SENTRY_AD_GATEWAY", None))
        self.verifier = build_verifier(self.conf)

    def __call__(self, request):
        return self.process(request) or self.get_response(request)

    def process(self, request):
        if request.path.startswith(self.conf.exempt_path_prefixes):
            return None
        if getattr(request, "auth", None) is not None:
            return None  # Sentry authenticated a token; the gateway passes token API calls through
        token = request.META.get(self.conf.header_meta_key)
        if not token:
            self._end_session(request, "no_assertion")
            return None
        try:
            claims = self.verifier.verify(token)
        except AssertionRejected as e:
            logger.warning("sentry_ad_gateway.assertion_rejected", extra={"code": e.code, "reason": str(e)})
            self._end_session(request, e.code)
            if e.code in ("GW_JWKS_UNAVAILABLE", "GW_PUBLIC_KEY_UNAVAILABLE"):
                return _refusal(request, 503, e.code, "Sentry cannot load the sign-in gateway's keys. Try again shortly.")
            return _refusal(request, 403, e.code, "The sign-in gateway's assertion was not accepted.")

        current = request.user if request.user.is_authenticated else None
        try:
            if current is not None and (current.email or "").lower() == claims["email"].strip().lower():
                check_account_allowed(current, self.conf)  # the hot path: no lookup needed
                user = current
            elif request.method in SAFE_METHODS:
                user = find_or_create_user(claims, self.conf)
            else:
                user = None
        except AccountRefused as e:
            logger.warning("sentry_ad_gateway.account_refused", extra={"code": e.code, "reason": str(e)})
            self._end_session(request, e.code)
            return _refusal(request, 403, e.code, "This Sentry account cannot be used through the sign-in gateway. Ask a Sentry administrator.")

        same_user = user is not None and current is not None and current.pk == user.pk
        if same_user and request.session.get(SESSION_SID_KEY) == claims["sid"]:
            self._recheck_invites(user, claims["email"])
            return None
        if request.method not in SAFE_METHODS:
            if same_user:
                return None  # new gateway session, same person: re-bound on the next safe request
            self._end_session(request, "unsafe_method_without_session")
            return _refusal(request, 401, "GW_SESSION_REQUIRED", "Your Sentry session must be renewed: reload the page.")
        return self._login(request, current, user, claims)

    def _login(self, request, current, user, claims):
        from sentry.utils.auth import login

        attach_pending_invites(user, claims["email"].strip())
        if current is not None and current.pk != user.pk:
            self._end_session(request, "different_user")
        # Sentry's helper, not Django's: it binds the session nonce and logs the sign-in;
        # passed_2fa because AD (and its MFA policy) already authenticated the person.
        if not login(request, user, passed_2fa=True, source=LOGIN_SOURCE):
            return _refusal(request, 403, "GW_LOGIN_REFUSED", "Sentry refused the sign-in.")
        request.session[SESSION_SID_KEY] = claims["sid"]
        if self.conf.grant_sudo:
            from sudo.utils import grant_sudo_privileges

            # The account has no password to re-enter; the assertion is fresh proof of an AD sign-in.
            grant_sudo_privileges(request, max_age=self.conf.sudo_max_age_seconds)
        logger.info("sentry_ad_gateway.login", extra={"user_id": user.pk, "sub": claims["sub"]})
        return None

    def _recheck_invites(self, user, email):
        from django.core.cache import cache

        # The gateway may create invites after sign-in (its provisioning queue); look again
        # now and then, without a query on every request.
        key = "sentry_ad_gateway:invites:%s" % user.pk
        if cache.add(key, 1, self.conf.invite_recheck_seconds):
            attach_pending_invites(user, email.strip())

    def _end_session(self, request, reason):
        from django.contrib.auth import logout

        if request.user.is_authenticated:
            logger.info("sentry_ad_gateway.logout", extra={"user_id": request.user.pk, "reason": reason})
            logout(request)  # flushes the session and fires user_logged_out (superuser mode off)
