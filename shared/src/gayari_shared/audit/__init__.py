"""The audit trail of personal data: who read or wrote which households, when, in which
request; an append-only table in each service's own database."""

from gayari_shared.audit.store import AuditLog, add_audit_row, audited_cte
from gayari_shared.audit.trail import (
    Actor,
    AuditRow,
    act_as,
    current_actor,
    read_row,
    reset_actor,
    write_row,
)

__all__ = [
    "Actor",
    "AuditLog",
    "AuditRow",
    "act_as",
    "add_audit_row",
    "audited_cte",
    "current_actor",
    "read_row",
    "reset_actor",
    "write_row",
]
