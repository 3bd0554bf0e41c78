from sentry.users.models.user import User  # noqa: F401
from sentry.users.models.user_option import UserOption  # noqa: F401
from sentry.users.models.useremail import UserEmail  # noqa: F401
