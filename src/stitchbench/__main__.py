"""``python -m stitchbench``: the same command line as the ``stitchbench`` script."""

from __future__ import annotations

from stitchbench.cli import main

if __name__ == "__main__":
    main()
