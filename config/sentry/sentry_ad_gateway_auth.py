"""Sentry-side half of sentry-ad-gateway: turns the gateway's signed assertion into a Sentry session.

Installed into Sentry's MIDDLEWARE right after ``sentry.middleware.auth.AuthenticationMiddleware``
(see ``sentry.conf.snippet.py``). Configured by the ``SENTRY_AD_GATEWAY`` dict in ``sentry.conf.py``.

Sentry's own modules are imported inside functions, never at import time: ``sentry.conf.py`` is
evaluated before Sentry's app registry is ready, and the tests swap in small stand-ins for
Sentry's models and helpers by putting them first on ``sys.path``.
"""

import hashlib
import json
import logging
import os
import secrets
import threading
import time
import urllib.parse
import urllib.request

import jwt
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, router, transaction
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse

logger = logging.getLogger("sentry_ad_gateway")

# The gateway's default assertion lifetime is 60 s; the issue caps accepted clock skew at 30 s.
MAX_LEEWAY_SECONDS = 30
# Django's CSRF middleware checks unsafe methods in process_view, after every middleware ran:
# logging in rotates the CSRF secret, so doing it on a POST would fail the very request.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Only these two: the key type decides the algorithm, so a token cannot pick a weaker one.
ALGORITHM_FOR_KEY = {("EC", "P-256"): "ES256", ("OKP", "Ed25519"): "EdDSA"}
REQUIRED_CLAIMS = ["iss", "aud", "sub", "email", "iat", "nbf", "exp", "sid"]
OFFBOARD_REQUIRED_CLAIMS = ["iss", "aud", "sub", "email", "preferred_username", "iat", "nbf", "exp", "jti", "reason"]
OFFBOARD_REASONS = frozenset({"disabled", "expired", "deleted"})
OFFBOARD_MAX_LIFETIME_SECONDS = 60
OFFBOARD_PATH = "/_sentry-ad-gateway/offboard/"
# The gateway's call when AD lets a person it offboarded in again: audience `<AUDIENCE>:reactivate`.
REACTIVATE_PATH = "/_sentry-ad-gateway/reactivate/"
REACTIVATE_REQUIRED_CLAIMS = ["iss", "aud", "sub", "email", "preferred_username", "iat", "nbf", "exp", "jti"]
# Cache backends that cannot refuse a replayed offboarding token across Sentry's web workers:
# the dummy cache stores nothing, locmem is per process (each uWSGI worker has its own).
UNSHARED_CACHE_BACKENDS = frozenset(
    {"django.core.cache.backends.dummy.DummyCache", "django.core.cache.backends.locmem.LocMemCache"}
)
SESSION_SID_KEY = "_sag_sid"  # the gateway session (hashed id) this Sentry session was made for
SESSION_SUB_KEY = "_sag_sub"  # the AD objectGUID of the person this Sentry session was made for
# The earliest gateway sign-in time (`auth_time`/`mfa_time`, s) that counts for sudo in this Sentry
# session: that sign-in itself when the session was made right after it, else the session's own
# login time + 1 (only a re-authentication after the login counts). Server-side, in the session.
SESSION_SUDO_FROM_KEY = "_sag_sudo_from"
# With GRANT_SUDO off: when Sentry's own check (PUT /api/0/auth/ with a Sentry password or key) passed.
SESSION_SENTRY_SUDO_KEY = "_sag_sentry_sudo_at"
# Sentry's own 2FA: login() parks the person in _pending_2fa, its 2FA view (/auth/2fa/) finishes
# the login; get_pending_2fa_user (src/sentry/utils/auth.py) honours the mark for 5 minutes.
PENDING_2FA_KEY = "_pending_2fa"
PENDING_2FA_MAX_AGE_SECONDS = 300
TWO_FACTOR_PATH = "/auth/2fa/"
# Sentry's sudo modal (static/app/components/modals/sudoModal.tsx) sends PUT here
# (src/sentry/api/endpoints/auth_index.py AuthIndexEndpoint.put).
AUTH_INDEX_PATH = "/api/0/auth/"
# The gateway's re-authentication page (AD password again, plus its second factor if enrolled).
REAUTH_PATH = "/_gateway/reauth"
LOGIN_SOURCE = "ad-gateway"
# UserOption keys (global options: no project, no organization). See bound_user() for the choice.
SUB_OPTION_KEY = "sentry_ad_gateway:sub"  # the AD objectGUID this Sentry user is bound to
DEACTIVATED_OPTION_KEY = "sentry_ad_gateway:deactivated"  # set while the gateway holds the user inactive
SIDS_OPTION_KEY = "sentry_ad_gateway:sids"  # the last gateway sessions (hashed ids) that made a Sentry session
SIDS_KEPT = 20
# Who the audit lines name as the actor of what the module does on the gateway's behalf.
ACTOR_LABEL = "sentry-ad-gateway"
audit_logger = logging.getLogger("sentry.audit.user")  # the logger Sentry's user_details endpoint audits to
# Sentry's User.email and OrganizationMember.email are EmailField(max_length=75).
MAX_EMAIL_LENGTH = 75
# The module's clock for sudo and 2FA decisions (tests move it).
_now = time.time

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


class ReplayCacheUnavailable(Exception):
    """Sentry's cache neither stored the token id nor holds it: it is down, not a replay."""


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
            may_refetch = self._fetched_at is None or now - self._fetched_at >= self.cooldown_seconds
            if self._keys is None:
                # Never loaded: one attempt per cooldown, so an unreachable gateway does not make
                # every request wait up to the fetch timeout behind this lock.
                if not may_refetch:
                    raise AssertionRejected(
                        "GW_JWKS_UNAVAILABLE", "the gateway's JWKS could not be loaded; next try within %ss" % self.cooldown_seconds
                    )
                self._refresh(now)
            else:
                stale = now - self._fetched_at >= self.cache_seconds
                if stale or (kid not in self._keys and may_refetch):
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

    def __init__(self, keys, issuer, audience, leeway, max_lifetime, clock=time.time, required=REQUIRED_CLAIMS):
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.max_lifetime = max_lifetime
        self.clock = clock
        self.required = list(required)

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
                    options={"require": self.required, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.InvalidTokenError as e:
                raise AssertionRejected("GW_ASSERTION_INVALID", "%s: %s" % (type(e).__name__, e))
        if claims is None:
            raise AssertionRejected("GW_ASSERTION_SIGNATURE", "signature does not verify")
        # PyJWT accepts a list naming the audience among others; one token must never serve both
        # the sign-in and the offboarding audience, so `aud` is one string, exactly ours.
        if claims.get("aud") != self.audience:
            raise AssertionRejected("GW_ASSERTION_INVALID", "aud must be exactly %r" % self.audience)
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


def build_key_source(conf, clock=time.time):
    if conf.jwks_url:
        return JwksKeySource(
            conf.jwks_url, conf.jwks_cache_seconds, conf.jwks_refetch_cooldown_seconds, conf.jwks_timeout_seconds, clock=clock
        )
    return PemKeySource(conf.public_key_file)


def build_verifier(conf, clock=time.time, keys=None):
    keys = keys or build_key_source(conf, clock)
    return AssertionVerifier(keys, conf.issuer, conf.audience, conf.leeway_seconds, conf.max_token_lifetime_seconds, clock)


def build_offboard_verifier(conf, clock=time.time, keys=None, suffix=":offboard", required=OFFBOARD_REQUIRED_CLAIMS):
    """Same keys and issuer as sign-in; audience `<sign-in audience><suffix>`; at most 60 s to live."""
    keys = keys or build_key_source(conf, clock)
    return AssertionVerifier(
        keys,
        conf.issuer,
        conf.audience + suffix,
        conf.leeway_seconds,
        OFFBOARD_MAX_LIFETIME_SECONDS,
        clock,
        required=required,
    )


def check_replay_cache():
    """Refuse at start a default cache that cannot keep an offboarding token from being used twice."""
    backend = ((getattr(settings, "CACHES", None) or {}).get("default") or {}).get("BACKEND", "")
    if backend in UNSHARED_CACHE_BACKENDS:
        raise ImproperlyConfigured(
            "sentry_ad_gateway_auth: CACHES['default'] is %s, which Sentry's web workers do not share: "
            "it cannot refuse a replayed offboarding request. Use Sentry's memcached or Redis cache." % backend
        )


def claim_token_id(jti, ttl):
    """Record an offboarding token's id in Sentry's (shared) cache; False if it was used before.

    ``cache.add`` answers False both for a key that exists and, on a memcached client that
    swallows errors (self-hosted sets ``ignore_exc: True``), for a cache that is down. A read of
    the key and a write-then-read probe tell the two apart: a cache that cannot hold a value
    raises ReplayCacheUnavailable, so the gateway retries instead of hearing "replayed".
    """
    from django.core.cache import cache

    key = "sentry_ad_gateway:offboard-jti:" + hashlib.sha256(jti.encode("utf-8")).hexdigest()
    if cache.add(key, 1, ttl):
        return True
    if cache.get(key) is not None:
        return False
    probe_key, probe = "sentry_ad_gateway:cache-probe:" + secrets.token_hex(8), secrets.token_hex(8)
    cache.set(probe_key, probe, 10)
    working = cache.get(probe_key) == probe
    cache.delete(probe_key)
    if not working:
        raise ReplayCacheUnavailable("Sentry's cache does not keep values")
    return False  # the cache works and the id came and went: never accept a token twice


# --- accounts -------------------------------------------------------------------------------


def _models():
    try:
        from sentry.users.models.user import User
        from sentry.users.models.user_option import UserOption
        from sentry.users.models.useremail import UserEmail
    except ImportError:  # Sentry releases before the users/ package split
        from sentry.models import User, UserEmail, UserOption
    from sentry.models.organizationmember import InviteStatus, OrganizationMember

    return User, UserEmail, UserOption, OrganizationMember, InviteStatus


def check_sentry_apis():
    """Fail at start, naming what is missing, on a Sentry without the parts the module uses."""
    missing = []
    for module, names in (
        ("sentry.utils.auth", ("login",)),
        ("sentry.utils.audit", ("create_audit_entry",)),
        ("sentry.audit_log", ("get_event_id",)),
        ("sentry.signals", ("member_joined",)),
        ("sentry.models.apitoken", ("ApiToken",)),
        ("sudo.utils", ("revoke_sudo_privileges",)),
    ):
        try:
            imported = __import__(module, fromlist=list(names))
            missing.extend("%s.%s" % (module, n) for n in names if not hasattr(imported, n))
        except ImportError:
            missing.append(module)
    try:
        _models()
    except ImportError as e:
        missing.append(str(e))
    if missing:
        raise ImproperlyConfigured(
            "sentry_ad_gateway_auth: this Sentry lacks %s; see docs/sentry-module.md, \"Sentry versions\", for the supported versions"
            % ", ".join(missing)
        )


def check_account_allowed(user, conf):
    """The gateway never signs anyone in as a superuser, staff or disabled account unless told to by name."""
    if not user.is_active:
        raise AccountRefused("GW_ACCOUNT_DISABLED", "Sentry account %s is disabled" % user.pk)
    if (user.is_superuser or user.is_staff) and (user.email or "").strip().lower() not in conf.superuser_emails:
        raise AccountRefused("GW_ACCOUNT_PRIVILEGED", "Sentry account %s is a superuser or staff" % user.pk)


def _global_options(UserOption, **filters):
    # Global user options: neither project nor organization (as UserOption.objects.set_value(user, key, v)).
    return UserOption.objects.filter(project_id__isnull=True, organization_id__isnull=True, **filters)


def _option(user_id, key, default=None):
    _, _, UserOption, _, _ = _models()
    row = _global_options(UserOption, user_id=user_id, key=key).values_list("value", flat=True).first()
    return default if row is None else row


def _set_option(user_id, key, value):
    _, _, UserOption, _, _ = _models()
    if _global_options(UserOption, user_id=user_id, key=key).update(value=value):
        return
    try:
        with transaction.atomic(router.db_for_write(UserOption)):
            UserOption.objects.create(user_id=user_id, project_id=None, organization_id=None, key=key, value=value)
    except IntegrityError:  # a concurrent request created it
        _global_options(UserOption, user_id=user_id, key=key).update(value=value)


def _delete_option(user_id, key):
    _, _, UserOption, _, _ = _models()
    for row in _global_options(UserOption, user_id=user_id, key=key):
        row.delete()


def _sub_cache_key(sub):
    return "sentry_ad_gateway:sub:" + hashlib.sha256(sub.encode("utf-8")).hexdigest()


def bound_user(sub):
    """The Sentry user bound to this AD objectGUID, or None.

    Where the binding lives: a global ``UserOption`` (``sentry_ad_gateway:sub`` = the objectGUID).
    It is Sentry's own per-user key/value table, so the binding needs no migration, travels with
    the user through Sentry's export/import and ``User.merge_to``, and disappears with the user.
    Sentry has no indexed column for an external id that would not show up elsewhere (``Identity``
    rows appear on the account's identities page and need a registered provider; ``AuthIdentity``
    needs an organization SSO provider), and ``UserOption`` is indexed by user, not by value.
    So: the Django cache (Sentry's memcached/Redis) maps the objectGUID to the user id and that
    row is re-read by its (user, key) index; only a cache miss reads the option rows of that one
    key (one small row per gateway user), once per sign-in of a person whose Sentry session is gone,
    never on the hot path of a signed-in session.
    """
    from django.core.cache import cache

    User, _, UserOption, _, _ = _models()
    key = _sub_cache_key(sub)
    cached = cache.get(key)
    if cached is not None and _option(cached, SUB_OPTION_KEY) == sub:
        user = User.objects.filter(pk=cached).first()
        if user is not None:
            return user
    ids = [uid for uid, value in _global_options(UserOption, key=SUB_OPTION_KEY).values_list("user_id", "value") if value == sub]
    if len(ids) > 1:
        raise AccountRefused("GW_ACCOUNT_AMBIGUOUS", "more than one Sentry account is bound to this AD account")
    if not ids:
        return None
    cache.set(key, ids[0], 86400)
    return User.objects.filter(pk=ids[0]).first()


def bind_user(user, sub):
    from django.core.cache import cache

    if _option(user.pk, SUB_OPTION_KEY) != sub:
        _set_option(user.pk, SUB_OPTION_KEY, sub)
        logger.info("sentry_ad_gateway.user_bound", extra={"user_id": user.pk, "sub": sub})
    cache.set(_sub_cache_key(sub), user.pk, 86400)


def _address_holders(UserEmail, UserOption, User, email, sub):
    """Accounts holding the address, not bound to another AD person: (verified by id, active unverified)."""
    verified, unverified = {}, {}
    for row in UserEmail.objects.filter(email__iexact=email).select_related("user"):
        (verified if row.is_verified else unverified).setdefault(row.user_id, row.user)
    for user in User.objects.filter(email__iexact=email):  # a primary address without a UserEmail row
        if user.pk not in verified:
            unverified.setdefault(user.pk, user)
    unverified = {uid: u for uid, u in unverified.items() if uid not in verified and u.is_active}
    every = list(verified) + list(unverified)
    if every:
        bound = dict(_global_options(UserOption, user_id__in=every, key=SUB_OPTION_KEY).values_list("user_id", "value"))
        verified = {uid: u for uid, u in verified.items() if bound.get(uid) in (None, sub)}
        unverified = {uid: u for uid, u in unverified.items() if bound.get(uid) in (None, sub)}
    return verified, list(unverified.values())


def _decide_unverified(accounts, email, conf):
    if len(accounts) > 1:
        raise AccountRefused("GW_ACCOUNT_AMBIGUOUS", "more than one Sentry account has this email")
    user = accounts[0]
    if user.is_superuser or user.is_staff:
        if conf is not None and email.lower() in conf.superuser_emails:
            return user
        raise AccountRefused("GW_ACCOUNT_PRIVILEGED", "Sentry account %s is a superuser or staff" % user.pk)
    raise AccountRefused(
        "GW_ACCOUNT_UNVERIFIED",
        "Sentry account %s holds this email unverified: an admin must verify or remove it" % user.pk,
    )


def resolve_adoptable_user(email, sub, conf=None):
    """The existing account an AD person may take over by address, as Sentry resolves an address.

    Like ``sentry.auth.email.resolve_email_to_user``: every ``UserEmail`` with the address, of
    active users; prefer a verified address, then a member of an organization, then the account
    whose primary address it is; a step that would leave no one is skipped. Unlike it, only a
    *verified* address adopts (an unverified one is anyone's claim), an account bound to another
    AD person is never a candidate, and there is no username fallback. If no active account has
    the address verified but an inactive one does, that inactive account is returned (so the
    sign-in reactivates it if the gateway deactivated it, and is refused if an admin did): the
    gateway must not build a second account past an admin's decision.

    An active account holding the address only unverified (``sentry createuser`` leaves it so,
    as does a sign-up that never confirmed) is decided on too, never passed over for a new,
    duplicate account: a superuser or staff account is refused as privileged unless its address
    is listed in SUPERUSER_EMAILS (then it is adopted: the operator named it); any other one is
    refused as unverified, since taking it over would hand the person's access to whoever made it.
    """
    User, UserEmail, UserOption, OrganizationMember, _ = _models()
    users, unverified = _address_holders(UserEmail, UserOption, User, email, sub)
    active = [u for u in users.values() if u.is_active]
    if not active and unverified:
        return _decide_unverified(unverified, email, conf)
    if not active:
        inactive = list(users.values())
        if len(inactive) > 1:
            raise AccountRefused("GW_ACCOUNT_DISABLED", "the Sentry accounts with this verified email are disabled")
        return inactive[0] if inactive else None
    candidates = active
    for step in (
        lambda cs: [u for u in cs if u.pk in set(OrganizationMember.objects.filter(user_id__in=[c.pk for c in cs]).values_list("user_id", flat=True))],
        lambda cs: [u for u in cs if (u.email or "").lower() == email.lower()],
    ):
        if len(candidates) == 1:
            break
        narrowed = step(candidates)
        if narrowed:
            candidates = narrowed
    if len(candidates) > 1:
        raise AccountRefused("GW_ACCOUNT_AMBIGUOUS", "more than one Sentry account has this verified email")
    return candidates[0]


def find_or_create_user(claims, conf):
    """The Sentry (database) user for the assertion's person: bound by objectGUID, else adopted by
    a verified address, else created managed; reactivated if the gateway had deactivated it."""
    User, UserEmail, _, _, _ = _models()
    sub = claims["sub"]
    email = claims["email"].strip()
    user = bound_user(sub)
    if user is None:
        user = resolve_adoptable_user(email, sub, conf) or _create_user(User, email, claims)
    reactivate_if_gateway_deactivated(user, claims)
    check_account_allowed(user, conf)
    bind_user(user, sub)
    _ensure_email(UserEmail, user, email)
    _ensure_usable_password(user)
    return user


def reactivate_if_gateway_deactivated(user, claims):
    """Undo the gateway's own deactivation when AD says yes again: a sign-in assertion from a
    gateway session that did not exist when the user was deactivated (and, if the assertion says
    when the password was checked, checked after it). A user an admin deactivated has no mark
    and stays inactive."""
    mark = _option(user.pk, DEACTIVATED_OPTION_KEY)
    if not isinstance(mark, dict):
        return
    if not user.is_active:
        if claims["sid"] in (mark.get("sids") or []):
            return  # a gateway session from before the deactivation: not a new AD sign-in
        auth_time = claims.get("auth_time")
        if auth_time is not None and not (isinstance(auth_time, (int, float)) and auth_time > mark.get("at", 0)):
            return
        user.is_active = True
        user.save(update_fields=["is_active"])  # the model's save: Sentry replicates users through it
        audit_logger.info(
            "user.edit",
            extra={"user_id": user.pk, "actor_id": None, "actor_label": ACTOR_LABEL, "form_data": {"isActive": True}},
        )
        logger.info("sentry_ad_gateway.user_reactivated", extra={"user_id": user.pk, "previous_reason": mark.get("reason")})
    _delete_option(user.pk, DEACTIVATED_OPTION_KEY)


def forget_mark_on_activation(sender, instance, update_fields=None, **kwargs):
    """post_save of User: an account saved active by anyone (an admin's "active" switch saves
    the whole user) is no longer held inactive by the gateway, so the gateway's mark goes, and
    a later deactivation is the admin's own, which a sign-in never undoes. The module's own
    saves name their fields and never hit this with is_active True and a mark standing."""
    if not instance.is_active or (update_fields is not None and "is_active" not in update_fields):
        return
    if _option(instance.pk, DEACTIVATED_OPTION_KEY) is not None:
        _delete_option(instance.pk, DEACTIVATED_OPTION_KEY)
        logger.info("sentry_ad_gateway.deactivation_mark_cleared", extra={"user_id": instance.pk})


def connect_signals():
    from django.db.models.signals import post_save

    User = _models()[0]
    post_save.connect(forget_mark_on_activation, sender=User, weak=False, dispatch_uid="sentry_ad_gateway_mark")


def _create_user(User, email, claims):
    name = str(claims.get("name") or "").strip()[:200]
    for username in (email, "%s#%s" % (email, claims["sub"][:8])):
        user = User(username=username[:128], email=email, name=name, is_managed=True)
        # Managed: its username and password cannot be changed in Sentry's UI; AD stays the source of
        # truth. A random password nobody knows (not an unusable one): see _ensure_usable_password.
        user.set_password(secrets.token_urlsafe(48))
        try:
            with transaction.atomic(router.db_for_write(User)):
                user.save()
                bind_user(user, claims["sub"])
        except IntegrityError:
            # The username is taken: by the same person's concurrent first request (then it is
            # bound by now), or by an account this address does not adopt (unverified address).
            raced = bound_user(claims["sub"])
            if raced is not None:
                return raced
            continue
        logger.info("sentry_ad_gateway.user_created", extra={"user_id": user.pk, "sub": claims.get("sub")})
        return user
    raise AccountRefused("GW_ACCOUNT_AMBIGUOUS", "cannot create a Sentry account: its usernames are taken")


def _ensure_email(UserEmail, user, email):
    """AD vouches for the address: verified, and the account's primary address (what Sentry shows
    as a member's email and matches invites with), so an address change in AD follows the person."""
    user_email = UserEmail.objects.filter(user=user, email__iexact=email).first()
    if user_email is None:
        user_email = UserEmail.objects.create(user=user, email=email, is_verified=True)
    elif not user_email.is_verified:
        user_email.is_verified = True
        user_email.save(update_fields=["is_verified"])
    if (user.email or "").lower() != email.lower():
        logger.info("sentry_ad_gateway.primary_email_changed", extra={"user_id": user.pk})
        user.email = user_email.email
        user.save(update_fields=["email"])


def _ensure_usable_password(user):
    """Sentry treats an account without a usable password as always in sudo
    (sentry/middleware/sudo.py, sentry/api/decorators.py): anyone holding its session could then
    create API tokens. Such an account gets a long random password nobody knows, so sudo comes
    only from the module's grant right after an AD sign-in (or from a password the person set)."""
    if user.has_usable_password():
        return
    user.set_password(secrets.token_urlsafe(48))
    fields = ["password"] + [f for f in ("last_password_change", "is_password_expired") if hasattr(user, f)]
    user.save(update_fields=fields)
    logger.info("sentry_ad_gateway.random_password_set", extra={"user_id": user.pk})


def _set_member_user(member, user):
    """Sentry's OrganizationMember.set_user, whose argument changed from a User to a user id."""
    import inspect

    set_user = getattr(member, "set_user", None)
    if set_user is not None:
        params = inspect.signature(set_user).parameters
        set_user(user.pk if "user_id" in params else user)
    else:
        member.user_id = user.pk
        member.email = None
        member.token = None
        member.token_expires_at = None


def attach_pending_invites(request, user, email):
    """Accept every approved, pending, unexpired invite for ``email`` as ``user``, as Sentry's own
    accept path does (``ApiInviteHelper.accept_invite``): the member row gets the user, a
    ``MEMBER_ACCEPT`` audit entry is written and ``member_joined`` is sent. An invite into an
    organization the user already belongs to is deleted. An expired invite is left alone (Sentry
    refuses expired tokens; the gateway renews it) and logged, and so is one into an organization
    that requires 2FA while the user has no Sentry authenticator. Returns how many were accepted.
    """
    from sentry import audit_log
    from sentry.signals import member_joined
    from sentry.utils.audit import create_audit_entry

    _, _, _, OrganizationMember, InviteStatus = _models()
    db = router.db_for_write(OrganizationMember)
    pending = OrganizationMember.objects.filter(
        email__iexact=email, user_id__isnull=True, invite_status=InviteStatus.APPROVED.value
    )
    linked = 0
    has_sentry_2fa = None
    for member in list(pending):
        if member.organization.flags.require_2fa:
            # "Require 2FA" counts Sentry's own authenticators (user.has_2fa()), never the gateway's
            # factor. Sentry turns a member without one back into an invite
            # (src/sentry/tasks/auth.py remove_2fa_non_compliant_members) and its accept path asks
            # for 2FA first; accepting it here would undo that.
            if has_sentry_2fa is None:
                has_sentry_2fa = bool(user.has_2fa())
            if not has_sentry_2fa:
                logger.info(
                    "sentry_ad_gateway.invite_needs_sentry_2fa",
                    extra={"user_id": user.pk, "organization_id": member.organization_id, "member_id": member.pk},
                )
                continue
        if member.token_expired:
            logger.info(
                "sentry_ad_gateway.invite_expired",
                extra={
                    "user_id": user.pk,
                    "organization_id": member.organization_id,
                    "member_id": member.pk,
                    "detail": "left pending: the gateway renews expired invites",
                },
            )
            continue
        with transaction.atomic(db):
            if OrganizationMember.objects.filter(organization_id=member.organization_id, user_id=user.pk).exists():
                member.delete()
                continue
            _set_member_user(member, user)
            member.save()
        metadata = member.get_audit_log_metadata() if hasattr(member, "get_audit_log_metadata") else member.get_audit_log_data()
        create_audit_entry(
            request,
            actor=user,
            organization_id=member.organization_id,
            target_object=member.id,
            target_user_id=user.pk,
            event=audit_log.get_event_id("MEMBER_ACCEPT"),
            data=metadata,
        )
        member_joined.send_robust(
            sender=None, organization_id=member.organization_id, user_id=user.pk, organization_member_id=member.id
        )
        linked += 1
        logger.info(
            "sentry_ad_gateway.invite_linked",
            extra={"user_id": user.pk, "organization_id": member.organization_id, "member_id": member.pk},
        )
    return linked


def _seen_sids(user_id):
    sids = _option(user_id, SIDS_OPTION_KEY, [])
    return sids if isinstance(sids, list) else []


def remember_sid(user_id, sid):
    """Record the gateway session that made a Sentry session; True if it is the first time."""
    sids = _seen_sids(user_id)
    if sid in sids:
        return False
    _set_option(user_id, SIDS_OPTION_KEY, (sids + [sid])[-SIDS_KEPT:])
    return True


def end_all_sessions(user):
    """What Sentry's own logout receiver (refresh_user_nonce) does: a new session nonce, so every
    session bound to the old one is anonymous from its next request on."""
    user.refresh_session_nonce()
    user.save(update_fields=["session_nonce"])


def org_tokens_created_by(user_id):
    """The organization auth tokens (``sntrys_``) the user created that still work. Sentry keeps
    them when their creator goes (``OrgAuthToken.created_by`` is SET_NULL, nothing deactivates
    them), and so does the gateway: CI depends on them. They are named so an admin can rotate them."""
    try:
        from sentry.models.orgauthtoken import OrgAuthToken
    except ImportError:  # a Sentry before organization auth tokens
        return []
    rows = OrgAuthToken.objects.filter(created_by_id=user_id, date_deactivated__isnull=True).order_by("id")
    return [
        {"id": str(t.id), "organizationId": str(t.organization_id), "name": t.name, "lastCharacters": t.token_last_characters or ""}
        for t in rows
    ]


def remove_membership(user, organization_slug, request=None):
    """Delete the user's membership of the organization, as Sentry's member DELETE does (with a
    MEMBER_REMOVE audit entry). Sentry's own API cannot: its member list and member details skip
    inactive users. Returns the removed member's id, or None."""
    from sentry import audit_log
    from sentry.utils.audit import create_audit_entry

    _, _, _, OrganizationMember, _ = _models()
    member = OrganizationMember.objects.filter(user_id=user.pk, organization__slug=organization_slug).first()
    if member is None:
        return None
    metadata = member.get_audit_log_metadata() if hasattr(member, "get_audit_log_metadata") else member.get_audit_log_data()
    member_id, organization_id = member.pk, member.organization_id
    with transaction.atomic(router.db_for_write(OrganizationMember)):
        member.delete()
    create_audit_entry(
        request,
        actor=None,
        actor_label=ACTOR_LABEL,
        organization_id=organization_id,
        target_object=member_id,
        target_user_id=user.pk,
        event=audit_log.get_event_id("MEMBER_REMOVE"),
        data=metadata,
    )
    logger.info("sentry_ad_gateway.member_removed", extra={"user_id": user.pk, "organization_id": organization_id, "member_id": member_id})
    return member_id


def offboard_user(claims, conf, request=None):
    """Take Sentry access away from the person AD disabled, expired or deleted. None if not found.

    The user bound to ``sub``; else the one active account the sign-in would adopt by its
    address, unless it is one the gateway may not sign in (superuser or staff not listed in
    SUPERUSER_EMAILS, an account holding the address unverified, two accounts): the gateway
    never deactivates an account it could not have signed in, and says so (AccountRefused).
    """
    from sentry.models.apitoken import ApiToken

    User, _, _, _, _ = _models()
    sub = claims["sub"]
    user = bound_user(sub)
    if user is None:
        user = resolve_adoptable_user(claims["email"].strip(), sub, conf)
        if user is None or not user.is_active:
            return None
        check_account_allowed(user, conf)
        bind_user(user, sub)
    with transaction.atomic(router.db_for_write(User)):
        deactivated = bool(user.is_active)
        if deactivated:
            user.is_active = False
            user.save(update_fields=["is_active"])
            mark = {"reason": claims["reason"], "at": int(time.time()), "sids": _seen_sids(user.pk)}
            _set_option(user.pk, DEACTIVATED_OPTION_KEY, mark)
        revoked = 0
        for token in ApiToken.objects.filter(user_id=user.pk):
            token.delete()  # one by one: the model's delete replicates (outboxes) on a real Sentry
            revoked += 1
        end_all_sessions(user)
    if deactivated:
        audit_logger.info(
            "user.edit",
            extra={"user_id": user.pk, "actor_id": None, "actor_label": ACTOR_LABEL, "form_data": {"isActive": False}},
        )
    removed = None
    remove_from = claims.get("remove_member_of")
    if isinstance(remove_from, str) and remove_from:
        removed = remove_membership(user, remove_from, request)
    org_tokens = org_tokens_created_by(user.pk)
    logger.info(
        "sentry_ad_gateway.offboard",
        extra={
            "user_id": user.pk,
            "sub": sub,
            "reason": claims["reason"],
            "deactivated": deactivated,
            "tokens_revoked": revoked,
            "org_tokens_kept": len(org_tokens),
        },
    )
    answer = {"found": True, "userId": str(user.pk), "deactivated": deactivated, "tokensRevoked": revoked, "orgTokens": org_tokens}
    if removed is not None:
        answer["memberRemoved"] = str(removed)
    return answer


def reactivate_user(claims, conf):
    """AD lets a person in again: reactivate the Sentry user the gateway deactivated, so their
    membership shows in Sentry's member list again (which skips inactive users) and provisioning
    updates it instead of inviting them anew. Only a user bound to ``sub`` whose deactivation
    mark still stands (nobody activated it since): an account an admin deactivated stays so
    (AccountRefused). None if no user is bound to ``sub``."""
    user = bound_user(claims["sub"])
    if user is None:
        return None
    was_inactive = not user.is_active
    if was_inactive and not isinstance(_option(user.pk, DEACTIVATED_OPTION_KEY), dict):
        raise AccountRefused("GW_ACCOUNT_DISABLED", "Sentry account %s was deactivated by an admin" % user.pk)
    if was_inactive:
        _delete_option(user.pk, DEACTIVATED_OPTION_KEY)
        user.is_active = True
        user.save(update_fields=["is_active"])
        audit_logger.info(
            "user.edit",
            extra={"user_id": user.pk, "actor_id": None, "actor_label": ACTOR_LABEL, "form_data": {"isActive": True}},
        )
        logger.info("sentry_ad_gateway.user_reactivated", extra={"user_id": user.pk, "by": "gateway"})
    return {"found": True, "userId": str(user.pk), "reactivated": was_inactive}


# --- the middleware -------------------------------------------------------------------------


def _has_mfa(claims):
    amr = claims.get("amr")
    return isinstance(amr, list) and "mfa" in amr


def _typed_password(claims):
    """Whether the session's last authentication was a typed AD password (`amr` has `pwd`). No `amr`
    at all: an older gateway, which only ever signed in with the password. A Kerberos sign-in
    (`wia`, a ticket from a domain-joined machine) is not one: whoever sits at an unlocked desk has
    the ticket, so it never counts for sudo."""
    amr = claims.get("amr")
    if amr is None:
        return True
    return isinstance(amr, list) and "pwd" in amr


def _sudo_clock_claim(claims):
    """When the person last proved who they are at the gateway: `auth_time` (the AD password), and
    where the sign-in had a second factor the older of it and `mfa_time`, so sudo needs both to be
    recent (a factor passed again on its own, say a key touched at an unattended desk, renews
    nothing); None if a needed claim is absent or not a number, or if no password was typed (a
    Kerberos sign-in): no sudo, the prompt sends the person to /_gateway/reauth."""
    if not _typed_password(claims):
        return None
    names = ("auth_time", "mfa_time") if _has_mfa(claims) else ("auth_time",)
    values = [claims.get(n) for n in names]
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        return None
    return min(values)


def _same_origin_path(path):
    """A path on this site, or None: never //host or /\\host, which browsers read as another site."""
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//") or path.startswith("/\\"):
        return None
    return path


def _referer_path(request, issuer):
    """The page the person was on (this site only), for the re-authentication's `next`."""
    parts = urllib.parse.urlsplit(request.META.get("HTTP_REFERER", ""))
    if parts.netloc and parts.netloc not in (request.get_host(), urllib.parse.urlsplit(issuer).netloc):
        return "/"
    path = parts.path + ("?" + parts.query if parts.query else "")
    return _same_origin_path(path) or "/"


def _refusal(request, status, code, message):
    if "text/html" in request.META.get("HTTP_ACCEPT", ""):
        return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    return JsonResponse({"detail": message, "error": code}, status=status)


class GatewayAssertionMiddleware:
    """Binds every browser session to a valid gateway assertion; serves the offboarding endpoint.

    - ``POST /_sentry-ad-gateway/offboard/``: see ``offboard`` (its own audience, never a login);
    - token-authenticated requests (``request.auth`` set by Sentry's middleware): untouched;
    - no assertion: this session ends (only this one), the request goes on anonymous;
    - invalid assertion: 403 (503 if the keys cannot be loaded), this session ends; going on
      anonymous would bounce the browser between Sentry's login redirect and the gateway;
    - valid assertion, session already this person for this gateway session: go on (pending
      invites re-checked every INVITE_RECHECK_SECONDS);
    - valid assertion, otherwise, on a safe method: find, adopt or create the user, accept
      invites, log in with Sentry's helper (Sentry's own 2FA unless ``amr`` has ``mfa``);
    - while Sentry's 2FA waits for this person: its /auth/2fa/ page passes, the rest is sent there;
    - every request of a session the module made: sudo decided here (``_sudo_allowed``), and
      Sentry's sudo prompt (PUT /api/0/auth/) answered from the gateway's sign-in;
    - valid assertion, otherwise, on an unsafe method: 401, so the app reloads with a GET.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.conf = GatewaySettings(getattr(settings, "SENTRY_AD_GATEWAY", None))
        check_sentry_apis()
        check_replay_cache()
        connect_signals()
        keys = build_key_source(self.conf)
        self.verifier = build_verifier(self.conf, keys=keys)
        self.offboard_verifier = build_offboard_verifier(self.conf, keys=keys)
        self.reactivate_verifier = build_offboard_verifier(self.conf, keys=keys, suffix=":reactivate", required=REACTIVATE_REQUIRED_CLAIMS)

    def __call__(self, request):
        response = self.process(request)
        if response is not None:
            return response
        response = self.get_response(request)
        self._after_sentry(request, response)
        return response

    def _after_sentry(self, request, response):
        """With GRANT_SUDO off, Sentry's own sudo prompt decides: remember when it last passed."""
        if (
            not self.conf.grant_sudo
            and getattr(request, "_sag_managed", False)
            and request.method == "PUT"
            and request.path == AUTH_INDEX_PATH
            and response.status_code == 200
        ):
            request.session[SESSION_SENTRY_SUDO_KEY] = int(_now())

    def process(self, request):
        if request.path == OFFBOARD_PATH:
            return self.offboard(request)
        if request.path == REACTIVATE_PATH:
            return self.reactivate(request)
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
        same_person = current is not None and request.session.get(SESSION_SUB_KEY) == claims["sub"]
        try:
            if same_person and request.session.get(SESSION_SID_KEY) == claims["sid"]:
                # The hot path: request.user is Sentry's RpcUser; no lookup needed.
                check_account_allowed(current, self.conf)
                self._recheck_invites(request, current, claims["email"])
                return self._managed(request, claims, current)
            if request.method not in SAFE_METHODS:
                if same_person:
                    check_account_allowed(current, self.conf)
                    # New gateway session, same person: re-bound on the next safe request.
                    return self._managed(request, claims, current)
                if current is None and self._pending_2fa_for(request, claims):
                    return self._sentry_two_factor(request)
                self._end_session(request, "unsafe_method_without_session")
                return _refusal(request, 401, "GW_SESSION_REQUIRED", "Your Sentry session must be renewed: reload the page.")
            if current is None and self._pending_2fa_for(request, claims):
                return self._sentry_two_factor(request)
            user = find_or_create_user(claims, self.conf)
        except AccountRefused as e:
            logger.warning("sentry_ad_gateway.account_refused", extra={"code": e.code, "reason": str(e)})
            self._end_session(request, e.code)
            return _refusal(request, 403, e.code, "This Sentry account cannot be used through the sign-in gateway. Ask a Sentry administrator.")
        return self._login(request, current, user, claims)

    def _login(self, request, current, user, claims):
        from sentry.utils.auth import AuthUserPasswordExpired, login

        attach_pending_invites(request, user, claims["email"].strip())
        if current is not None and current.pk != user.pk:
            self._end_session(request, "different_user")
        if getattr(user, "is_password_expired", False):
            # The gateway's sign-in is this account's password now; Sentry's expiry would make
            # login() raise from middleware, where no Sentry view turns it into a page (a 500).
            user.is_password_expired = False
            user.save(update_fields=["is_password_expired"])
            logger.info("sentry_ad_gateway.password_expiry_cleared", extra={"user_id": user.pk})
        # The earliest sign-in that counts for sudo in the Sentry session made now: the one that
        # made it, if it is the first Sentry session of this gateway session; else only a later one.
        first_for_sid = remember_sid(user.pk, claims["sid"])
        sign_in_time = _sudo_clock_claim(claims)
        now = _now()
        if first_for_sid and sign_in_time is not None and now - sign_in_time <= self.conf.sudo_max_age_seconds:
            sudo_from = sign_in_time
        else:
            sudo_from = int(now) + 1
        # Sentry's helper, not Django's: it binds the session nonce and logs the sign-in. 2FA as
        # Sentry's own login view does it (passed_2fa=None: a Sentry authenticator sends the person
        # to Sentry's 2FA page), unless the gateway checked a second factor (`amr` has `mfa`).
        # `user` is the database User: request.user is an RpcUser, which Django's login cannot store.
        passed_2fa = True if _has_mfa(claims) else None
        after_2fa = _same_origin_path(request.get_full_path()) if request.method in ("GET", "HEAD") else None
        try:
            logged_in = login(request, user, passed_2fa=passed_2fa, after_2fa=after_2fa, source=LOGIN_SOURCE)
        except AuthUserPasswordExpired:
            return _refusal(request, 403, "GW_LOGIN_REFUSED", "Sentry refused the sign-in: its password for this account has expired.")
        request.session[SESSION_SID_KEY] = claims["sid"]
        request.session[SESSION_SUB_KEY] = claims["sub"]
        request.session[SESSION_SUDO_FROM_KEY] = sudo_from
        if not logged_in:
            if self._pending_2fa_for(request, claims):
                logger.info("sentry_ad_gateway.sentry_2fa", extra={"user_id": user.pk, "sub": claims["sub"]})
                return self._sentry_two_factor(request)
            return _refusal(request, 403, "GW_LOGIN_REFUSED", "Sentry refused the sign-in.")
        logger.info("sentry_ad_gateway.login", extra={"user_id": user.pk, "sub": claims["sub"]})
        return self._managed(request, claims, request.user)

    # --- Sentry's own 2FA -------------------------------------------------------------------

    def _pending_2fa_for(self, request, claims):
        """True while this session waits on Sentry's 2FA page for the person the assertion names."""
        pending = request.session.get(PENDING_2FA_KEY)
        if not isinstance(pending, (list, tuple)) or len(pending) < 2:
            return False
        if request.session.get(SESSION_SUB_KEY) != claims["sub"] or request.session.get(SESSION_SID_KEY) != claims["sid"]:
            return False
        try:
            fresh = float(pending[1]) >= _now() - PENDING_2FA_MAX_AGE_SECONDS
        except (TypeError, ValueError):
            fresh = False
        if not fresh:
            # Sentry's 2FA view would send the person to its login page, and back here: start over.
            del request.session[PENDING_2FA_KEY]
            return False
        return True

    def _sentry_two_factor(self, request):
        """Sentry's 2FA page passes untouched; everything else is sent (or pointed) there."""
        if request.path == TWO_FACTOR_PATH:
            return None  # its login(passed_2fa=True) fires user_logged_in: the next request decides sudo
        if request.method in ("GET", "HEAD") and "application/json" not in request.META.get("HTTP_ACCEPT", ""):
            return HttpResponseRedirect(TWO_FACTOR_PATH)
        return JsonResponse(
            {"detail": "Finish signing in with your Sentry authenticator at %s" % TWO_FACTOR_PATH, "error": "GW_SENTRY_2FA_REQUIRED"},
            status=401,
        )

    # --- sudo -------------------------------------------------------------------------------

    def _managed(self, request, claims, user):
        """A request of a session the module made: sudo decided here, the sudo prompt answered."""
        request._sag_managed = True
        allowed = self._sudo_allowed(request, claims)
        if allowed:
            request._sudo = True  # read by sudo.utils.has_sudo_privileges; no cookie involved
        else:
            # Whatever sudo's user_logged_in receiver granted (a session token and a 3 h cookie)
            # goes; the cookie is deleted on the way out (sudo.middleware, _sudo False).
            from sudo.utils import revoke_sudo_privileges

            revoke_sudo_privileges(request)
        if self.conf.grant_sudo and request.method == "PUT" and request.path == AUTH_INDEX_PATH:
            return self._answer_sudo_prompt(request, user, allowed)
        return None

    def _sudo_allowed(self, request, claims):
        """Sudo only within SUDO_MAX_AGE_SECONDS of a gateway sign-in that counts for this session
        (GRANT_SUDO), or of Sentry's own sudo check (GRANT_SUDO off). Never a cookie's age."""
        now = _now()
        max_age = self.conf.sudo_max_age_seconds
        if not self.conf.grant_sudo:
            at = request.session.get(SESSION_SENTRY_SUDO_KEY)
            return isinstance(at, (int, float)) and 0 <= now - at <= max_age
        since = request.session.get(SESSION_SUDO_FROM_KEY)
        at = _sudo_clock_claim(claims)
        if at is None or not isinstance(since, (int, float)):
            return False
        return since <= at <= now + self.conf.leeway_seconds and now - at <= max_age

    def _answer_sudo_prompt(self, request, user, allowed):
        """Sentry's sudo modal asks for a password the managed account does not have: answer it
        from the gateway's sign-in, and otherwise point to the gateway's re-authentication."""
        if allowed:
            return JsonResponse({"id": str(user.pk), "username": user.username, "email": user.email}, status=200)
        page = _referer_path(request, self.conf.issuer)
        url = "%s?next=%s" % (REAUTH_PATH, urllib.parse.quote(page, safe="/"))
        message = "Confirm it is you with your directory password at %s, then try again." % url
        # 400 with the field error: Sentry's form shows it under the password field.
        return JsonResponse({"password": [message], "detail": message, "error": "GW_REAUTH_REQUIRED", "reauthUrl": url}, status=400)

    def _recheck_invites(self, request, user, email):
        from django.core.cache import cache

        # The gateway may create invites after sign-in (its provisioning queue); look again
        # now and then, without a query on every request.
        key = "sentry_ad_gateway:invites:%s" % user.pk
        if cache.add(key, 1, self.conf.invite_recheck_seconds):
            attach_pending_invites(request, user, email.strip())

    def _end_session(self, request, reason):
        """End this session only. Not django.contrib.auth.logout(): its user_logged_out signal runs
        Sentry's refresh_user_nonce, which ends every session of the user everywhere."""
        from django.contrib.auth.models import AnonymousUser

        if request.user.is_authenticated:
            logger.info("sentry_ad_gateway.logout", extra={"user_id": request.user.pk, "reason": reason})
            request.session.flush()
            request.user = AnonymousUser()
            request._cached_user = request.user

    # --- offboarding ------------------------------------------------------------------------

    def _verify_internal_call(self, request, verifier, check=None):
        """A gateway-to-module call: POST, a valid token of the call's audience, never seen before.
        Returns (claims, None) or (None, the response to send)."""
        if request.method != "POST":
            response = JsonResponse({"error": "method_not_allowed"}, status=405)
            response["Allow"] = "POST"
            return None, response
        token = request.META.get(self.conf.header_meta_key)
        if not token:
            return None, JsonResponse({"error": "invalid_assertion"}, status=401)
        try:
            claims = verifier.verify(token)
            if check:
                check(claims)
            jti = claims.get("jti")
            if not isinstance(jti, str) or not jti:
                raise AssertionRejected("GW_ASSERTION_INVALID", "jti missing")
            # Kept while the token could still verify; Sentry's cache is shared by its web workers.
            ttl = max(1, int(claims["exp"]) + int(self.conf.leeway_seconds) - int(time.time()) + 1)
            if not claim_token_id(jti, ttl):
                raise AssertionRejected("GW_ASSERTION_REPLAYED", "jti already used")
        except ReplayCacheUnavailable as e:
            logger.error("sentry_ad_gateway.replay_cache_unavailable", extra={"reason": str(e)})
            return None, JsonResponse({"error": "replay_cache_unavailable"}, status=503)
        except AssertionRejected as e:
            logger.warning("sentry_ad_gateway.offboard_rejected", extra={"code": e.code, "reason": str(e)})
            if e.code in ("GW_JWKS_UNAVAILABLE", "GW_PUBLIC_KEY_UNAVAILABLE"):
                return None, JsonResponse({"error": "keys_unavailable"}, status=503)
            return None, JsonResponse({"error": "invalid_assertion"}, status=401)
        return claims, None

    def offboard(self, request):
        """The gateway's call to take access away from a person AD disabled, expired or deleted.

        Contract: docs/sentry-module.md. Token-only: no cookie, no
        CSRF (the response is produced before any view, so Django's CSRF check never runs).
        """

        def check(claims):
            if claims.get("reason") not in OFFBOARD_REASONS:
                raise AssertionRejected("GW_ASSERTION_INVALID", "reason must be one of %s" % sorted(OFFBOARD_REASONS))

        claims, response = self._verify_internal_call(request, self.offboard_verifier, check)
        if response is not None:
            return response
        try:
            result = offboard_user(claims, self.conf, request)
        except AccountRefused as e:
            # Not "not found": the person may hold an account the gateway must not touch; the
            # gateway keeps asking and shows it to its admins.
            logger.warning("sentry_ad_gateway.offboard_refused", extra={"code": e.code, "reason": str(e), "sub": claims["sub"]})
            return JsonResponse({"found": True, "refused": e.code, "detail": str(e)}, status=409)
        if result is None:
            logger.info("sentry_ad_gateway.offboard_not_found", extra={"sub": claims["sub"], "reason": claims["reason"]})
            return JsonResponse({"found": False}, status=404)
        return JsonResponse(result, status=200)

    def reactivate(self, request):
        """The gateway's call when AD lets a person it offboarded in again (see reactivate_user)."""
        claims, response = self._verify_internal_call(request, self.reactivate_verifier)
        if response is not None:
            return response
        try:
            result = reactivate_user(claims, self.conf)
        except AccountRefused as e:
            logger.warning("sentry_ad_gateway.reactivate_refused", extra={"code": e.code, "reason": str(e), "sub": claims["sub"]})
            return JsonResponse({"found": True, "refused": e.code, "detail": str(e)}, status=409)
        if result is None:
            return JsonResponse({"found": False}, status=404)
        return JsonResponse(result, status=200)
