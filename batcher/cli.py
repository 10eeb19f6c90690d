"""``op-batcher`` entry point: the service and the ``decode``, ``bench``, ``shadow``, ``doc`` subcommands."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "decode":
        from batcher.decode import main as decode_main

        return decode_main(args[1:])
    if args and args[0] == "bench":
        from batcher.bench import main as bench_main

        return bench_main(args[1:])
    if args and args[0] == "shadow":  # op-batcher shadow (batcher/shadow.py)
        from batcher.shadow import main as shadow_main

        return shadow_main(args[1:])
    if args and args[0] == "doc":
        from batcher.service import doc_main

        return doc_main(args[1:])
    from batcher.service import main as service_main

    return service_main(args)


if __name__ == "__main__":
    sys.exit(main())
