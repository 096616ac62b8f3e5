"""`python -m smsc`: the same entry point as the `smsc` console script."""

from smsc.cli import main

raise SystemExit(main())
