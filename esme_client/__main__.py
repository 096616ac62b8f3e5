"""`python -m esme_client` is the `esme` command."""

import sys

from esme_client.cli import main

sys.exit(main())
