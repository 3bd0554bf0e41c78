"""POST /_sentry-ad-gateway/offboard/: the gateway takes Sentry access away from a person AD
disabled, expired or deleted (the contract is in docs/sentry-module.md)."""

import time
import unittest

import fake_sentry_env as env

env.setup_django()

from django.core.cache import cache  # noqa: E402
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.test import Client, TestCase, override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402
from sentry_ad_gateway_auth import GatewayAssertionMiddleware  # noqa: E402
from sentry.models import ApiToken, AuditLogEntry, Organization, OrganizationMember, OrgAuthToken, User, UserEmail  # noqa: E402
from sentry.utils import auth as fake_login  # noqa: E402

HEADER = "HTTP_X_SENTRY_GATEWAY_ASSERTION"
PATH = "/_sentry-ad-gateway/offboard/"
ALICE = "alice@corp.example.com"
ALICE_SUB = "6f1c2d3e-0000-4000-8000-000000000001"


REACTIVATE_PATH = "/_sentry-ad-gateway/reactivate/"


class DownMemcachedCache(BaseCache):
    """Django's memcached backend (django/core/cache/backends/memcached.py) with self-hosted's
    ``"OPTIONS": {"ignore_exc": True}`` (getsentry/self-hosted sentry/sentry.conf.example.py) while
    memcached is down: the client swallows the connection error, so ``add`` and ``set`` report
    nothing stored and ``get`` answers the default, as for a missing key."""

    def __init__(self, location, params):
        super().__init__(params)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return False

    def get(self, key, default=None, version=None):
        return default

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return False

    def delete(self, key, version=None):
        return False

    def clear(self):
        pass


def reactivate_token(key=None, now=None, **overrides):
    claims = {"aud": env.AUDIENCE + ":reactivate", "name": None, "sid": None, **overrides}
    return (key or env.ES_KEY).sign(now=now, **claims)


def offboard_token(key=None, now=None, **overrides):
    """A sign-in assertion's claims for alice, with the offboard audience and a reason instead of name and sid."""
    claims = {"aud": env.AUDIENCE + ":offboard", "name": None, "sid": None, "reason": "disabled", **overrides}
    return (key or env.ES_KEY).sign(now=now, **claims)


class OffboardTest(TestCase):
    def setUp(self):
        cache.clear()
        fake_login.CALLS.clear()
        self.gateway = Client()  # no cookies, no CSRF token: a server-to-server call
        self.acme = Organization.objects.create(name="Acme", slug="acme")
        self.other = Organization.objects.create(name="Other", slug="other")

    def call(self, token=None, method="post", path=PATH):
        extra = {HEADER: token} if token else {}
        return getattr(self.gateway, method)(path, **extra)

    def signed_in_browser(self, sid="sid-1", **claims):
        browser = Client(enforce_csrf_checks=True)
        r = browser.get("/", **{HEADER: env.ES_KEY.sign(sid=sid, **claims)})
        self.assertEqual(r.status_code, 200, r.content)
        return browser, r.json()["user_id"]

    def test_deactivates_revokes_tokens_and_ends_every_session(self):
        laptop, user_id = self.signed_in_browser()
        phone, _ = self.signed_in_browser()
        t1 = ApiToken.objects.create(user_id=user_id, name="cli")
        ApiToken.objects.create(user_id=user_id, name="ci", application_id=7)
        self.assertEqual(self.gateway.get("/", HTTP_AUTHORIZATION="Bearer " + t1.token).json()["user_id"], user_id)

        with self.assertLogs("sentry.audit.user", "INFO") as audit:
            r = self.call(offboard_token(reason="disabled"))
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json(), {"found": True, "userId": str(user_id), "deactivated": True, "tokensRevoked": 2, "orgTokens": []})
        self.assertIn("user.edit", audit.output[0])
        self.assertFalse(User.objects.get(pk=user_id).is_active)
        self.assertFalse(ApiToken.objects.filter(user_id=user_id).exists())
        # The bearer token no longer authenticates anyone.
        self.assertIsNone(self.gateway.get("/", HTTP_AUTHORIZATION="Bearer " + t1.token).json()["user_id"])
        # Both browser sessions are over: the same gateway sessions cannot sign the person back in.
        for browser in (laptop, phone):
            r = browser.get("/", **{HEADER: env.ES_KEY.sign(sid="sid-1")})
            self.assertEqual(r.status_code, 403)
            self.assertEqual(r.json()["error"], "GW_ACCOUNT_DISABLED")

    def test_a_second_call_changes_nothing(self):
        _, user_id = self.signed_in_browser()
        self.assertEqual(self.call(offboard_token()).status_code, 200)
        r = self.call(offboard_token(reason="deleted"))
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.json(), {"found": True, "userId": str(user_id), "deactivated": False, "tokensRevoked": 0, "orgTokens": []})

    def test_a_new_ad_sign_in_reactivates_a_user_the_gateway_deactivated(self):
        _, user_id = self.signed_in_browser(sid="sid-1")
        self.assertEqual(self.call(offboard_token()).status_code, 200)
        # A password check after the deactivation (assertions now always carry auth_time).
        _, again = self.signed_in_browser(sid="sid-after-ad-said-yes", auth_time=int(time.time()) + 1)
        self.assertEqual(again, user_id)
        self.assertTrue(User.objects.get(pk=user_id).is_active)

    def test_a_user_an_admin_deactivated_stays_inactive(self):
        _, user_id = self.signed_in_browser(sid="sid-1")
        User.objects.filter(pk=user_id).update(is_active=False)
        r = self.call(offboard_token())
        self.assertEqual(r.json()["deactivated"], False)
        r = Client().get("/", **{HEADER: env.ES_KEY.sign(sid="sid-new")})
        self.assertEqual(r.status_code, 403)
        self.assertEqual(r.json()["error"], "GW_ACCOUNT_DISABLED")
        self.assertFalse(User.objects.get(pk=user_id).is_active)

    def test_an_unbound_user_is_found_by_a_verified_address_only(self):
        verified = User.objects.create(username="alice", email=ALICE)
        UserEmail.objects.filter(user=verified).update(is_verified=True)
        User.objects.create(username="bob", email="bob@corp.example.com")  # unverified address
        r = self.call(offboard_token())
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json()["userId"], str(verified.pk))
        # Not "not found": an account holds bob's address, the gateway may not touch it, and says so.
        r = self.call(offboard_token(sub="another-guid", email="bob@corp.example.com"))
        self.assertEqual(r.status_code, 409)
        self.assertEqual((r.json()["found"], r.json()["refused"]), (True, "GW_ACCOUNT_UNVERIFIED"))
        self.assertTrue(User.objects.get(username="bob").is_active)

    def test_an_account_the_gateway_may_not_sign_in_is_refused_not_found(self):
        root = User.objects.create(username="root", email=ALICE, is_superuser=True)
        UserEmail.objects.filter(user=root).update(is_verified=True)
        r = self.call(offboard_token())
        self.assertEqual(r.status_code, 409, r.content)
        self.assertEqual(r.json()["refused"], "GW_ACCOUNT_PRIVILEGED")
        self.assertIn("superuser", r.json()["detail"])
        self.assertTrue(User.objects.get(pk=root.pk).is_active)

    def test_two_accounts_with_the_address_are_refused_as_ambiguous(self):
        for name in ("alice", "alice2"):
            u = User.objects.create(username=name, email=ALICE)
            UserEmail.objects.filter(user=u).update(is_verified=True)
            OrganizationMember.objects.create(organization=self.acme, user=u) if name == "alice" else None
            OrganizationMember.objects.create(organization=self.other, user=u) if name == "alice2" else None
        r = self.call(offboard_token())
        self.assertEqual((r.status_code, r.json()["refused"]), (409, "GW_ACCOUNT_AMBIGUOUS"))
        self.assertEqual(User.objects.filter(is_active=True).count(), 2)

    def test_unknown_person(self):
        r = self.call(offboard_token(sub="nobody", email="nobody@corp.example.com"))
        self.assertEqual((r.status_code, r.json()), (404, {"found": False}))

    def test_a_sign_in_assertion_cannot_offboard_and_an_offboard_token_cannot_sign_in(self):
        _, user_id = self.signed_in_browser()
        r = self.call(env.ES_KEY.sign())  # aud "sentry"
        self.assertEqual((r.status_code, r.json()), (401, {"error": "invalid_assertion"}))
        self.assertTrue(User.objects.get(pk=user_id).is_active)
        calls = len(fake_login.CALLS)
        r = Client().get("/", **{HEADER: offboard_token(sid="sid-x")})
        self.assertEqual(r.status_code, 403)
        self.assertEqual(len(fake_login.CALLS), calls, "an offboard token signed nobody in")
        both = offboard_token(aud=[env.AUDIENCE, env.AUDIENCE + ":offboard"], sid="sid-y")
        self.assertEqual(self.call(both).status_code, 401)
        self.assertEqual(Client().get("/", **{HEADER: both}).status_code, 403)
        self.assertTrue(User.objects.get(pk=user_id).is_active)

    def test_a_replayed_token_is_refused(self):
        _, user_id = self.signed_in_browser()
        token = offboard_token()
        self.assertEqual(self.call(token).status_code, 200)
        User.objects.filter(pk=user_id).update(is_active=True)
        r = self.call(token)
        self.assertEqual((r.status_code, r.json()), (401, {"error": "invalid_assertion"}))
        self.assertTrue(User.objects.get(pk=user_id).is_active)

    def test_bad_tokens(self):
        self.signed_in_browser()
        now = int(time.time())
        bad = {
            "none": None,
            "garbage": "not.a.jwt",
            "lives longer than 60 s": offboard_token(exp=now + 61),
            "expired": offboard_token(now=now - 200),
            "unknown reason": offboard_token(reason="vacation"),
            "no jti": offboard_token(jti=None),
            "no preferred_username": offboard_token(preferred_username=None),
            "wrong issuer": offboard_token(iss="http://10.0.0.5:9000"),
            "unknown key": offboard_token(key=env.SigningKey("ES256")),
        }
        for name, token in bad.items():
            r = self.call(token)
            self.assertEqual((r.status_code, r.json()), (401, {"error": "invalid_assertion"}), name)
        self.assertTrue(User.objects.get(email=ALICE).is_active)

    def test_only_post(self):
        for method in ("get", "put", "delete"):
            r = self.call(offboard_token(), method=method)
            self.assertEqual(r.status_code, 405, method)
            self.assertEqual(r["Allow"], "POST")

    # --- item: a failing replay cache is not an attack --------------------------------------

    @override_settings(CACHES={"default": {"BACKEND": "test_offboard.DownMemcachedCache"}})
    def test_a_cache_that_is_down_is_answered_503_not_replayed(self):
        user = env.existing_user(username="alice", email=ALICE)
        r = self.call(offboard_token())
        self.assertEqual((r.status_code, r.json()), (503, {"error": "replay_cache_unavailable"}))
        self.assertTrue(User.objects.get(pk=user.pk).is_active, "nothing done without the replay guard")

    def test_a_replay_is_still_a_replay_when_the_cache_works(self):
        env.existing_user(username="alice", email=ALICE)
        token = offboard_token()
        self.assertEqual(self.call(token).status_code, 200)
        self.assertEqual(self.call(token).status_code, 401)

    def test_a_cache_the_web_workers_do_not_share_is_refused_at_start(self):
        for backend in ("django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache"):
            with override_settings(CACHES={"default": {"BACKEND": backend}}):
                with self.assertRaises(ImproperlyConfigured) as raised:
                    GatewayAssertionMiddleware(lambda request: None)
                self.assertIn("CACHES", str(raised.exception), backend)

    # --- item: an admin's later decision wins over the gateway's mark ----------------------

    def test_an_admin_reactivating_then_deactivating_is_not_undone_by_a_sign_in(self):
        _, user_id = self.signed_in_browser(sid="sid-1")
        self.assertEqual(self.call(offboard_token()).status_code, 200)
        # The admin switches the account on, later off again (Sentry's user details endpoint saves the user).
        user = User.objects.get(pk=user_id)
        user.is_active = True
        user.save()
        user.is_active = False
        user.save()
        r = Client().get("/", **{HEADER: env.ES_KEY.sign(sid="sid-after-ad-said-yes")})
        self.assertEqual(r.status_code, 403)
        self.assertEqual(r.json()["error"], "GW_ACCOUNT_DISABLED")
        self.assertFalse(User.objects.get(pk=user_id).is_active)
        r = self.call(reactivate_token(), path=REACTIVATE_PATH)
        self.assertEqual((r.status_code, r.json()["refused"]), (409, "GW_ACCOUNT_DISABLED"))
        self.assertFalse(User.objects.get(pk=user_id).is_active)

    # --- item: org auth tokens the person created are named ---------------------------------

    def test_org_tokens_the_person_created_are_kept_and_named(self):
        _, user_id = self.signed_in_browser()
        ci = OrgAuthToken.objects.create(
            organization_id=self.acme.pk, token_hashed="h1", token_last_characters="a1b2", name="ci deploys", created_by_id=user_id
        )
        OrgAuthToken.objects.create(
            organization_id=self.acme.pk, token_hashed="h2", token_last_characters="zzzz", name="old", created_by_id=user_id,
            date_deactivated=timezone.now(),
        )
        OrgAuthToken.objects.create(organization_id=self.acme.pk, token_hashed="h3", name="someone else's")
        r = self.call(offboard_token())
        self.assertEqual(r.status_code, 200)
        self.assertEqual(
            r.json()["orgTokens"], [{"id": str(ci.pk), "organizationId": str(self.acme.pk), "name": "ci deploys", "lastCharacters": "a1b2"}]
        )
        self.assertIsNone(OrgAuthToken.objects.get(pk=ci.pk).date_deactivated, "kept: CI depends on it")
        self.assertNotIn("h1", r.content.decode(), "never the token itself")

    # --- item: re-enabled in AD, no new invite; removal despite Sentry hiding inactive users --

    def test_reactivate_brings_back_the_membership_the_gateway_hid(self):
        _, user_id = self.signed_in_browser(sid="sid-1")
        OrganizationMember.objects.create(organization=self.acme, user_id=user_id, role="member")
        self.assertEqual(self.call(offboard_token()).status_code, 200)
        self.assertFalse(User.objects.get(pk=user_id).is_active)
        r = self.call(reactivate_token(), path=REACTIVATE_PATH)
        self.assertEqual((r.status_code, r.json()), (200, {"found": True, "userId": str(user_id), "reactivated": True}))
        self.assertTrue(User.objects.get(pk=user_id).is_active)
        self.assertTrue(OrganizationMember.objects.filter(organization=self.acme, user_id=user_id).exists())
        r = self.call(reactivate_token(), path=REACTIVATE_PATH)
        self.assertEqual(r.json()["reactivated"], False)
        self.assertEqual(self.call(reactivate_token(sub="nobody"), path=REACTIVATE_PATH).status_code, 404)

    def test_reactivate_takes_its_own_audience_only(self):
        _, user_id = self.signed_in_browser(sid="sid-1")
        self.assertEqual(self.call(offboard_token()).status_code, 200)
        for token in (offboard_token(), env.ES_KEY.sign(), reactivate_token(aud=env.AUDIENCE + ":offboard")):
            r = self.gateway.post(REACTIVATE_PATH, **{HEADER: token})
            self.assertEqual(r.status_code, 401)
        self.assertFalse(User.objects.get(pk=user_id).is_active)
        token = reactivate_token()
        self.assertEqual(self.gateway.post(REACTIVATE_PATH, **{HEADER: token}).status_code, 200)
        User.objects.filter(pk=user_id).update(is_active=False)
        self.assertEqual(self.gateway.post(REACTIVATE_PATH, **{HEADER: token}).status_code, 401, "replayed")

    def test_offboarding_removes_the_membership_when_asked(self):
        _, user_id = self.signed_in_browser()
        member = OrganizationMember.objects.create(organization=self.acme, user_id=user_id, role="member")
        OrganizationMember.objects.create(organization=self.other, user_id=user_id, role="member")
        r = self.call(offboard_token(remove_member_of="acme"))
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.json()["memberRemoved"], str(member.pk))
        self.assertFalse(OrganizationMember.objects.filter(organization=self.acme, user_id=user_id).exists())
        self.assertTrue(OrganizationMember.objects.filter(organization=self.other, user_id=user_id).exists(), "only the gateway's organization")
        entry = AuditLogEntry.objects.get(event=5)
        self.assertEqual((entry.actor_label, entry.target_user_id, entry.organization_id), ("sentry-ad-gateway", user_id, self.acme.pk))


if __name__ == "__main__":
    unittest.main()
