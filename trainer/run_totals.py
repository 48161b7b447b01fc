"""The whole run's training loss and runtime, across ``--resume_from_checkpoint``.

The Trainer reports ``train_loss`` and ``train_runtime`` of one ``train()`` call: after a resume,
of the resumed segment only. `RunTotals` keeps the loss summed over the steps trained so far and
the seconds spent, saves them in each checkpoint's ``trainer_state.json`` (it is an
``ExportableState``) and reads them back when training resumes from that checkpoint.
"""

from __future__ import annotations

import logging
import time

from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState

logger = logging.getLogger(__name__)


class RunTotals(TrainerCallback, ExportableState):
    """Sums of the steps before this ``train()`` call (from the checkpoint) and of the steps logged since."""

    def __init__(self):
        self.prior = {"loss_sum": 0.0, "steps": 0, "seconds": 0.0}
        self.loss_sum = 0.0
        self.logged_step = 0
        self.started = time.time()
        self.known = True

    def state(self) -> dict:
        seconds = self.prior["seconds"] + time.time() - self.started
        return {"args": {}, "attributes": {"loss_sum": self.loss_sum, "steps": self.logged_step, "seconds": seconds}}

    def on_train_begin(self, args, state, control, **kwargs):
        name = type(self).__name__
        saved = state.stateful_callbacks.get(name) if isinstance(state.stateful_callbacks, dict) else None
        if saved:
            self.prior = dict(saved["attributes"])
        elif state.global_step:  # a checkpoint written without these totals
            self.known = False
            logger.warning("The checkpoint holds no run totals: train_loss and train_runtime cover this segment.")
        if isinstance(state.stateful_callbacks, dict):
            state.stateful_callbacks.setdefault(name, self.state())  # the Trainer saves only names it has
        self.loss_sum, self.logged_step = self.prior["loss_sum"], self.prior["steps"]
        self.started = time.time()

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_save:  # log first, so the checkpoint's sum covers every step it holds
            control.should_log = True

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:  # the mean loss of the steps since the last log
            self.loss_sum += logs["loss"] * (state.global_step - self.logged_step)
            self.logged_step = state.global_step

    def whole_run(self, metrics: dict[str, float], global_step: int) -> dict[str, float]:
        """``train_loss`` and ``train_runtime`` of the whole run, from this call's ``metrics``."""
        if not self.known or not global_step:
            return {}
        segment_steps = global_step - self.prior["steps"]
        loss = (self.prior["loss_sum"] + metrics["train_loss"] * segment_steps) / global_step
        return {"train_loss": loss, "train_runtime": round(self.prior["seconds"] + metrics["train_runtime"], 4)}
