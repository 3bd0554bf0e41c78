"""POST /_sentry-ad-gateway/offboard/: the gateway takes Sentry access away from a person AD
disabled, expired or deleted (the contract is in the README's module section)."""

import time
import unittest

import fake_sentry_env as env

env.setup_django()

from django.core.cache import cache  # noqa: E402
from django.test import Client, TestCase  # noqa: E402
from sentry.models import ApiToken, User, UserEmail  # noqa: E402
from sentry.utils import auth as fake_login  # noqa: E402

HEADER = "HTTP_X_SENTRY_GATEWAY_ASSERTION"
PATH = "/_sentry-ad-gateway/offboard/"
ALICE = "alice@corp.example.com"
ALICE_SUB = "6f1c2d3e-0000-4000-8000-000000000001"


def offboard_token(key=None, now=None, **overrides):
    """A sign-in assertion's claims for alice, with the offboard audience and a reason instead of name and sid."""
    claims = {"aud": env.AUDIENCE + ":offboard", "name": None, "sid": None, "reason": "disabled", **overrides}
    return (key or env.ES_KEY).sign(now=now, **claims)


class OffboardTest(TestCase):
    def setUp(self):
        cache.clear()
        fake_login.CALLS.clear()
        self.gateway = Client()  # no cookies, no CSRF token: a server-to-server call

    def call(self, token=None, method="post"):
        extra = {HEADER: token} if token else {}
        return getattr(self.gateway, method)(PATH, **extra)

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
        self.assertEqual(r.json(), {"found": True, "userId": str(user_id), "deactivated": True, "tokensRevoked": 2})
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
        self.assertEqual(r.json(), {"found": True, "userId": str(user_id), "deactivated": False, "tokensRevoked": 0})

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
        r = self.call(offboard_token(sub="another-guid", email="bob@corp.example.com"))
        self.assertEqual((r.status_code, r.json()), (404, {"found": False}))
        self.assertTrue(User.objects.get(username="bob").is_active)

    def test_an_account_the_gateway_may_not_sign_in_is_not_offboarded_by_address(self):
        root = User.objects.create(username="root", email=ALICE, is_superuser=True)
        UserEmail.objects.filter(user=root).update(is_verified=True)
        r = self.call(offboard_token())
        self.assertEqual((r.status_code, r.json()), (404, {"found": False}))
        self.assertTrue(User.objects.get(pk=root.pk).is_active)

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


if __name__ == "__main__":
    unittest.main()
