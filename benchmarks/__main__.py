"""`python -m benchmarks run|report`: see benchmarks/harness.py."""

import sys

from benchmarks.harness import main

sys.exit(main())
