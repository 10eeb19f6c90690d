"""Generates the flag and metric tables inside the operator docs from the code, so they cannot drift.

Each Markdown file under ``docs/`` may contain blocks delimited by ``<!-- BEGIN GENERATED <key> ... -->``
and ``<!-- END GENERATED <key> -->``; everything between the markers is rebuilt from the flag tables
(``batcher_table()``, ``proposer_table()``) and the metric catalogues (``docs/catalogue.py``).

    python -m docs.gen_flags          # rewrite the blocks in place
    python -m docs.gen_flags --check  # exit 1 (and name the files) when a block is stale

``tests/test_docs_flags.py`` runs the check in memory.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from common.service.flags import Flag, FlagTable, UsageError

DOCS_DIR = Path(__file__).resolve().parent
GENERATOR = "python -m docs.gen_flags"
_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED (?P<key>[\w.-]+)[^>]*-->\n)(?P<body>.*?)(<!-- END GENERATED (?P=key) -->)",
    re.DOTALL,
)

PPROF_NOTE = "Accepted and validated like Go; Python has no pprof, so no profiler is started."
COMMON_NOTES: Mapping[str, str] = {
    "pprof.enabled": PPROF_NOTE,
    "pprof.addr": PPROF_NOTE,
    "pprof.port": PPROF_NOTE,
    "pprof.path": PPROF_NOTE + " No profile file is written.",
    "pprof.type": PPROF_NOTE,
    "signer.tls.ca": "mTLS is on only when a `signer.tls.*` flag is set explicitly; TLS 1.3 minimum.",
    "signer.tls.cert": "Client certificate; re-read automatically when the file changes (rotation).",
    "signer.tls.key": "Client key; re-read automatically when the file changes (rotation).",
    "private-key": "Never logged or echoed in errors (shown as `<redacted>`).",
    "mnemonic": "Never logged or echoed in errors (shown as `<redacted>`).",
    "txmgr.cell-proof-time": "Unset (MaxUint64) resolves from the L1 chain id like Go (Osaka times).",
}
"""Differences shared by both services (flag name -> note); an empty note means "identical to Go"."""

BATCHER_NOTES: Mapping[str, str] = {
    **COMMON_NOTES,
    "l2-eth-rpc": "Comma list + matching `--rollup-rpc` list: follows the active sequencer "
    "(`admin_sequencerActive`), as Go.",
    "rollup-rpc": "Comma list: active-sequencer failover, same index pairing as `--l2-eth-rpc`.",
    "altda.enabled": "Frames go to the DA server, the inbox calldata tx carries `0x01 ++ commitment`; "
    "needs `--data-availability-type=calldata` (Go's rule). See the Alt-DA section.",
    "altda.da-server": "Must be an http(s) URL with a host (Go's `url.Parse` accepts almost anything): "
    "`DA server URL is invalid: ...`.",
    "altda.verify-on-read": "Applies to the `GET /get` of `--altda.read-back` (keccak256 commitments).",
    "altda.da-service": "",
    "altda.put-timeout": "",
    "altda.get-timeout": "Used by `--altda.read-back` (the batcher's only GET).",
    "altda.max-concurrent-da-requests": "No free slot: publishing waits for one (Go requeues the frame and "
    "retries at once).",
    "altda.read-back": "Python addition (Go posts whatever the server acknowledged). After each put, GET "
    "the input back and post its commitment only if it comes back intact; else ERROR `Alt-DA server did "
    "not return the input it stored`, `altda_read_back_failures_total`, frame requeued.",
    "throttle.controller-type": "`pid` is experimental, as in Go.",
    "l1-beacon": "Python addition (Go has no such flag: it does not read its channels back at "
    "restart). Restart recovery reads blob txs' blobs here; unreachable: falls back to the L1 node, "
    "else the blob channels are resubmitted (WARN `Blob channels cannot be recovered from L1`).",
    "max-rpc-response-bytes": "Python addition (Go reads any body size). A bigger body fails the call "
    "(`response larger than N bytes`, naming endpoint and method) after reading at most N bytes; the "
    "op-proposer uses the same default cap.",
    **{
        f"throttle.{n}": "Python addition (Go's controllers ignore the blob fee, optimism#18150). While the "
        "blob base fee is at or below the floor, the intensity of any controller is scaled; see "
        "operations.md, Fee-aware posting and throttling."
        for n in ("blob-fee-floor", "blob-fee-floor-scale")
    },
    **{
        f"fee-aware.{n}": "Python addition (no OP batcher defers for fees). Off unless "
        "`--fee-aware.enabled`; never defers past the max delay or the sequencing-window deadline, nor "
        "mid-channel; see operations.md, Fee-aware posting and throttling."
        for n in ("enabled", "max-delay", "short-window", "long-window", "threshold", "min-fee")
    },
    "blob-sharing": "Python addition (Go sends each channel's last blob partly empty). Off by default; "
    "Holocene accepts the next channel's frame 0 after a closing frame. A failed shared tx resends both "
    "channels in order. Counted by `blobs_shared_total`.",
    "blob-sharing-max-wait": "Python addition. The added safe-head lag of a shared blob is at most this.",
    "adaptive-compression": "Python addition (Go uses one quality). Each channel's quality is the "
    "`compression_quality` field of `Channel closed` and the `channel_compression_quality` metric.",
    "adaptive-compression-headroom": "Python addition.",
    "max-unsafe-l2-bytes": "Python addition (Go loads without bound while the safe head is stuck). "
    "At the limit loading pauses (WARN `L2 block loading paused`, `op_batcher_default_loading_paused` "
    "1) and resumes once blocks become safe; 0 keeps Go's behaviour.",
}

SHADOW_NOTES: Mapping[str, str] = {
    "shadow.batcher-address": "Python addition (`op-batcher shadow` only): the batcher to compare with.",
    "shadow.report-path": "Python addition (`op-batcher shadow` only): written on exit (SIGINT/SIGTERM).",
}
"""``op-batcher shadow``'s own flags (batcher/shadow/flags.py); it also takes every op-batcher flag."""

PROPOSER_NOTES: Mapping[str, str] = {
    **COMMON_NOTES,
    "l2oo-address": "Era-C semantics: still supported (the newest Go op-proposer removed the flag).",
    "rollup-rpc": "A comma list enables the active rollup provider (`admin_sequencerActive`), as Go.",
    "supervisor-rpcs": "Parsed with the era-C conflict checks, then rejected (`--supervisor-rpcs: "
    "op-supervisor proposal sources are not supported ...`); upstream removed it too: use "
    "`--superroot-rpcs`.",
    "superroot-rpcs": "Supported, as the newest Go: `superroot_atTimestamp` on each URL (fail-over in "
    "order), root claim = super root, extraData = its preimage; both spellings and env names.",
    "game-type": "uint32; the unmerged upstream `auto` variant is not supported.",
    "output-retry-interval": "Hidden; accepted for early-B command lines and ignored.",
}

BATCHER_REMOVED = (
    "target-l1-tx-size-bytes",
    "throttle-interval",
    "throttle-threshold",
    "throttle-max-threshold",
    "throttle-tx-size",
    "throttle-block-size",
    "throttle-always-block-size",
    "additional-throttling-endpoints",
    "throttle-controller-type",
    "throttle-pid-kp",
    "txmgr.enable-cell-proofs",
)
"""Go names removed upstream (v1.15 throttle rename, cell-proof rework); rejected here as in Go."""
PROPOSER_REMOVED = (
    "txmgr.blob-tip-cap-dynamic",
    "txmgr.blob-tip-cap-percentile",
    "txmgr.blob-tip-cap-range",
)
"""Batcher-only txmgr flags (Go PR #19061): the proposer rejects them as undefined."""

GO_BATCHER_SERIES = frozenset(
    "op_batcher_default_" + n
    for n in (
        "info",
        "up",
        "balance",
        "refs_number",
        "refs_time",
        "refs_hash",
        "refs_latency",
        "refs_seqnr",
        "channel_total",
        "last_channel_unix",
        "batcher_tx_total",
        "last_batcher_tx_unix",
        "pending_blocks_count",
        "pending_blocks_bytes_total",
        "pending_blocks_bytes_current",
        "pending_da_bytes",
        "unsafe_da_bytes",
        "blocks_added_count",
        "input_bytes",
        "ready_bytes",
        "output_bytes",
        "channel_closed_reason",
        "channel_num_frames",
        "channel_compr_ratio",
        "input_bytes_total",
        "output_bytes_total",
        "channel_queue_length",
        "blob_used_bytes",
        "throttle_intensity",
        "throttle_intensity_history",
        "throttle_max_tx_size",
        "throttle_max_block_size",
        "throttle_controller_type",
        "unsafe_bytes_ratio",
        "pid_controller_error",
        "pid_controller_integral",
        "pid_controller_derivative",
        "pid_response_time",
    )
)
"""Go op-batcher families (op-batcher.md §2.1) by family name; txmgr and rpc families are shared."""
GO_PROPOSER_SERIES = frozenset(
    "op_proposer_default_" + n
    for n in ["info", "up", "balance", "refs_number", "refs_time", "refs_hash", "refs_latency", "refs_seqnr"]
)
"""Go op-proposer families (op-proposer-txmgr.md §5.1) besides the shared txmgr and rpc families."""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def flag_rows(table: FlagTable, notes: Mapping[str, str]) -> str:
    """One Markdown row per flag (hidden ones included): names, env, type, default, usage, difference."""
    unknown = set(notes) - {f.name for f in table.flags}
    if unknown:
        raise KeyError(f"notes for flags {sorted(unknown)} that {table.app_name} does not declare")
    rows = [
        "| Flag | Env | Type | Default | Usage | Python vs Go |",
        "|---|---|---|---|---|---|",
    ]
    for flag in table.flags:
        rows.append(_flag_row(flag, notes.get(flag.name, "")))
    return "\n".join(rows) + "\n"


def _flag_row(flag: Flag, note: str) -> str:
    names = ", ".join(f"`--{n}`" for n in flag.names)
    if flag.required:
        names += " (required)"
    env = ", ".join(f"`{e}`" for e in flag.env)
    default = flag.help_default()
    default_cell = f"`{default}`" if default else ""
    return (
        f"| {names} | {env} | {flag.kind.value} | {default_cell} | {_cell(flag.usage)} | "
        f"{_cell(note) or 'same as Go'} |"
    )


def removed_rows(table: FlagTable, names: Sequence[str]) -> str:
    """Go names that are not accepted, each proven by parsing it (the error text operators will see)."""
    rows = ["| Go flag | What happens here |", "|---|---|"]
    for name in names:
        try:
            table.parse([f"--{name}=1"], {})
        except UsageError as err:
            if str(err).startswith("flag provided but not defined"):
                rows.append(f"| `--{name}` | rejected: `Incorrect Usage: {_cell(str(err))}` |")
                continue
        raise ValueError(f"{table.app_name} accepts --{name}, which the docs list as removed")
    return "\n".join(rows) + "\n"


def env_list(table: FlagTable) -> str:
    """All env names in one fenced block (``grep``-able; the irregular Go names are marked)."""
    lines = []
    for flag in table.flags:
        for env in flag.env:
            mark = "  # irregular Go name" if env in table.irregular_env else ""
            lines.append(f"{env}={mark}")
    return "```sh\n" + "\n".join(lines) + "\n```\n"


def metric_rows(series: frozenset[str], go_families: frozenset[str], namespace: str) -> str:
    """Series this implementation adds on top of Go's, and Go families it does not export."""
    from docs.catalogue import family_series

    go_series = {s for fam in go_families for s in _any_kind(fam, family_series)}
    ours = sorted(s for s in series if s.startswith(namespace) and "_txmgr_" not in s and "_rpc_" not in s)
    added = [s for s in ours if s not in go_series]
    missing = sorted(f for f in go_families if not any(s in series for s in _any_kind(f, family_series)))
    out = ["Series added by this implementation (not in the Go service):", ""]
    out += [f"- `{s}`" for s in added] or ["- none"]
    out += ["", "Go series not exported here:", ""]
    out += [f"- `{s}`" for s in missing] or ["- none (every Go series is exported under its Go name)"]
    return "\n".join(out) + "\n"


def _any_kind(family: str, expand: Callable[[str, str], tuple[str, ...]]) -> set[str]:
    """All series a Go family name could show as (its type is not recorded in the Go list)."""
    return {s for kind in ("gauge", "counter", "histogram", "summary") for s in expand(family, kind)}


def generated_blocks() -> dict[str, str]:
    """Block key -> Markdown body, from the live flag tables and metric catalogues."""
    from batcher.flags import batcher_table
    from batcher.shadow.flags import shadow_only_table
    from docs.catalogue import batcher_series, proposer_series
    from proposer.flags import proposer_table

    batcher, proposer = batcher_table(), proposer_table()
    return {
        "batcher-flags": flag_rows(batcher, BATCHER_NOTES),
        "proposer-flags": flag_rows(proposer, PROPOSER_NOTES),
        "shadow-flags": flag_rows(shadow_only_table(), SHADOW_NOTES),
        "batcher-removed": removed_rows(batcher, BATCHER_REMOVED),
        "proposer-removed": removed_rows(proposer, PROPOSER_REMOVED),
        "batcher-env": env_list(batcher),
        "proposer-env": env_list(proposer),
        "batcher-metrics": metric_rows(batcher_series(), GO_BATCHER_SERIES, "op_batcher_default_"),
        "proposer-metrics": metric_rows(proposer_series(), GO_PROPOSER_SERIES, "op_proposer_default_"),
    }


def render(text: str, blocks: Mapping[str, str]) -> str:
    """``text`` with every generated block replaced; an unknown block key is an error."""

    def replace(match: re.Match[str]) -> str:
        key = match.group("key")
        if key not in blocks:
            raise KeyError(f"generated block {key!r} has no generator (known: {sorted(blocks)})")
        return match.group(1) + blocks[key] + match.group(4)

    return _BLOCK.sub(replace, text)


def doc_files() -> list[Path]:
    return sorted(DOCS_DIR.rglob("*.md"))


def stale_files(blocks: Mapping[str, str] | None = None) -> list[Path]:
    """Docs whose generated blocks differ from what the code produces now."""
    blocks = generated_blocks() if blocks is None else blocks
    return [p for p in doc_files() if render(p.read_text(), blocks) != p.read_text()]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    blocks = generated_blocks()
    if args == ["--check"]:
        stale = stale_files(blocks)
        for path in stale:
            print(f"{path}: generated tables are stale; run `{GENERATOR}`", file=sys.stderr)
        return 1 if stale else 0
    if args:
        print(f"usage: {GENERATOR} [--check]", file=sys.stderr)
        return 2
    for path in doc_files():
        text = path.read_text()
        new = render(text, blocks)
        if new != text:
            path.write_text(new)
            print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
