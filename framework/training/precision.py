"""`trainer.precision`: `auto` resolved for the device at hand, and the checks made before a run starts."""
from __future__ import annotations

import sys

from framework.errors import ConfigError

AUTO = "auto"


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str] | None:
    """The CPU feature flags (Linux), or None where they cannot be read."""
    try:
        with open(path) as f:
            line = next((line for line in f if line.startswith("flags")), None)
    except OSError:
        return None
    return set(line.split(":", 1)[1].split()) if line else None


def _on_cpu(trainer) -> bool:
    import torch

    accelerator = str(trainer.accelerator)
    return accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())


LEGACY = {"16": "16-mixed", "bf16": "bf16-mixed"}  # Lightning warns about these two


def resolve(trainer) -> tuple[str, str]:
    """(precision, why) for `trainer`: its own setting, or for `auto` the fastest one that trains reliably.

    On the CPU, bf16-mixed only with AMX: without it bfloat16 matrix multiplies run at about half the float32
    rate (measured on the development machine, docs/results.md). On a CUDA GPU, bf16-mixed where the GPU supports
    bfloat16 (Ampere and newer), else 16-mixed. On a TPU, bf16-true; elsewhere float32."""
    if str(trainer.precision) != AUTO:  # Lightning's legacy short names, as the current ones it asks for
        return LEGACY.get(str(trainer.precision), str(trainer.precision)), "set in the config"
    accelerator = str(trainer.accelerator)
    if _on_cpu(trainer):
        if "amx_bf16" in (cpu_flags() or ()):
            return "bf16-mixed", "a CPU with AMX multiplies bfloat16 faster than float32"
        return "32", "a CPU without AMX multiplies float32 faster than bfloat16"
    if accelerator in ("gpu", "cuda", "auto"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"trainer.accelerator={accelerator}, but torch sees no CUDA GPU here",
                              hint="use trainer=cpu, or check the CUDA build of torch and CUDA_VISIBLE_DEVICES")
        if torch.cuda.is_bf16_supported():
            return "bf16-mixed", "the GPU supports bfloat16"
        return "16-mixed", "the GPU has no bfloat16 support"
    if accelerator == "tpu":
        return "bf16-true", "TPUs compute in bfloat16"
    return "32", f"no reduced precision chosen for accelerator={accelerator}"


def check_accelerator(trainer) -> None:
    """Refuse an accelerator this machine lacks, and FSDP off CUDA GPUs (Lightning's FSDP needs them), before
    the data is built: Lightning would say so only when the trainer is made."""
    import importlib.util

    import torch

    accelerator, strategy = str(trainer.accelerator), str(trainer.get("strategy", "auto"))
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(f"trainer.accelerator={accelerator}, but torch sees no CUDA GPU here",
                          hint="use trainer=cpu (or trainer.accelerator=cpu), or check the CUDA build of torch and "
                               "CUDA_VISIBLE_DEVICES")
    if int(trainer.get("num_nodes", 1)) > 1:  # checked at train time: `nlpf config trainer=multinode` works anywhere
        from framework.training.launch import cluster_environment

        if cluster_environment() is None:  # started alone, the first node's processes wait for the others forever
            raise ConfigError(f"trainer.num_nodes={trainer.num_nodes} needs a process started on each node by a "
                              "cluster launcher, and none was found (no SLURM job, torchrun, LSF job, nor MASTER_ADDR "
                              "with NODE_RANK or RANK)", hint="start it with srun or torchrun on every node "
                              "(docs/training.md), or use trainer.num_nodes=1 on one machine")
    if accelerator == "tpu" and importlib.util.find_spec("torch_xla") is None:
        raise ConfigError("trainer.accelerator=tpu needs torch_xla, which is not installed",
                          hint="install torch_xla on the TPU machine, or use trainer=cpu or trainer=gpu")
    if strategy.startswith("fsdp"):
        if accelerator not in ("gpu", "cuda", "auto") or not torch.cuda.is_available():
            raise ConfigError(f"trainer.strategy={strategy} needs CUDA GPUs (Lightning's FSDP runs on nothing else); "
                              f"here trainer.accelerator={accelerator}" + ("" if torch.cuda.is_available() else
                                                                           " and torch sees no CUDA GPU"),
                              hint="use trainer=fsdp on a GPU machine, or trainer=ddp trainer.accelerator=cpu on the CPU")


def check(trainer) -> None:
    """Refuse an accelerator that is not there (check_accelerator) and float16 on the CPU; note bf16 on a CPU
    where it is likely slower than float32."""
    check_accelerator(trainer)
    precision = str(trainer.precision)
    if precision in ("16-mixed", "16") and _on_cpu(trainer):
        raise ConfigError("trainer.precision=16-mixed needs a GPU (float16 autocast is not supported on the CPU)",
                          hint="use trainer.precision=bf16-mixed or auto on the CPU")
    flags = cpu_flags() if precision.startswith("bf16") and _on_cpu(trainer) else None
    if flags is not None and "amx_bf16" not in flags:
        print(f"note: trainer.precision={precision} on a CPU without AMX: bfloat16 matrix multiplies are usually "
              "slower than float32 on such CPUs; trainer.precision=32 (or auto) is likely faster here",
              file=sys.stderr, flush=True)
