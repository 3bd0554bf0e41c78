"""The documented sentry.conf.py snippet, executed the way Sentry executes its config file."""

import os
import sys
import unittest

import fake_sentry_env as env

SNIPPET = os.path.join(env.HERE, "sentry.conf.snippet.py")

# Sentry's MIDDLEWARE order (sentry.conf.server), the parts around the insertion point.
SENTRY_MIDDLEWARE = (
    "csp.middleware.CSPMiddleware",
    "sentry.middleware.health.HealthCheck",
    "sentry.middleware.security.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "sentry.middleware.auth.AuthenticationMiddleware",
    "sentry.middleware.integrations.IntegrationControlMiddleware",
    "sentry.middleware.customer_domain.CustomerDomainMiddleware",
    "sentry.middleware.sudo.SudoMiddleware",
    "sentry.middleware.superuser.SuperuserMiddleware",
    "sentry.middleware.locale.SentryLocaleMiddleware",
    "sentry.middleware.ratelimit.RatelimitMiddleware",
)


def run_snippet(namespace):
    with open(SNIPPET) as f:
        code = compile(f.read(), SNIPPET, "exec")
    saved = list(sys.path)
    try:
        exec(code, namespace)
    finally:
        sys.path[:] = saved
    return namespace


class SnippetTest(unittest.TestCase):
    def config(self):
        return run_snippet({"MIDDLEWARE": SENTRY_MIDDLEWARE, "SENTRY_FEATURES": {"auth:register": True}})

    def test_installs_right_after_sentrys_authentication_middleware(self):
        mw = self.config()["MIDDLEWARE"]
        i = mw.index("sentry.middleware.auth.AuthenticationMiddleware")
        self.assertEqual(mw[i + 1], "sentry_ad_gateway_auth.GatewayAssertionMiddleware")
        self.assertLess(i + 1, mw.index("sentry.middleware.sudo.SudoMiddleware"))
        self.assertLess(i + 1, mw.index("sentry.middleware.superuser.SuperuserMiddleware"))
        self.assertIsInstance(mw, tuple)

    def test_applying_twice_installs_once(self):
        once = self.config()
        twice = run_snippet(dict(once))
        self.assertEqual(twice["MIDDLEWARE"].count("sentry_ad_gateway_auth.GatewayAssertionMiddleware"), 1)

    def test_registration_off_and_proxy_settings(self):
        c = self.config()
        self.assertFalse(c["SENTRY_FEATURES"]["auth:register"])
        self.assertEqual(c["SECURE_PROXY_SSL_HEADER"], ("HTTP_X_FORWARDED_PROTO", "https"))
        self.assertEqual(c["CSRF_TRUSTED_ORIGINS"], ["https://sentry.example.com"])

    def test_invite_rate_limits_are_off(self):
        # sentry/ratelimits/utils.py for_organization_member_invite: 100 invites a day per inviting
        # user and per organization, behind this feature (on by default): a first sync of more
        # than 100 people would stall on 429s.
        self.assertIs(self.config()["SENTRY_FEATURES"]["organizations:invite-members-rate-limits"], False)

    def test_its_settings_are_valid_for_the_module(self):
        env.setup_django()
        import sentry_ad_gateway_auth as gw

        conf = gw.GatewaySettings(self.config()["SENTRY_AD_GATEWAY"])
        self.assertEqual(conf.jwks_url, "http://sentry-ad-gateway:8080/_gateway/jwks.json")

    def test_environment_overrides(self):
        os.environ["SENTRY_AD_GATEWAY_ISSUER"] = "https://errors.corp.example.com"
        try:
            c = self.config()
        finally:
            del os.environ["SENTRY_AD_GATEWAY_ISSUER"]
        self.assertEqual(c["CSRF_TRUSTED_ORIGINS"], ["https://errors.corp.example.com"])


if __name__ == "__main__":
    unittest.main()
