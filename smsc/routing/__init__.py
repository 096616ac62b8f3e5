"""Routing of messages to simulated networks, and the networks' delivery behaviour (pure)."""

from smsc.routing.networks import SimulatedNetwork

__all__ = ["SimulatedNetwork"]
