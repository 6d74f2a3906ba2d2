"""lpdev's fake orchestrator (docs/orchestrator.md): one port for gRPC and HTTP, go-livepeer's payment checks,
balances, and durable redemption of winning tickets. See ``server.OrchestratorServer``."""
from sim.orchestrator.node import Orchestrator, OrchestratorConfig
from sim.orchestrator.server import OrchestratorServer

__all__ = ["Orchestrator", "OrchestratorConfig", "OrchestratorServer"]
