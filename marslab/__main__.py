"""`python -m marslab ...` is the same as the `marslab` command."""
import sys

from marslab.cli import main

sys.exit(main())
