"""The offline backend: a local Messages API server playing scripted policies (offline, scripted
policies: not a model), so the agent, calibration and tests run without network or API key.

``with OfflineServer() as server:`` then ``anthropic.Anthropic(api_key=server.api_key,
base_url=server.base_url)`` and ``model=POLICIES[name].model`` (``"scripted:<name>"``).
"""

from .policies import (
    CALIBRATION_MIX,
    OFFLINE_LABEL,
    POLICIES,
    Fault,
    ScriptedPolicy,
    ToolUse,
    Turn,
)
from .server import OfflineServer, RequestRecord

__all__ = [
    "CALIBRATION_MIX",
    "OFFLINE_LABEL",
    "POLICIES",
    "Fault",
    "OfflineServer",
    "RequestRecord",
    "ScriptedPolicy",
    "ToolUse",
    "Turn",
]
