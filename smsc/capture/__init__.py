"""PDU capture files: every PDU of every session, as JSON lines or as pcap (docs/capture.md).

`formats` is pure (records and packets out of octets, no I/O); `tap` and `sink` are the shell
that taps a session's octets and writes them out from a worker thread.
"""
