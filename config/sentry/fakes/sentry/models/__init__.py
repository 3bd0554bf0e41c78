"""Stand-in for sentry.models: Django loads an app's models from here, as it does for Sentry."""
from sentry.models.apitoken import ApiToken  # noqa: F401
from sentry.models.auditlogentry import AuditLogEntry  # noqa: F401
from sentry.models.organization import Organization  # noqa: F401
from sentry.models.organizationmember import InviteStatus, OrganizationMember  # noqa: F401
from sentry.models.orgauthtoken import OrgAuthToken  # noqa: F401
from sentry.users.models.user import User  # noqa: F401
from sentry.users.models.user_option import UserOption  # noqa: F401
from sentry.users.models.useremail import UserEmail  # noqa: F401
