"""Stand-in for sentry.users.services.user.model.RpcUser (getsentry/sentry
src/sentry/users/services/user/model.py @ 01708146ee882deb14de464e847453d35a6df74d).

What ``request.user`` is on a real Sentry: ``EmailAuthBackend.get_user`` answers with this
serialized copy, not the database ``User``. Like the real (pydantic) model it is plain data:
no ``_meta``, no ``save()``, no ``get_session_auth_hash``; Django's ``login()`` cannot take it.
"""


class RpcUser:
    # The fields of RpcUserProfile/RpcUser the module or the test views may read.
    FIELDS = (
        "id", "pk", "name", "email", "username", "is_superuser", "is_active", "is_staff",
        "is_sentry_app", "password_usable", "is_password_expired", "session_nonce",
    )

    def __init__(self, **kw):
        for f in self.FIELDS:
            setattr(self, f, kw.get(f))
        self.is_authenticated = True
        self.is_anonymous = False
        self.useremails = kw.get("useremails", [])

    def __setattr__(self, name, value):
        # pydantic models reject unknown attributes; Django's login() would try to set `backend`
        # only after failing on _meta, so this stays close to the real failure mode.
        if name not in self.FIELDS and name not in ("is_authenticated", "is_anonymous", "useremails"):
            raise ValueError('"RpcUser" object has no field "%s"' % name)
        object.__setattr__(self, name, value)

    def __hash__(self):
        return hash((self.id, self.pk))

    def __eq__(self, other):
        return isinstance(other, RpcUser) and other.id == self.id

    def has_usable_password(self):
        return self.password_usable

    def get_username(self):
        return self.username

    def has_2fa(self):
        # The real one: len(self.authenticators) > 0 (the user's Authenticator rows, serialized).
        from sentry.users.models.authenticator import Authenticator

        return Authenticator.objects.user_has_2fa(self)


def serialize_rpc_user(user):
    """Mirrors sentry.users.services.user.serial.serialize_rpc_user for the fields above."""
    return RpcUser(
        id=user.id,
        pk=user.pk,
        name=user.name,
        email=user.email,
        username=user.username,
        is_superuser=user.is_superuser,
        is_active=user.is_active,
        is_staff=user.is_staff,
        is_sentry_app=bool(user.is_sentry_app),
        password_usable=user.has_usable_password(),
        is_password_expired=user.is_password_expired,
        session_nonce=user.session_nonce,
    )
