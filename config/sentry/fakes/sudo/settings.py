"""Stand-in for sudo.settings (getsentry/sentry src/sudo/settings.py
@ 57915b5d48ce6aaf45bb1d6cd66e717def85e4fd): read from Django's settings with the same defaults.
COOKIE_AGE (3 h) is also the age has_sudo_privileges accepts a signed cookie up to, whatever
max_age the cookie was granted with."""
from django.conf import settings

COOKIE_AGE = getattr(settings, "SUDO_COOKIE_AGE", 10800)
COOKIE_NAME = getattr(settings, "SUDO_COOKIE_NAME", "sudo")
COOKIE_SALT = getattr(settings, "SUDO_COOKIE_SALT", "")
