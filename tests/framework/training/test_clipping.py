"""trainer.gradient_clip_val under mixed precision with nlpf's default (fused) Adam optimizers."""
import json
from pathlib import Path

import pytorch_lightning as pl
import torch

from framework import cli
from framework.training.module import TrainModule, clip_gradients

TINY = ["model=gpt_tiny", "data=tiny_corpus", "trainer.max_steps=3", "max_length=32", "batch_size=8",
        "trainer.enable_progress_bar=false", "data.max_examples=24"]


def test_bf16_mixed_training_clips_with_the_fused_optimizer(tmp_path):
    # Lightning's mixed-precision plugin refused to clip with a fused AdamW: the first step failed
    assert cli.main(["train", f"run_dir={tmp_path / 'run'}", *TINY, "trainer.precision=bf16-mixed",
                     "trainer.gradient_clip_val=1.0"]) == 0
    assert json.loads((Path(tmp_path / "run") / "metrics.json").read_text())["global_step"] == 3


def _grads(model, scaler=None):
    torch.manual_seed(1)
    loss = model(torch.randn(16, 8)).pow(2).sum() * 50  # large gradients: the clip applies
    (scaler.scale(loss) if scaler is not None else loss).backward()


def test_scaled_gradients_of_a_fused_optimizer_are_unscaled_before_clipping():
    """16-mixed: a fused AdamW unscales inside its step, so Lightning leaves the gradients scaled; they must be
    unscaled before the clip, and the step must then apply exactly what a clipped unfused AdamW applies."""
    torch.manual_seed(0)
    model, reference = torch.nn.Linear(8, 4), torch.nn.Linear(8, 4)
    reference.load_state_dict(model.state_dict())
    fused = torch.optim.AdamW(model.parameters(), lr=0.1, fused=True)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    _grads(model, scaler)
    clip_gradients(fused, 0.5, "norm", scaler=scaler)
    assert abs(torch.nn.utils.get_total_norm([p.grad for p in model.parameters()]) - 0.5) < 1e-4
    scaler.step(fused)  # does not unscale a second time
    scaler.update()

    plain = torch.optim.AdamW(reference.parameters(), lr=0.1)
    _grads(reference)
    torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
    plain.step()
    for a, b in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b)


class _Tiny(pl.LightningModule):
    """A module with TrainModule's clipping, trained by Lightning under a float16 gradient scaler."""

    configure_gradient_clipping = TrainModule.configure_gradient_clipping

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(8, 4)
        self.norms = []

    def training_step(self, batch, batch_idx):
        return self.layer(batch).float().pow(2).mean() * 20

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=0.1, fused=True)
        step = optimizer.step

        def recorded(*args, **kwargs):  # the gradients the step sees (unscaled, as the scaler found them)
            self.norms.append(float(torch.nn.utils.get_total_norm([p.grad for p in self.parameters()])))
            return step(*args, **kwargs)

        optimizer.step = recorded
        return optimizer


def test_lightning_16_mixed_with_a_fused_optimizer_clips_the_unscaled_gradients():
    from pytorch_lightning.plugins.precision import MixedPrecision

    module = _Tiny()
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=3, gradient_clip_val=0.5, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)])
    data = torch.utils.data.DataLoader(torch.randn(48, 8), batch_size=16)
    trainer.fit(module, data)
    assert len(module.norms) == 3 and all(abs(n - 0.5) < 1e-3 for n in module.norms)
