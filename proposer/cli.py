"""``op-proposer`` entry point (``op-proposer doc metrics`` prints the metric catalogue)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    from proposer.service import main as service_main

    return service_main(args)


if __name__ == "__main__":
    sys.exit(main())
