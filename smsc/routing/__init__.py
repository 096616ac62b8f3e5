"""Routing (pure): numbers in their international form and the table that picks a network."""
