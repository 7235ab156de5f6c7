"""`nlpf import hf SRC OUT`, `nlpf export hf CKPT OUT` and `nlpf export peft CKPT OUT [base=NAME]`."""
from __future__ import annotations

from framework.errors import NlpfError, did_you_mean

FORMATS = {"import": ("hf",), "export": ("hf", "peft")}
USAGE = {"import": "nlpf import hf SRC_DIR OUT_DIR",
         "export": "nlpf export hf CKPT_DIR OUT_DIR | nlpf export peft CKPT_DIR OUT_DIR [base=NAME_OR_PATH]"}


def _args(args: list[str], command: str) -> tuple[str, str, str, dict[str, str]]:
    """(format, source, destination, key=value options) of `nlpf import|export FORMAT SRC OUT [key=value ...]`."""
    formats = FORMATS[command]
    options = dict(a.split("=", 1) for a in args[3:] if "=" in a)
    stray = [a for a in args[3:] if "=" not in a]
    if len(args) < 3 or args[0] not in formats or stray:
        got = " ".join(args) or "no arguments"
        close = did_you_mean(args[0], formats) if args and args[0] not in formats else ""
        raise NlpfError(f"usage: {USAGE[command]}." + close,
                        hint=f"formats: {', '.join(formats)}; got: {got}")
    return args[0], args[1], args[2], options


def _check_options(options: dict[str, str], allowed: tuple[str, ...], what: str) -> None:
    for key in options:
        if key not in allowed:
            raise NlpfError(f"unknown option '{key}' for {what}." + did_you_mean(key, allowed),
                            hint=f"options: {', '.join(allowed) or 'none'}")


def import_command(args: list[str], ctx) -> int:
    from framework.hf import import_hf

    _, src, out, options = _args(args, "import")
    _check_options(options, (), "nlpf import hf")
    path = import_hf(src, out)
    print(f"imported {src} -> {path}")
    return 0


def export_command(args: list[str], ctx) -> int:
    fmt, ckpt, out, options = _args(args, "export")
    if fmt == "peft":
        from framework.hf.peft import export_peft

        _check_options(options, ("base",), "nlpf export peft")
        path = export_peft(ckpt, out, base=options.get("base"))
    else:
        from framework.hf import export_hf

        _check_options(options, (), "nlpf export hf")
        path = export_hf(ckpt, out)
    print(f"exported {ckpt} -> {path}")
    return 0
