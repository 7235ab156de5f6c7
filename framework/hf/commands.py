"""`nlpf import hf SRC OUT` and `nlpf export hf CKPT OUT`."""
from __future__ import annotations

from framework.errors import NlpfError

FORMATS = ("hf",)


def _args(args: list[str], command: str, what: str) -> tuple[str, str]:
    if len(args) != 3 or args[0] not in FORMATS:
        raise NlpfError(f"usage: nlpf {command} hf {what} OUT_DIR",
                        hint=f"the only format is 'hf' (Hugging Face); got: {' '.join(args) or 'no arguments'}")
    return args[1], args[2]


def import_command(args: list[str], ctx) -> int:
    from framework.hf import import_hf

    src, out = _args(args, "import", "SRC_DIR")
    path = import_hf(src, out)
    print(f"imported {src} -> {path}")
    return 0


def export_command(args: list[str], ctx) -> int:
    from framework.hf import export_hf

    ckpt, out = _args(args, "export", "CKPT_DIR")
    path = export_hf(ckpt, out)
    print(f"exported {ckpt} -> {path}")
    return 0
