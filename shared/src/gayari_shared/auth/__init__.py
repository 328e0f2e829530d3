"""Identity and authorisation: per-agency API keys, stored hashed, rotatable."""

from gayari_shared.auth.http import authorized, require
from gayari_shared.auth.keys import ApiKeyRecord, KeyFile, Principal, Role, issue_key

__all__ = ["ApiKeyRecord", "KeyFile", "Principal", "Role", "authorized", "issue_key", "require"]
