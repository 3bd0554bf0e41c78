"""Sentry's own 2FA and sudo kept honest, against stand-ins that model Sentry's sudo app
(src/sudo/{signals,models,utils,settings}.py: every login grants a 3 h cookie, checked with
max_age=COOKIE_AGE) and sentry.utils.auth.login's 2FA branch (_pending_2fa, /auth/2fa/).

Same stack as test_middleware: real Django sessions, CSRF and auth middleware, signed cookies.
"""

import time
import unittest
from unittest import mock

import fake_sentry_env as env

env.setup_django()

from django.core.cache import cache  # noqa: E402
from django.test import Client, TestCase, override_settings  # noqa: E402
from sentry.models import ApiToken, Organization, OrganizationMember  # noqa: E402
from sentry.users.models.authenticator import Authenticator  # noqa: E402
from sentry.utils import auth as fake_login  # noqa: E402

import sentry_ad_gateway_auth as gw  # noqa: E402

HEADER = "HTTP_X_SENTRY_GATEWAY_ASSERTION"
ALICE = "alice@corp.example.com"


class Browser:
    """One browser with its own cookies (Sentry's session, CSRF and sudo cookies)."""

    def __init__(self, **claims):
        self.client = Client(enforce_csrf_checks=True, raise_request_exception=False)
        self.claims = claims

    @property
    def csrf(self):
        # As Sentry's web app does: the CSRF cookie's current value (login() rotates it).
        cookie = self.client.cookies.get("sc")
        return cookie.value if cookie else ""

    def token(self, **claims):
        return env.ES_KEY.sign(**dict(self.claims, **claims))

    def get(self, path="/", accept="application/json", **claims):
        return self.client.get(path, HTTP_ACCEPT=accept, **{HEADER: self.token(**claims)})

    def post(self, path, data="{}", content_type="application/json", **claims):
        return self.client.post(
            path, data=data, content_type=content_type, HTTP_X_CSRFTOKEN=self.csrf, **{HEADER: self.token(**claims)}
        )

    def put(self, path, data, referer=env.ISSUER + "/settings/account/api/auth-tokens/", **claims):
        return self.client.put(
            path,
            data=data,
            content_type="application/json",
            HTTP_X_CSRFTOKEN=self.csrf,
            HTTP_REFERER=referer,
            **{HEADER: self.token(**claims)},
        )

    def create_token(self, **claims):
        """What Sentry's @sudo_required ApiTokensEndpoint.post answers."""
        return self.post("/api/0/api-tokens/", **claims).status_code


class SudoCase(TestCase):
    def setUp(self):
        cache.clear()
        fake_login.CALLS.clear()

    def signed_in(self, browser=None, **claims):
        browser = browser or Browser(**claims)
        r = browser.get()
        self.assertEqual(r.status_code, 200, r.content)
        self.assertIsNotNone(r.json()["user_id"])
        return browser


class SudoTest(SudoCase):
    def test_a_sign_in_right_after_the_ad_password_gets_sudo_at_once(self):
        browser = self.signed_in()
        self.assertEqual(browser.create_token(), 201)

    def test_a_copied_gateway_cookie_gets_no_sudo(self):
        self.signed_in(sid="sid-1")
        thief = self.signed_in(Browser(sid="sid-1"))  # Sentry's login() granted its 3 h sudo here too
        self.assertEqual(thief.create_token(), 401)
        self.assertFalse(thief.get().json()["sudo"])
        self.assertEqual(ApiToken.objects.count(), 0)

    def test_a_stale_ad_sign_in_gets_no_sudo(self):
        browser = self.signed_in(auth_time=int(time.time()) - 3600)
        self.assertEqual(browser.create_token(), 401)

    def test_an_assertion_without_auth_time_gets_no_sudo(self):
        browser = self.signed_in(auth_time=None)
        self.assertEqual(browser.create_token(), 401)

    @override_settings(SENTRY_AD_GATEWAY={"ISSUER": env.ISSUER, "JWKS_URL": env.JWKS.url, "GRANT_SUDO": False})
    def test_grant_sudo_false_gives_no_sudo_at_sign_in(self):
        browser = self.signed_in()
        self.assertFalse(browser.get().json()["sudo"])
        self.assertEqual(browser.create_token(), 401)

    def test_sudo_ends_after_sudo_max_age_even_if_the_client_keeps_the_cookie(self):
        browser = self.signed_in()
        self.assertEqual(browser.create_token(), 201)
        kept = browser.client.cookies["sudo"].value  # signed, valid for Sentry's 3 h COOKIE_AGE
        later = time.time() + 901  # SUDO_MAX_AGE_SECONDS is 900
        with mock.patch.object(gw, "_now", lambda: later):
            browser.client.cookies["sudo"] = kept
            self.assertEqual(browser.create_token(), 401)
            self.assertFalse(browser.get().json()["sudo"])

    def test_sudo_after_a_gateway_reauthentication(self):
        browser = self.signed_in(sid="sid-1", auth_time=int(time.time()) - 3600)
        self.assertEqual(browser.create_token(), 401)
        # /_gateway/reauth: a new gateway session id and a fresh auth_time; the person lands on
        # the page they came from (a GET), then retries the action.
        browser.claims.update(sid="sid-2", auth_time=int(time.time()) + 1)
        with mock.patch.object(gw, "_now", lambda: time.time() + 2):
            self.assertTrue(browser.get().json()["sudo"])
            self.assertEqual(browser.create_token(), 201)

    def test_a_second_factor_alone_renews_no_sudo(self):
        now = int(time.time())
        # Signed in with password and factor an hour ago; the factor passed again just now (the
        # account page's step), the password not: no sudo.
        browser = self.signed_in(amr=["pwd", "hwk", "mfa"], auth_time=now - 3600, mfa_time=now - 3600)
        browser.claims.update(sid="sid-2", mfa_time=now + 1)
        with mock.patch.object(gw, "_now", lambda: time.time() + 2):
            self.assertFalse(browser.get().json()["sudo"])
            self.assertEqual(browser.create_token(), 401)
        # A re-authentication (password and factor) gives it.
        browser.claims.update(sid="sid-3", auth_time=now + 3, mfa_time=now + 4)
        with mock.patch.object(gw, "_now", lambda: time.time() + 5):
            self.assertTrue(browser.get().json()["sudo"])
            self.assertEqual(browser.create_token(), 201)

    def test_a_kerberos_sign_in_gets_no_sudo_until_the_password_is_typed(self):
        # `wia`: a ticket from a domain-joined machine, not a typed password.
        browser = self.signed_in(sid="sid-1", amr=["wia"])
        self.assertFalse(browser.get().json()["sudo"])
        self.assertEqual(browser.create_token(), 401)
        r = browser.put("/api/0/auth/", data='{"password": "x"}')
        self.assertEqual((r.status_code, r.json()["error"]), (400, "GW_REAUTH_REQUIRED"))
        # /_gateway/reauth: the password, a new session id; the session's amr now has `pwd`.
        browser.claims.update(sid="sid-2", amr=["pwd"], auth_time=int(time.time()) + 1)
        with mock.patch.object(gw, "_now", lambda: time.time() + 2):
            self.assertTrue(browser.get().json()["sudo"])
            self.assertEqual(browser.create_token(), 201)

    def test_a_kerberos_sign_in_with_a_second_factor_still_gets_no_sudo(self):
        now = int(time.time())
        browser = self.signed_in(amr=["wia", "hwk", "mfa"], auth_time=now, mfa_time=now)
        self.assertEqual(browser.create_token(), 401)

    def test_an_assertion_without_amr_is_an_older_gateways_password_sign_in(self):
        browser = self.signed_in(amr=None)
        self.assertEqual(browser.create_token(), 201)

    def test_a_reauthentication_counts_for_the_session_made_before_it(self):
        browser = self.signed_in(sid="sid-1", auth_time=int(time.time()) - 3600)
        # No page load in between: the sudo modal's retry is the next request (an unsafe one).
        browser.claims.update(sid="sid-2", auth_time=int(time.time()) + 1)
        with mock.patch.object(gw, "_now", lambda: time.time() + 2):
            self.assertEqual(browser.create_token(), 201)


class SudoPromptTest(SudoCase):
    def test_the_sudo_modal_is_pointed_to_the_gateways_reauthentication(self):
        browser = self.signed_in(auth_time=int(time.time()) - 3600)
        r = browser.put("/api/0/auth/", data='{"password": "anything"}')
        self.assertEqual(r.status_code, 400)
        body = r.json()
        self.assertEqual(body["error"], "GW_REAUTH_REQUIRED")
        self.assertEqual(body["reauthUrl"], "/_gateway/reauth?next=/settings/account/api/auth-tokens/")
        self.assertIn("/_gateway/reauth?next=/settings/account/api/auth-tokens/", body["password"][0])
        self.assertEqual(browser.create_token(), 401, "a password typed into the modal is never checked")

    def test_a_foreign_referer_is_not_a_next_page(self):
        browser = self.signed_in(auth_time=int(time.time()) - 3600)
        for referer in ("https://evil.example/x", "https://sentry.example.com//evil.example/"):
            r = browser.put("/api/0/auth/", data='{"password": "x"}', referer=referer)
            self.assertEqual(r.json()["reauthUrl"], "/_gateway/reauth?next=/", referer)

    def test_after_reauthentication_the_modal_passes_and_the_retry_succeeds(self):
        browser = self.signed_in(sid="sid-1", auth_time=int(time.time()) - 3600)
        browser.claims.update(sid="sid-2", auth_time=int(time.time()) + 1)
        with mock.patch.object(gw, "_now", lambda: time.time() + 2):
            r = browser.put("/api/0/auth/", data='{"password": ""}')
            self.assertEqual(r.status_code, 200, r.content)
            self.assertEqual(browser.create_token(), 201)

    @override_settings(SENTRY_AD_GATEWAY={"ISSUER": env.ISSUER, "JWKS_URL": env.JWKS.url, "GRANT_SUDO": False})
    def test_with_grant_sudo_off_sentrys_own_password_check_decides(self):
        # An adopted account whose owner knows its Sentry password.
        user = env.existing_user(username="alice", email=ALICE)
        user.set_password("sentry-password")
        user.save()
        browser = self.signed_in()
        self.assertEqual(browser.put("/api/0/auth/", data='{"password": "wrong"}').status_code, 403)
        self.assertEqual(browser.create_token(), 401)
        self.assertEqual(browser.put("/api/0/auth/", data='{"password": "sentry-password"}').status_code, 200)
        self.assertEqual(browser.create_token(), 201)
        with mock.patch.object(gw, "_now", lambda: time.time() + 901):
            self.assertEqual(browser.create_token(), 401)


class SentryTwoFactorTest(SudoCase):
    def alice_with_a_sentry_authenticator(self):
        user = env.existing_user(username="alice", email=ALICE)
        Authenticator.objects.create(user_id=user.pk, type=1, code="246810")
        return user

    def test_a_sentry_authenticator_leads_to_sentrys_2fa_page_and_back(self):
        user = self.alice_with_a_sentry_authenticator()
        browser = Browser()
        r = browser.get("/organizations/acme/", accept="text/html")
        self.assertEqual((r.status_code, r["Location"]), (302, "/auth/2fa/"))
        self.assertEqual(fake_login.CALLS[-1]["passed_2fa"], None)
        self.assertEqual(fake_login.CALLS[-1]["after_2fa"], "/organizations/acme/")
        self.assertIsNone(browser.get().json().get("user_id"))  # not signed in yet
        # Sentry's own page, GET and POST, reaches Sentry untouched.
        r = browser.get("/auth/2fa/", accept="text/html")
        self.assertEqual(r.status_code, 200)
        self.assertIn(b"two-factor", r.content)
        csrf = browser.client.cookies["sc"].value
        r = browser.client.post("/auth/2fa/", {"otp": "000000", "csrfmiddlewaretoken": csrf}, **{HEADER: browser.token()})
        self.assertEqual(r.status_code, 200, "a wrong code stays on Sentry's page")
        r = browser.client.post("/auth/2fa/", {"otp": "246810", "csrfmiddlewaretoken": csrf}, **{HEADER: browser.token()})
        self.assertEqual((r.status_code, r["Location"]), (302, "/organizations/acme/"))
        calls = len(fake_login.CALLS)
        self.assertEqual(browser.get("/organizations/acme/").json()["user_id"], user.pk)
        self.assertEqual(len(fake_login.CALLS), calls, "no second round through Sentry's 2FA")
        self.assertEqual(browser.create_token(), 201, "signed in right after the AD password: sudo")

    def pass_sentry_2fa(self, browser):
        browser.get("/", accept="text/html")
        browser.get("/auth/2fa/", accept="text/html")
        csrf = browser.client.cookies["sc"].value
        return browser.client.post("/auth/2fa/", {"otp": "246810", "csrfmiddlewaretoken": csrf}, **{HEADER: browser.token()})

    def test_a_gateway_second_factor_skips_sentrys_page(self):
        user = self.alice_with_a_sentry_authenticator()
        now = int(time.time())
        browser = Browser(amr=["pwd", "otp", "mfa"], mfa_time=now)
        self.assertEqual(browser.get().json()["user_id"], user.pk)
        self.assertEqual(fake_login.CALLS[-1]["passed_2fa"], True)

    def test_without_an_authenticator_the_sign_in_is_as_before(self):
        self.assertEqual(self.signed_in().get().status_code, 200)
        self.assertEqual(fake_login.CALLS[-1]["passed_2fa"], None)

    def test_the_api_is_answered_not_redirected_while_2fa_is_pending(self):
        self.alice_with_a_sentry_authenticator()
        browser = Browser()
        browser.get("/organizations/acme/", accept="text/html")
        r = browser.get("/api/0/things/")
        self.assertEqual(r.status_code, 401)
        self.assertEqual(r.json()["error"], "GW_SENTRY_2FA_REQUIRED")

    def test_an_expired_pending_2fa_starts_over_instead_of_looping(self):
        self.alice_with_a_sentry_authenticator()
        browser = Browser()
        browser.get("/", accept="text/html")
        with mock.patch.object(gw, "_now", lambda: time.time() + 301), mock.patch.object(fake_login, "time", lambda: time.time() + 301):
            r = browser.get("/", accept="text/html")
        self.assertEqual((r.status_code, r["Location"]), (302, "/auth/2fa/"))
        self.assertEqual(len(fake_login.CALLS), 2, "a fresh _pending_2fa, so Sentry's page accepts it")

    def test_after_2fa_is_never_another_site(self):
        self.alice_with_a_sentry_authenticator()
        browser = Browser()
        # PATH_INFO "//evil.example/": a browser sent to it would leave the site.
        browser.client.generic("GET", "/%2Fevil.example/", HTTP_ACCEPT="text/html", **{HEADER: browser.token()})
        self.assertIsNone(fake_login.CALLS[-1]["after_2fa"])

    def test_sentrys_2fa_login_grants_no_sudo_to_a_copied_gateway_cookie(self):
        self.alice_with_a_sentry_authenticator()
        browser = Browser(sid="sid-1")
        self.pass_sentry_2fa(browser)
        self.assertTrue(browser.get().json()["sudo"])
        # The same gateway session, in another browser that also passes Sentry's 2FA.
        thief = Browser(sid="sid-1")
        r = self.pass_sentry_2fa(thief)
        self.assertEqual(r.status_code, 302)
        self.assertIn("sudo", r.cookies, "Sentry's 2FA login fired sudo's grant (a 3 h cookie)")
        self.assertFalse(thief.get().json()["sudo"])
        self.assertEqual(thief.create_token(), 401)


class RequireTwoFactorTest(SudoCase):
    def removed_for_2fa(self, org):
        # What remove_2fa_non_compliant_members leaves: the membership turned back into an invite.
        return OrganizationMember.objects.create(
            organization=org, email=ALICE, token=OrganizationMember.generate_token(), role="member"
        )

    def test_a_member_sentry_removed_for_lacking_2fa_is_not_put_back(self):
        org = Organization.objects.create(name="Strict", slug="strict", require_2fa=True)
        invite = self.removed_for_2fa(org)
        self.signed_in()
        invite.refresh_from_db()
        self.assertIsNone(invite.user_id, "a gateway sign-in is not a Sentry authenticator")

    def test_with_a_sentry_authenticator_the_invite_is_accepted(self):
        org = Organization.objects.create(name="Strict", slug="strict", require_2fa=True)
        user = env.existing_user(username="alice", email=ALICE)
        Authenticator.objects.create(user_id=user.pk, type=1, code="246810")
        invite = self.removed_for_2fa(org)
        # amr has mfa here only to get past Sentry's 2FA page in one request; Sentry's own
        # authenticator is what satisfies "Require 2FA".
        Browser(amr=["pwd", "otp", "mfa"], mfa_time=int(time.time())).get()
        invite.refresh_from_db()
        self.assertEqual(invite.user_id, user.pk)


class ExpiredSentryPasswordTest(SudoCase):
    def test_an_adopted_account_with_an_expired_sentry_password_signs_in(self):
        user = env.existing_user(username="alice", email=ALICE, is_password_expired=True)
        browser = Browser()
        r = browser.get("/organizations/acme/", accept="text/html")
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(browser.get().json()["user_id"], user.pk)
        user.refresh_from_db()
        self.assertFalse(user.is_password_expired, "the gateway's sign-in is this account's password now")


if __name__ == "__main__":
    unittest.main()
