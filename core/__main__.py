import gc
import sys

from core.cli import main

code = main()
# Python's collections at exit then skip the objects torch and the run made: 0.4-0.5 s of a
# fast-99 process, whose whole time is the point (benchmarks.fast99_process)
gc.freeze()
sys.exit(code)
