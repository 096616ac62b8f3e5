"""The trio shell of the SMPP side: listener, links, bind registry, the SMSC's answers."""
