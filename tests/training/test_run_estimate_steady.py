"""The early run-time note projects from the steady pace, not from the slow first batches of a run."""
from types import SimpleNamespace

from medtrain.training.estimate import RunEstimate


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def run(seconds, batches=17, epochs=30):
    """A fit of ``epochs`` epochs of ``batches`` batches whose first epoch's batches take ``seconds`` (a list)."""
    clock = Clock()
    estimate = RunEstimate(clock=clock)
    fake = SimpleNamespace(num_training_batches=batches, max_epochs=epochs, current_epoch=0, is_global_zero=True,
                           callbacks=[])
    estimate.on_train_epoch_start(fake, None)
    for i, s in enumerate(seconds):
        clock.t += s
        estimate.on_train_batch_end(fake, None, None, None, i)
    return estimate


def test_slow_first_batches_do_not_make_the_note(capsys):
    # as the walkthrough's run under load: the first batches 4.75 s each, then 1 s each; 30 x 17 batches at 1 s
    # are 8.5 min, under the 10 min the note waits for (the mean of batches 2-3 had said 40 min)
    run([6.0, 4.75, 4.75] + [1.0] * 14)
    assert capsys.readouterr().err == ""


def test_the_pace_said_is_the_later_batches_one(capsys):
    # slow start, then 2 s a batch: 2 s each, not the start's 8 s
    run([10.0, 8.0, 8.0] + [2.0] * 97, batches=100)
    line, = capsys.readouterr().err.splitlines()
    assert "(2.00 s each)" in line
    # 30 x 100 batches at 2 s: 100 min, plus the start's excess
    assert "take about 1 h 40 min" in line, line
