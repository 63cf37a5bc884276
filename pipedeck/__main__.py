import sys

from pipedeck.cli import main

sys.exit(main())
