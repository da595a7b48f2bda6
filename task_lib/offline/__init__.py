"""The offline backend: a local Messages API server playing scripted policies (offline, scripted
policies: not a model), so the agent, calibration and tests run without network or API key.

``with OfflineServer(policies_for(task)) as server:`` then ``anthropic.Anthropic(api_key=server.api_key,
base_url=server.base_url)`` and ``model="scripted:<name>"``.
"""

from .policy_kit import (
    OFFLINE_LABEL,
    Fault,
    ScriptedPolicy,
    ToolUse,
    Turn,
    calibration_mix,
    policies_for,
)
from .server import OfflineServer, RequestRecord

__all__ = [
    "OFFLINE_LABEL",
    "Fault",
    "OfflineServer",
    "RequestRecord",
    "ScriptedPolicy",
    "ToolUse",
    "Turn",
    "calibration_mix",
    "policies_for",
]
