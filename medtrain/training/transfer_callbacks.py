"""The Lightning callbacks of a transfer plan (:mod:`medtrain.training.transfer`): its record in the run's
checkpoints and gradual unfreezing. Apart from the plan, so that building a run's network (predict, export,
explain) does not import Lightning."""
from __future__ import annotations

import lightning.pytorch as pl

from medtrain.errors import MedtrainError
from medtrain.models.stages import set_frozen
from medtrain.training.transfer import TransferPlan

__all__ = ["GradualUnfreezing", "TransferRecord", "transfer_callbacks"]


class GradualUnfreezing(pl.Callback):
    """Unfreezes one more stage, top down, every ``unfreeze_every`` epochs (ULMFiT, Howard & Ruder 2018).

    Stateless (the trainable set is a function of the epoch), so a resumed run continues exactly. It keeps the
    plan's record of the stages frozen at the start as training leaves them (:meth:`record`).
    """

    def __init__(self, plan: TransferPlan):
        self.plan = plan
        self.stages, self.n, self.k, self.every = plan.unfreeze

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        top = min(self.n, self.k + trainer.current_epoch // self.every)  # stages trainable this epoch
        set_frozen(pl_module.model, self.stages, set(range(self.n - top, self.n)), False)
        pl_module.note_epoch(trainable_stages=top)
        self.record(top)

    def record(self, top: int) -> None:
        """``plan.frozen``: the stages frozen at the start that are still frozen with ``top`` stages trainable;
        ``plan.unfrozen_at``: each other one's first epoch trainable (from 0; a function of the epoch, so a resumed
        run records the same): ``frozen`` had listed the start's stages after training had unfrozen them."""
        names, start = self.plan.stages, range(self.n - self.k)
        self.plan.frozen = [names[s] for s in start if s < self.n - top]
        self.plan.unfrozen_at = {names[s]: (self.n - self.k - s) * self.every for s in reversed(start)
                                 if s >= self.n - top}


class TransferRecord(pl.Callback):
    """Keeps the plan in the run's checkpoints (``last.ckpt``, ``best.ckpt``) and restores it on ``--resume``.

    A resumed run's weights all come from its checkpoint; what else the source had given, its part of the plan
    (origin, first-convolution adaptation, tensors copied), is only known by reading it, so it is recorded here
    when the run starts: an interrupted fine-tune then resumes after its source was moved or deleted (a user
    walkthrough). A plan still ``pending`` when training starts had neither its source nor a checkpoint's
    record: the run is refused in one line, before any step is taken with weights that are not its own.
    """

    def __init__(self, plan: TransferPlan):
        self.plan = plan

    def state_dict(self) -> dict:
        return {} if self.plan.pending else {"plan": self.plan.to_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        if "plan" not in state_dict:
            return
        was_pending = self.plan.pending
        self.plan.restore(state_dict["plan"])  # the plan the run started with, even where its source has changed
        if was_pending:
            print(f"medtrain: {self.plan.summary()} (as the checkpoint records it; the source is not read)",
                  flush=True)

    def on_train_start(self, trainer, pl_module) -> None:
        if not self.plan.pending:
            return
        if trainer.ckpt_path is None:  # not a resumed run: the source was needed, and could not be read
            raise MedtrainError(self.plan.pending)
        # a checkpoint of an older medtrain, which did not record the plan: only the source can tell it
        src = self.plan.pretrained
        raise MedtrainError(f"--resume: the checkpoint {trainer.ckpt_path} (of an older medtrain) does not record the "
                            f"transfer from its source {src}, which is no longer there or not readable; put it back "
                            f"at {src} to resume")


def transfer_callbacks(plan: TransferPlan | None) -> list:
    """Lightning callbacks a transfer plan needs: its record in the checkpoints (:class:`TransferRecord`) and
    gradual unfreezing; ``[]`` without a plan."""
    if plan is None:
        return []
    return [TransferRecord(plan)] + ([GradualUnfreezing(plan)] if plan.unfreeze else [])
