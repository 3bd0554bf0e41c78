"""How the module treats Sentry's data as Sentry's own code does: the RpcUser on a live session,
address resolution and the objectGUID binding, ending one session only, sudo, invite acceptance.

Same stack as test_middleware (real Django sessions, CSRF and auth; Sentry stood in by ./fakes,
which mirror getsentry/sentry as named in each fake).
"""

import time
import unittest
from datetime import timedelta

import fake_sentry_env as env

env.setup_django()

from django.core.cache import cache  # noqa: E402
from django.test import Client, TestCase, override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402
from sentry.models import ApiToken, AuditLogEntry, Organization, OrganizationMember, User, UserEmail  # noqa: E402
from sentry.signals import member_joined  # noqa: E402
from sentry.utils import auth as fake_login  # noqa: E402

HEADER = "HTTP_X_SENTRY_GATEWAY_ASSERTION"
ALICE = "alice@corp.example.com"
ALICE_SUB = "6f1c2d3e-0000-4000-8000-000000000001"  # the default `sub` of env.SigningKey.sign
MALLORY_SUB = "6f1c2d3e-0000-4000-8000-0000000000ee"


existing_user = env.existing_user


class Browser:
    """One browser: its own cookies (Sentry's session, CSRF and sudo cookies)."""

    def __init__(self):
        self.client = Client(enforce_csrf_checks=True, raise_request_exception=False)
        self.csrf = None

    def get(self, path="/", assertion=True, **claims):
        extra = {HEADER: env.ES_KEY.sign(**claims)} if assertion else {}
        r = self.client.get(path, **extra)
        if r.status_code == 200 and r["Content-Type"].startswith("application/json") and "csrf" in r.json():
            self.csrf = r.json()["csrf"]
        return r

    def post(self, path, token=None, **claims):
        extra = {HEADER: token or env.ES_KEY.sign(**claims), "HTTP_X_CSRFTOKEN": self.csrf or ""}
        return self.client.post(path, data="{}", content_type="application/json", **extra)


class AccountsTest(TestCase):
    def setUp(self):
        cache.clear()
        fake_login.CALLS.clear()
        self.acme = Organization.objects.create(name="Acme", slug="acme")

    def signed_in(self, browser=None, **claims):
        browser = browser or Browser()
        r = browser.get(**claims)
        self.assertEqual(r.status_code, 200, r.content)
        return browser, r.json()["user_id"]


class ReSignInTest(AccountsTest):
    def test_new_gateway_session_while_sentrys_session_is_alive(self):
        # On a real Sentry request.user is an RpcUser (EmailAuthBackend.get_user); Django's
        # login() cannot take one, so this second sign-in answered 500 on every page.
        browser, user_id = self.signed_in(sid="sid-1")
        r = browser.get(sid="sid-2")
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json()["user_id"], user_id)
        self.assertEqual(len(fake_login.CALLS), 2)
        self.assertEqual(browser.get(sid="sid-2").json()["user_id"], user_id)


class AddressResolutionTest(AccountsTest):
    def test_a_verified_secondary_address_adopts_the_account(self):
        existing = existing_user(username="alice", email="alice@old-domain.example")
        UserEmail.objects.create(user=existing, email=ALICE, is_verified=True)
        _, user_id = self.signed_in()
        self.assertEqual(user_id, existing.pk)
        self.assertEqual(User.objects.count(), 1)

    def test_an_unverified_address_adopts_nothing_and_makes_no_second_account(self):
        other = existing_user(verified=False, username="alice", email=ALICE)
        r = Browser().get()
        self.assertEqual(r.status_code, 403)
        self.assertEqual(r.json()["error"], "GW_ACCOUNT_UNVERIFIED")
        self.assertEqual(User.objects.count(), 1, "no duplicate account with the same address")
        self.assertEqual(len(fake_login.CALLS), 0)
        other.refresh_from_db()
        self.assertEqual((other.email, other.username, other.is_active), (ALICE, "alice", True), "the other account is untouched")
        # Two accounts holding it unverified: ambiguous, still no third one.
        secondary = existing_user(username="al", email="al@elsewhere.example")
        UserEmail.objects.create(user=secondary, email=ALICE, is_verified=False)
        r = Browser().get(sid="sid-2")
        self.assertEqual((r.status_code, r.json()["error"]), (403, "GW_ACCOUNT_AMBIGUOUS"))
        self.assertEqual(User.objects.count(), 2)

    def test_a_superuser_made_by_createuser_is_refused_not_duplicated(self):
        # `sentry createuser --superuser` leaves the address unverified (src/sentry/runner/commands/createuser.py).
        root = existing_user(verified=False, username=ALICE, email=ALICE, is_superuser=True, is_staff=True)
        r = Browser().get()
        self.assertEqual(r.status_code, 403)
        self.assertEqual(r.json()["error"], "GW_ACCOUNT_PRIVILEGED")
        self.assertEqual(list(User.objects.values_list("pk", flat=True)), [root.pk], "no second, ordinary account")
        self.assertEqual(len(fake_login.CALLS), 0)

    @override_settings(SENTRY_AD_GATEWAY={"ISSUER": env.ISSUER, "JWKS_URL": env.JWKS.url, "SUPERUSER_EMAILS": [ALICE]})
    def test_a_listed_superuser_made_by_createuser_is_adopted(self):
        root = existing_user(verified=False, username=ALICE, email=ALICE, is_superuser=True)
        _, user_id = self.signed_in()
        self.assertEqual(user_id, root.pk)
        self.assertEqual(User.objects.count(), 1)

    def test_an_address_change_in_ad_keeps_the_same_user(self):
        _, user_id = self.signed_in(sid="sid-1")
        cache.clear()  # the binding must hold without the cache: it lives in Sentry's database
        _, again = self.signed_in(sid="sid-2", email="alice.example@corp.example.com")
        self.assertEqual(again, user_id)
        self.assertEqual(User.objects.count(), 1)
        user = User.objects.get(pk=user_id)
        self.assertEqual(user.email, "alice.example@corp.example.com", "the primary address follows AD")
        self.assertTrue(UserEmail.objects.get(user=user, email="alice.example@corp.example.com").is_verified)

    def test_an_account_bound_to_one_ad_person_is_not_adopted_by_another(self):
        _, alice_id = self.signed_in()
        # AD hands alice's old address to someone else.
        _, other_id = self.signed_in(sub=MALLORY_SUB, sid="sid-m", name="Someone Else")
        self.assertNotEqual(other_id, alice_id)

    def test_an_inactive_and_an_active_account_sharing_the_address(self):
        existing_user(username="alice-old", email=ALICE, is_active=False)
        active = existing_user(username="alice", email=ALICE)
        _, user_id = self.signed_in()
        self.assertEqual(user_id, active.pk)

    def test_the_organization_member_is_preferred_among_verified_owners_of_the_address(self):
        existing_user(username="alice-private", email=ALICE)
        member = existing_user(username="alice", email=ALICE)
        OrganizationMember.objects.create(organization=self.acme, user=member, role="member")
        _, user_id = self.signed_in()
        self.assertEqual(user_id, member.pk)


class OneSessionEndsTest(AccountsTest):
    def test_a_refused_request_leaves_the_persons_other_sessions_alive(self):
        laptop, user_id = self.signed_in()
        phone, _ = self.signed_in(Browser())
        self.assertEqual(laptop.get(assertion=False).json()["user_id"], None)  # no assertion
        r = phone.post("/api/0/things/")
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json()["user_id"], user_id)
        tablet, _ = self.signed_in(Browser())
        self.assertEqual(tablet.client.get("/", **{HEADER: "garbage"}).status_code, 403)  # bad assertion
        r = phone.post("/api/0/things/")
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(len(fake_login.CALLS), 3, "the phone never had to sign in again")


class SudoTest(AccountsTest):
    def test_only_the_session_made_right_after_the_ad_sign_in_may_create_a_token(self):
        person, _ = self.signed_in(sid="sid-1")
        thief, _ = self.signed_in(Browser(), sid="sid-1")  # the gateway cookie, replayed elsewhere
        r = thief.post("/api/0/api-tokens/", sid="sid-1")
        self.assertEqual(r.status_code, 401, r.content)
        self.assertEqual(r.json()["detail"]["code"], "sudo-required")
        self.assertEqual(ApiToken.objects.count(), 0)
        self.assertTrue(person.get(sid="sid-1").json()["sudo"])
        self.assertEqual(person.post("/api/0/api-tokens/", sid="sid-1").status_code, 201)

    def test_an_adopted_password_less_account_is_not_always_in_sudo(self):
        existing = existing_user(username="alice", email=ALICE)
        existing.set_unusable_password()
        existing.save()
        self.signed_in(sid="sid-1")
        thief, _ = self.signed_in(Browser(), sid="sid-1")
        self.assertEqual(thief.post("/api/0/api-tokens/", sid="sid-1").status_code, 401)

    def test_an_ad_sign_in_older_than_the_sudo_age_gives_no_sudo(self):
        browser, _ = self.signed_in(auth_time=int(time.time()) - 3600)
        self.assertEqual(browser.post("/api/0/api-tokens/").status_code, 401)

    @override_settings(SENTRY_AD_GATEWAY={"ISSUER": env.ISSUER, "JWKS_URL": env.JWKS.url, "GRANT_SUDO": False})
    def test_grant_sudo_false_means_no_sudo(self):
        browser, _ = self.signed_in()
        self.assertFalse(browser.get().json()["sudo"])
        self.assertEqual(browser.post("/api/0/api-tokens/").status_code, 401)


class InviteAcceptTest(AccountsTest):
    def invite(self, **kw):
        return OrganizationMember.objects.create(
            organization=self.acme, email=ALICE, token=OrganizationMember.generate_token(), role="member", **kw
        )

    def test_accepting_leaves_sentrys_trail(self):
        joined = []

        def receiver(sender, **kwargs):
            joined.append(kwargs)

        member_joined.connect(receiver, weak=False, dispatch_uid="test-member-joined")
        self.addCleanup(member_joined.disconnect, dispatch_uid="test-member-joined")
        member = self.invite()
        _, user_id = self.signed_in()
        entry = AuditLogEntry.objects.get(organization_id=self.acme.id, event=3)  # MEMBER_ACCEPT
        self.assertEqual((entry.actor_id, entry.target_user_id, entry.target_object), (user_id, user_id, member.pk))
        self.assertEqual(entry.data["role"], "member")
        self.assertEqual(
            [(j["organization_id"], j["user_id"], j["organization_member_id"]) for j in joined],
            [(self.acme.id, user_id, member.pk)],
        )

    def test_an_expired_invite_is_left_pending_and_logged(self):
        member = self.invite()
        OrganizationMember.objects.filter(pk=member.pk).update(token_expires_at=timezone.now() - timedelta(days=1))
        with self.assertLogs("sentry_ad_gateway", "INFO") as logs:
            self.signed_in()
        member.refresh_from_db()
        self.assertTrue(member.is_pending)
        self.assertIsNotNone(member.token)
        self.assertFalse(AuditLogEntry.objects.exists())
        self.assertTrue(any("invite_expired" in line for line in logs.output), logs.output)


if __name__ == "__main__":
    unittest.main()
