"""The HTTP side: metrics and the control API, served in the SMSC's own trio nursery."""
