"""The assertion check on its own: keys from the JWKS (cache, refetch, cooldown) or a PEM file, claims, times."""

import os
import tempfile
import unittest

import fake_sentry_env as env

env.setup_django()

import jwt  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402

import sentry_ad_gateway_auth as gw  # noqa: E402

NOW = 1_800_000_000


class Clock:
    def __init__(self, now=NOW):
        self.now = now

    def __call__(self):
        return self.now


class CountingJwks:
    """A fetch function that serves the given keys and counts calls; ``fail`` makes it raise."""

    def __init__(self, *keys):
        self.keys = list(keys)
        self.calls = 0
        self.fail = False

    def __call__(self, url, timeout):
        self.calls += 1
        if self.fail:
            raise OSError("connection refused")
        return {"keys": [k.jwk() for k in self.keys]}


def verifier_with(fetch, clock=None, **kw):
    clock = clock or Clock()
    keys = gw.JwksKeySource("http://gateway/_gateway/jwks.json", 300, 10, 5, clock=clock, fetch=fetch)
    return gw.AssertionVerifier(keys, env.ISSUER, env.AUDIENCE, kw.get("leeway", 30), kw.get("max_lifetime", 300), clock)


class ClaimsTest(unittest.TestCase):
    def setUp(self):
        self.fetch = CountingJwks(env.ES_KEY, env.ED_KEY)
        self.clock = Clock()
        self.verifier = verifier_with(self.fetch, self.clock)

    def rejected(self, token):
        with self.assertRaises(gw.AssertionRejected) as cm:
            self.verifier.verify(token)
        return cm.exception.code

    def test_es256_and_eddsa_verify(self):
        for key in (env.ES_KEY, env.ED_KEY):
            claims = self.verifier.verify(key.sign(NOW))
            self.assertEqual(claims["email"], "alice@corp.example.com")
            self.assertEqual(claims["sub"], "6f1c2d3e-0000-4000-8000-000000000001")

    def test_wrong_issuer_or_audience(self):
        self.assertEqual(self.rejected(env.ES_KEY.sign(NOW, iss="http://sentry-internal:9000")), "GW_ASSERTION_INVALID")
        self.assertEqual(self.rejected(env.ES_KEY.sign(NOW, aud="grafana")), "GW_ASSERTION_INVALID")

    def test_required_claims(self):
        for claim in ("email", "sid", "sub", "exp", "nbf", "iat"):
            self.assertEqual(self.rejected(env.ES_KEY.sign(NOW, **{claim: None})), "GW_ASSERTION_INVALID", claim)
        self.assertEqual(self.rejected(env.ES_KEY.sign(NOW, email="not-an-address")), "GW_ASSERTION_EMAIL")

    def test_expiry_with_at_most_30_seconds_skew(self):
        token = env.ES_KEY.sign(NOW)  # exp = NOW + 60
        self.clock.now = NOW + 60 + 29
        self.verifier.verify(token)
        self.clock.now = NOW + 60 + 30
        self.assertEqual(self.rejected(token), "GW_ASSERTION_EXPIRED")

    def test_not_before_with_at_most_30_seconds_skew(self):
        self.verifier.verify(env.ES_KEY.sign(NOW + 30))
        self.assertEqual(self.rejected(env.ES_KEY.sign(NOW + 31)), "GW_ASSERTION_NOT_YET_VALID")

    def test_lifetime_longer_than_allowed(self):
        self.assertEqual(self.rejected(env.ES_KEY.sign(NOW, exp=NOW + 3600)), "GW_ASSERTION_LIFETIME")

    def test_algorithms_other_than_es256_and_eddsa(self):
        unsigned = jwt.encode({"email": "a@b.c"}, None, algorithm="none", headers={"kid": env.ES_KEY.kid})
        self.assertEqual(self.rejected(unsigned), "GW_ASSERTION_ALGORITHM")
        hs = jwt.encode({"iss": env.ISSUER}, "secret", algorithm="HS256", headers={"kid": env.ES_KEY.kid})
        self.assertEqual(self.rejected(hs), "GW_ASSERTION_ALGORITHM")
        self.assertEqual(self.rejected("not.a.jwt"), "GW_ASSERTION_MALFORMED")

    def test_alg_must_match_the_keys_type(self):
        # An EdDSA token carrying the ES256 key's kid must not be tried against that key.
        forged = env.SigningKey("EdDSA", kid=env.ES_KEY.kid).sign(NOW)
        self.assertEqual(self.rejected(forged), "GW_ASSERTION_UNKNOWN_KEY")

    def test_signature_by_another_key_with_a_known_kid(self):
        impostor = env.SigningKey("ES256", kid=env.ES_KEY.kid)
        self.assertEqual(self.rejected(impostor.sign(NOW)), "GW_ASSERTION_SIGNATURE")

    def test_token_without_kid(self):
        self.assertEqual(self.rejected(env.ES_KEY.sign(NOW, kid=False)), "GW_ASSERTION_NO_KID")


class JwksCacheTest(unittest.TestCase):
    def setUp(self):
        self.fetch = CountingJwks(env.ES_KEY)
        self.clock = Clock()
        self.verifier = verifier_with(self.fetch, self.clock)

    def test_keys_are_cached(self):
        for _ in range(5):
            self.verifier.verify(env.ES_KEY.sign(NOW))
        self.assertEqual(self.fetch.calls, 1)

    def test_unknown_kid_refetches_so_a_rotated_key_works_at_once(self):
        self.verifier.verify(env.ES_KEY.sign(NOW))
        new_key = env.SigningKey("ES256")
        self.fetch.keys.append(new_key)
        self.clock.now += 11
        self.verifier.verify(new_key.sign(self.clock.now))
        self.assertEqual(self.fetch.calls, 2)

    def test_unknown_kids_refetch_at_most_once_per_cooldown(self):
        self.verifier.verify(env.ES_KEY.sign(NOW))
        for i in range(20):
            with self.assertRaises(gw.AssertionRejected):
                self.verifier.verify(env.SigningKey("ES256", kid="junk-%d" % i).sign(NOW))
        self.assertEqual(self.fetch.calls, 1, "within the 10 s cooldown of the first fetch")
        self.clock.now += 10
        with self.assertRaises(gw.AssertionRejected):
            self.verifier.verify(env.SigningKey("ES256", kid="junk-x").sign(NOW))
        self.assertEqual(self.fetch.calls, 2)

    def test_cache_expires(self):
        self.verifier.verify(env.ES_KEY.sign(NOW))
        self.clock.now += 300
        self.verifier.verify(env.ES_KEY.sign(self.clock.now))
        self.assertEqual(self.fetch.calls, 2)

    def test_gateway_unreachable_before_any_keys(self):
        self.fetch.fail = True
        with self.assertRaises(gw.AssertionRejected) as cm:
            self.verifier.verify(env.ES_KEY.sign(NOW))
        self.assertEqual(cm.exception.code, "GW_JWKS_UNAVAILABLE")

    def test_gateway_unreachable_from_the_start_is_tried_once_per_cooldown(self):
        # Each try may wait JWKS_TIMEOUT_SECONDS under the one lock: without the cooldown every
        # request (and every thread behind it) waited for the gateway again.
        self.fetch.fail = True
        for _ in range(20):
            with self.assertRaises(gw.AssertionRejected) as cm:
                self.verifier.verify(env.ES_KEY.sign(NOW))
            self.assertEqual(cm.exception.code, "GW_JWKS_UNAVAILABLE")
        self.assertEqual(self.fetch.calls, 1)
        self.clock.now += 10
        self.fetch.fail = False
        self.verifier.verify(env.ES_KEY.sign(self.clock.now))
        self.assertEqual(self.fetch.calls, 2)

    def test_gateway_unreachable_later_keeps_the_keys_it_had(self):
        self.verifier.verify(env.ES_KEY.sign(NOW))
        self.fetch.fail = True
        self.clock.now += 301
        with self.assertLogs("sentry_ad_gateway", "WARNING"):
            self.verifier.verify(env.ES_KEY.sign(self.clock.now))
        self.assertEqual(self.fetch.calls, 2)

    def test_keys_we_never_accept_are_ignored(self):
        def fetch(url, timeout):
            rsa = {"kty": "RSA", "kid": "rsa", "n": "sXch", "e": "AQAB"}
            hs = {"kty": "oct", "kid": "hs", "k": "c2VjcmV0"}
            return {"keys": [rsa, hs, env.ES_KEY.jwk()]}

        verifier = verifier_with(fetch)
        verifier.verify(env.ES_KEY.sign(NOW))
        with self.assertRaises(gw.AssertionRejected):
            verifier.verify(jwt.encode({"a": 1}, "secret", algorithm="HS256", headers={"kid": "hs"}))

    def test_over_real_http(self):
        keys = gw.JwksKeySource(env.JWKS.url, 300, 10, 5)
        verifier = gw.AssertionVerifier(keys, env.ISSUER, env.AUDIENCE, 30, 300)
        before = env.JWKS.fetches
        self.assertEqual(verifier.verify(env.ED_KEY.sign())["preferred_username"], "alice")
        self.assertEqual(env.JWKS.fetches, before + 1)


class PemFileTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "gateway-public.pem")

    def tearDown(self):
        self.dir.cleanup()

    def write(self, *keys):
        with open(self.path, "wb") as f:
            f.write(b"".join(k.public_pem() for k in keys))
        # A distinct mtime even on coarse file systems, so the change is noticed.
        st = os.stat(self.path)
        os.utime(self.path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))

    def test_current_and_previous_key_from_one_file_and_rotation(self):
        old, new = env.SigningKey("ES256"), env.SigningKey("EdDSA")
        self.write(old, new)
        verifier = gw.AssertionVerifier(gw.PemKeySource(self.path), env.ISSUER, env.AUDIENCE, 30, 300, Clock())
        verifier.verify(old.sign(NOW))
        verifier.verify(new.sign(NOW, kid=False))
        self.write(new)
        with self.assertRaises(gw.AssertionRejected) as cm:
            verifier.verify(old.sign(NOW))
        self.assertEqual(cm.exception.code, "GW_ASSERTION_UNKNOWN_KEY")

    def test_missing_file(self):
        verifier = gw.AssertionVerifier(gw.PemKeySource(self.path), env.ISSUER, env.AUDIENCE, 30, 300, Clock())
        with self.assertRaises(gw.AssertionRejected) as cm:
            verifier.verify(env.ES_KEY.sign(NOW))
        self.assertEqual(cm.exception.code, "GW_PUBLIC_KEY_UNAVAILABLE")


class SettingsTest(unittest.TestCase):
    def problems(self, raw):
        with self.assertRaises(ImproperlyConfigured) as cm:
            gw.GatewaySettings(raw)
        return str(cm.exception)

    def test_defaults(self):
        conf = gw.GatewaySettings({"ISSUER": env.ISSUER, "JWKS_URL": env.JWKS.url})
        self.assertEqual(conf.audience, "sentry")
        self.assertEqual(conf.leeway_seconds, 30)
        self.assertEqual(conf.header_meta_key, "HTTP_X_SENTRY_GATEWAY_ASSERTION")

    def test_every_problem_at_once(self):
        text = self.problems({"LEEWAY_SECONDS": 60, "TYPO": 1})
        self.assertIn("['TYPO']: unknown key", text)
        self.assertIn("ISSUER", text)
        self.assertIn("exactly one of 'JWKS_URL' and 'PUBLIC_KEY_FILE'", text)
        self.assertIn("LEEWAY_SECONDS", text)

    def test_both_key_sources_is_ambiguous(self):
        self.assertIn("exactly one", self.problems({"ISSUER": env.ISSUER, "JWKS_URL": "http://x", "PUBLIC_KEY_FILE": "/k.pem"}))

    def test_not_a_dict(self):
        self.assertIn("must be a dict", self.problems(None))


if __name__ == "__main__":
    unittest.main()
