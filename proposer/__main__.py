import sys

from proposer.cli import main

sys.exit(main())
