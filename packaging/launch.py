"""The frozen app's entry point: the same ``dalaldesk`` command a pip install gets.

``freeze_support`` comes first: the desk's worker processes (``engine/core/workers.py``, spawned)
and multiprocessing's resource tracker start this same executable, and it must run them instead
of the desk.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()

    from app.launch import main

    sys.exit(main())
