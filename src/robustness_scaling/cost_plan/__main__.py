"""``python -m robustness_scaling.cost_plan``: the command line of :mod:`.cli`."""

import sys

from robustness_scaling.cost_plan.cli import main

sys.exit(main())
