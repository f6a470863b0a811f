"""The sampler of every medtrain study (:mod:`medtrain.tune.study`): Optuna's TPE (Bergstra et al., "Algorithms for
Hyper-Parameter Optimization", NeurIPS 2011) whose draws for each trial are seeded by ``(seed, trial number)``."""
from __future__ import annotations

import warnings

import numpy as np
import optuna


class TrialSeededTPE(optuna.samplers.BaseSampler):
    """Optuna's TPE whose draws for trial number N are seeded by ``(seed, N)``, and which counts the trials still
    running (TPE's ``constant_liar``: each is taken for a poor result, so no one samples next to it).

    A sampler seeded once per process (``seed + len(study.trials)``, before) gave workers of a shared study that
    opened it at the same moment the same seed: they drew the same parameters trial after trial, so N workers
    explored one worker's settings (a user walkthrough). Trial numbers are unique in a study (the storage hands
    them out), so draws seeded by them differ between workers, while one worker from scratch with the same seed
    draws the same sequence, and a continued study does not redraw its first points (its trials have new numbers).

    A wrapper rather than a subclass: a fresh ``TPESampler`` per trial reseeds through Optuna's public
    constructor, where a subclass would have to replace TPE's private random states. Nothing else of TPE's is
    lost: without ``multivariate`` it keeps no state between trials.
    """

    def __init__(self, seed: int | None):
        self.seed = seed
        self._number: int | None = None
        self._tpe: optuna.samplers.TPESampler | None = None

    def tpe_for(self, trial: optuna.trial.FrozenTrial) -> optuna.samplers.TPESampler:
        """The TPE sampler of ``trial`` (the one made for its number, made now if need be)."""
        if self._tpe is None or trial.number != self._number:
            seed = (None if self.seed is None
                    else int(np.random.SeedSequence([self.seed, trial.number]).generate_state(1)[0]))
            with warnings.catch_warnings():  # constant_liar is marked experimental in Optuna 4
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self._tpe = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
            self._number = trial.number
        return self._tpe

    def infer_relative_search_space(self, study, trial):
        return self.tpe_for(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self.tpe_for(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self.tpe_for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self.tpe_for(trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self.tpe_for(trial).after_trial(study, trial, state, values)
