"""The module inside a Django stack ordered like Sentry's: session, CSRF, Sentry's auth, the module, superuser.

Requests go through Django's test client with real signed-cookie sessions and real CSRF checks;
Sentry's models, login helper, auth middleware and sudo are the stand-ins in ./fakes.
"""

import unittest

import fake_sentry_env as env

env.setup_django()

from django.core.cache import cache  # noqa: E402
from django.test import Client, TestCase, override_settings  # noqa: E402
from sentry.middleware import auth as fake_auth  # noqa: E402
from sentry.models import InviteStatus, Organization, OrganizationMember, User, UserEmail  # noqa: E402
from sentry.utils import auth as fake_login  # noqa: E402

HEADER = "HTTP_X_SENTRY_GATEWAY_ASSERTION"
BOB_SUB = "6f1c2d3e-0000-4000-8000-0000000000b0"


existing_user = env.existing_user


class StackTest(TestCase):
    def setUp(self):
        cache.clear()
        fake_login.CALLS.clear()
        fake_auth.TOKENS.clear()
        self.client = Client(enforce_csrf_checks=True)
        self.acme = Organization.objects.create(name="Acme", slug="acme")

    def get(self, path="/", token=None, **extra):
        if token:
            extra[HEADER] = token
        return self.client.get(path, **extra)

    def post(self, path="/api/0/things/", token=None, csrf=None, **extra):
        if token:
            extra[HEADER] = token
        if csrf:
            extra["HTTP_X_CSRFTOKEN"] = csrf
        return self.client.post(path, data="{}", content_type="application/json", **extra)

    def sign_in(self, **claims):
        r = self.get(token=env.ES_KEY.sign(**claims))
        self.assertEqual(r.status_code, 200, r.content)
        return r.json()


class FirstSignInTest(StackTest):
    def test_creates_a_managed_user_with_a_random_password_and_a_verified_email(self):
        body = self.sign_in()
        user = User.objects.get(email="alice@corp.example.com")
        self.assertEqual(body["user_id"], user.pk)
        self.assertTrue(user.is_managed)
        # Not password-less: Sentry would treat such an account as always in sudo.
        self.assertTrue(user.has_usable_password())
        self.assertEqual(user.username, "alice@corp.example.com")
        self.assertEqual(user.name, "Alice Example")
        self.assertTrue(UserEmail.objects.get(user=user, email=user.email).is_verified)

    def test_logs_in_with_sentrys_helper_once_per_session(self):
        self.sign_in()
        self.sign_in()
        self.sign_in()
        self.assertEqual(len(fake_login.CALLS), 1)
        # As Sentry's own login view: Sentry decides on its own 2FA (the gateway checked no factor).
        self.assertIsNone(fake_login.CALLS[0]["passed_2fa"])
        self.assertEqual(fake_login.CALLS[0]["source"], "ad-gateway")

    def test_eddsa_assertion(self):
        body = self.get(token=env.ED_KEY.sign()).json()
        self.assertIsNotNone(body["user_id"])

    def test_existing_account_found_by_verified_email_case_insensitively(self):
        existing = existing_user(username="alice", email="Alice@Corp.Example.com")
        self.assertEqual(self.sign_in()["user_id"], existing.pk)
        self.assertEqual(User.objects.count(), 1)
        self.assertTrue(UserEmail.objects.get(user=existing).is_verified)

    def test_a_username_alone_never_adopts_an_account(self):
        existing = existing_user(username="alice@corp.example.com", email="alice@elsewhere.example")
        user_id = self.sign_in()["user_id"]
        self.assertNotEqual(user_id, existing.pk)
        self.assertEqual(User.objects.get(pk=user_id).email, "alice@corp.example.com")

    def test_session_nonce_is_bound_so_the_session_survives(self):
        existing_user(username="alice@corp.example.com", email="alice@corp.example.com", session_nonce="n1")
        self.sign_in()
        self.sign_in()
        self.assertEqual(len(fake_login.CALLS), 1, "a lost nonce would make Sentry see an anonymous session")

    def test_sudo_is_granted_at_sign_in(self):
        self.assertTrue(self.sign_in()["sudo"])
        self.assertEqual(self.client.session.get("sudo") is not None, True)

    @override_settings(SENTRY_AD_GATEWAY={"ISSUER": env.ISSUER, "JWKS_URL": env.JWKS.url, "GRANT_SUDO": False})
    def test_sudo_can_be_turned_off(self):
        self.client = Client(enforce_csrf_checks=True)
        self.assertFalse(self.sign_in()["sudo"])


class PrivilegedAccountsTest(StackTest):
    def test_superuser_with_the_email_is_refused(self):
        existing_user(username="root", email="alice@corp.example.com", is_superuser=True)
        r = self.get(token=env.ES_KEY.sign())
        self.assertEqual(r.status_code, 403)
        self.assertEqual(r.json()["error"], "GW_ACCOUNT_PRIVILEGED")
        self.assertEqual(fake_login.CALLS, [])

    def test_staff_with_the_email_is_refused(self):
        existing_user(username="staff", email="alice@corp.example.com", is_staff=True)
        self.assertEqual(self.get(token=env.ES_KEY.sign()).status_code, 403)

    @override_settings(
        SENTRY_AD_GATEWAY={"ISSUER": env.ISSUER, "JWKS_URL": env.JWKS.url, "SUPERUSER_EMAILS": ["ALICE@corp.example.com"]}
    )
    def test_listed_superuser_signs_in_without_superuser_mode(self):
        self.client = Client(enforce_csrf_checks=True)
        root = existing_user(username="root", email="alice@corp.example.com", is_superuser=True)
        body = self.sign_in()
        self.assertEqual(body["user_id"], root.pk)
        # The module runs before SuperuserMiddleware, so Sentry's login receiver finds no
        # request.superuser and does not switch superuser mode on.
        self.assertFalse(body["superuser_active"])

    def test_disabled_account_is_refused(self):
        existing_user(username="alice", email="alice@corp.example.com", is_active=False)
        r = self.get(token=env.ES_KEY.sign(), HTTP_ACCEPT="text/html")
        self.assertEqual(r.status_code, 403)
        self.assertTrue(r["Content-Type"].startswith("text/plain"))

    def test_two_accounts_with_the_email_are_refused(self):
        existing_user(username="a1", email="alice@corp.example.com")
        existing_user(username="a2", email="ALICE@corp.example.com")
        self.assertEqual(self.get(token=env.ES_KEY.sign()).json()["error"], "GW_ACCOUNT_AMBIGUOUS")


class InvitesTest(StackTest):
    def invite(self, org, email="alice@corp.example.com", **kw):
        return OrganizationMember.objects.create(
            organization=org, email=email, token=OrganizationMember.generate_token(), role=kw.pop("role", "member"), **kw
        )

    def test_pending_invites_become_memberships_with_their_role_and_teams(self):
        other = Organization.objects.create(name="Other", slug="other")
        m1 = self.invite(self.acme, email="Alice@corp.example.com", role="manager", teams=["sre", "backend"])
        m2 = self.invite(other)
        user_id = self.sign_in()["user_id"]
        for m in (m1, m2):
            m.refresh_from_db()
            self.assertEqual(m.user_id, user_id)
            self.assertIsNone(m.email)
            self.assertIsNone(m.token)
        self.assertEqual((m1.role, m1.teams), ("manager", ["sre", "backend"]))

    def test_join_requests_are_not_accepted(self):
        m = self.invite(self.acme, invite_status=InviteStatus.REQUESTED_TO_JOIN.value)
        self.sign_in()
        m.refresh_from_db()
        self.assertTrue(m.is_pending)

    def test_invite_into_an_org_already_joined_is_deleted(self):
        user = existing_user(username="alice@corp.example.com", email="alice@corp.example.com")
        OrganizationMember.objects.create(organization=self.acme, user=user, role="owner")
        dup = self.invite(self.acme)
        self.sign_in()
        self.assertFalse(OrganizationMember.objects.filter(pk=dup.pk).exists())
        self.assertEqual(OrganizationMember.objects.get(organization=self.acme).role, "owner")

    def test_invite_made_after_sign_in_is_linked_on_a_later_request(self):
        user_id = self.sign_in()["user_id"]
        self.sign_in()  # starts the recheck window
        late = self.invite(self.acme)
        self.sign_in()
        late.refresh_from_db()
        self.assertTrue(late.is_pending, "not rechecked within INVITE_RECHECK_SECONDS")
        cache.clear()  # the window has passed
        self.sign_in()
        late.refresh_from_db()
        self.assertEqual(late.user_id, user_id)


class SessionBindingTest(StackTest):
    def test_session_without_assertion_is_logged_out(self):
        self.sign_in()
        self.assertIsNone(self.get().json()["user_id"])
        self.assertNotIn("_auth_user_id", self.client.session)
        self.sign_in()
        self.assertEqual(len(fake_login.CALLS), 2)

    def test_invalid_assertion_is_403_and_logs_the_session_out(self):
        self.sign_in()
        r = self.get(token=env.ES_KEY.sign(iss="http://10.0.0.5:9000"))
        self.assertEqual(r.status_code, 403)
        self.assertEqual(r.json()["error"], "GW_ASSERTION_INVALID")
        self.assertNotIn("_auth_user_id", self.client.session)
        self.assertEqual(self.get(token="garbage").status_code, 403)

    def test_token_authenticated_request_keeps_the_session(self):
        user_id = self.sign_in()["user_id"]
        ci = User.objects.create(username="ci", email="ci@corp.example.com")
        fake_auth.TOKENS["good"] = ci.pk
        r = self.get(HTTP_AUTHORIZATION="Bearer good")
        self.assertEqual(r.json()["user_id"], ci.pk)
        self.assertEqual(self.get(token=env.ES_KEY.sign()).json()["user_id"], user_id)
        self.assertEqual(len(fake_login.CALLS), 1)

    def test_unrecognised_authorization_falls_back_to_the_session_which_is_logged_out(self):
        self.sign_in()
        r = self.get(HTTP_AUTHORIZATION="Bearer not-a-token")
        self.assertIsNone(r.json()["user_id"])

    def test_a_different_person_replaces_the_session_user(self):
        alice = self.sign_in()["user_id"]
        bob = self.sign_in(email="bob@corp.example.com", name="Bob", sid="sid-2", sub=BOB_SUB)["user_id"]
        self.assertNotEqual(alice, bob)
        self.assertEqual(User.objects.get(pk=bob).email, "bob@corp.example.com")

    def test_a_new_gateway_session_renews_the_sentry_session_on_a_safe_request(self):
        self.sign_in(sid="sid-1")
        self.sign_in(sid="sid-2")
        self.assertEqual(len(fake_login.CALLS), 2)

    def test_exempt_paths_are_untouched(self):
        self.sign_in()
        self.assertEqual(self.get("/_health/").content, b"ok")
        self.assertIn("_auth_user_id", self.client.session)


class UnsafeMethodsTest(StackTest):
    def test_no_login_on_post_but_401_so_the_app_reloads(self):
        csrf = self.get().json()["csrf"]  # anonymous page load sets the CSRF cookie
        r = self.post(token=env.ES_KEY.sign(), csrf=csrf)
        self.assertEqual(r.status_code, 401)
        self.assertEqual(r.json()["error"], "GW_SESSION_REQUIRED")
        self.assertEqual(fake_login.CALLS, [])

    def test_login_rotates_the_csrf_token_which_is_why_it_happens_on_get_only(self):
        before = self.get().json()["csrf"]
        old_cookie = self.client.cookies["sc"].value
        self.sign_in()
        self.assertNotEqual(self.client.cookies["sc"].value, old_cookie)
        # A request still carrying the pre-login token now fails Django's CSRF check.
        self.assertEqual(self.post(token=env.ES_KEY.sign(), csrf=before).status_code, 403)

    def test_post_with_session_and_assertion_reaches_sentry(self):
        csrf = self.sign_in()["csrf"]
        r = self.post(token=env.ES_KEY.sign(), csrf=csrf)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.json()["ok"], True)

    def test_post_after_a_new_gateway_session_of_the_same_person_goes_through(self):
        csrf = self.sign_in(sid="sid-1")["csrf"]
        r = self.post(token=env.ES_KEY.sign(sid="sid-2"), csrf=csrf)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(len(fake_login.CALLS), 1)

    def test_post_as_another_person_logs_out_and_401(self):
        csrf = self.sign_in()["csrf"]
        r = self.post(token=env.ES_KEY.sign(email="bob@corp.example.com", sid="sid-9", sub=BOB_SUB), csrf=csrf)
        self.assertEqual(r.status_code, 401)
        self.assertNotIn("_auth_user_id", self.client.session)


if __name__ == "__main__":
    unittest.main()
