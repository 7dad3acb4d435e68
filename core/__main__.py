import gc
import os
import sys


def _flushed() -> bool:
    """Flush stdout and stderr; False when the reader went away (`python -m core runs | head`)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        return True
    except BrokenPipeError:
        return False


try:
    from core.cli import exits_at_once, main

    code = main()
except BrokenPipeError:
    code = 0  # the reader took what it wanted and closed the pipe: not an error of the command
except KeyboardInterrupt:  # Ctrl-C before a command set its own handler (while torch imports, say)
    print("interrupted", file=sys.stderr)
    sys.exit(130)
if not _flushed():
    # Python's recipe: stdout to devnull, so that its flush at exit does not raise into the user's face
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = 0
if exits_at_once(sys.argv[1:]):
    # nothing is left open after it, and torch's teardown takes 0.2-0.4 s of a 6-second fast-99 process
    os._exit(code)
# Python's collections at exit then skip the objects torch and the command made (0.4 s of a run)
gc.freeze()
sys.exit(code)
