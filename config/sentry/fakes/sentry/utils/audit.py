"""Stand-in for sentry.utils.audit.create_audit_entry (getsentry/sentry src/sentry/utils/audit.py):
actor from the request (or ``actor=``), IP from REMOTE_ADDR, ``organization_id=`` and
``target_user_id=`` keywords as the current code passes them; one AuditLogEntry row."""
from sentry.models.auditlogentry import AuditLogEntry


def create_audit_entry(request, transaction_id=None, logger=None, **kwargs):
    user = kwargs.pop("actor", request.user if request.user.is_authenticated else None)
    organization_id = kwargs.pop("organization_id", None)
    if organization_id is None:
        raise TypeError("expected organization=... or organization_id=...")
    entry = AuditLogEntry(
        actor_id=user.id if user else None,
        ip_address=request.META["REMOTE_ADDR"],
        organization_id=organization_id,
        **kwargs,
    )
    if entry.event is not None:
        entry.save()
    return entry
