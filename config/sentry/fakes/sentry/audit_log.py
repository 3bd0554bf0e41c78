"""Stand-in for sentry.audit_log (getsentry/sentry src/sentry/audit_log/register.py): event ids
by name, as registered there (MEMBER_INVITE=1, MEMBER_ADD=2, MEMBER_ACCEPT=3, MEMBER_EDIT=4)."""
_EVENTS = {"MEMBER_INVITE": 1, "MEMBER_ADD": 2, "MEMBER_ACCEPT": 3, "MEMBER_EDIT": 4, "MEMBER_REMOVE": 5}


def get_event_id(name):
    return _EVENTS[name]
