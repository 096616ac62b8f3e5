"""The simulated world (pure): networks, handsets and their inboxes, and `Simulation`, which
decides one submit's or one delivery attempt's fate."""

from smsc.simulation.fate import Simulation
from smsc.simulation.networks import SimulatedNetwork

__all__ = ["SimulatedNetwork", "Simulation"]
