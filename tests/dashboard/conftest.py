"""Fixtures of the dashboard tests: those of the control API tests."""

from ..control.conftest import opened

__all__ = ["opened"]
