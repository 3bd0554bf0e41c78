"""Stand-in for sudo.models (getsentry/sentry src/sudo/models.py
@ 57915b5d48ce6aaf45bb1d6cd66e717def85e4fd): "sudo" is in Sentry's INSTALLED_APPS, so Django
imports this module at start, which registers the login/logout receivers."""
from sudo.signals import *  # noqa: F401,F403
