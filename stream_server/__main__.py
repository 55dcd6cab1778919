import sys

from stream_server.cli import main

sys.exit(main())
