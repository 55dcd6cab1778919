"""``python -m kiosk_client`` is ``kohtaamo-kiosk``."""

import sys

from kiosk_client.cli import main

sys.exit(main())
