import sys

from lpdev.cli import main

sys.exit(main())
