"""Running the project's tools from the scripts under utils/."""

import os
import subprocess
import sys


def run(command, env=None, who="utils"):
    """Runs `command` and returns its stdout; on failure exits, naming the tool and its last
    message line (the error sp's tools print)."""
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        sys.exit(f"{who}: {os.path.basename(command[0])} exited {done.returncode}: "
                 f"{lines[-1] if lines else '(no message)'}")
    return done.stdout
