"""Callbacks for fastbp's estimators, in scikit-learn 1.9's callback protocol.

Set them with ``estimator.set_callbacks(...)``, like scikit-learn's own
(``sklearn.callback.ProgressBar``, ``ScoringMonitor``). A fit is the root
task and every epoch (or L-BFGS iteration) one subtask, so a callback sees
the model after each epoch and may stop training by returning True from
``on_fit_task_end``.
"""

__all__ = ["EpochProgressBar"]


class EpochProgressBar:
    """A progress bar with the loss, the validation score and the time left.

    scikit-learn's ``ProgressBar`` shows how far a fit is; this one also
    shows what it is learning: after each epoch the training loss and, when
    validation scores are recorded (``early_stopping=True`` or
    ``validation_data``), the last one. The bar runs to ``max_iter`` and
    finishes early when training stops. Drawn by tqdm
    (``pip install "fastbp[progress]"``).

    Parameters
    ----------
    file : file-like, default=None
        Where the bar is written; tqdm's default (stderr) if None.
    mininterval : float, default=0.5
        Minimum seconds between redraws, so that short epochs cost nothing.

    Examples
    --------
    >>> from fastbp import MLPClassifier
    >>> from fastbp.callbacks import EpochProgressBar
    >>> clf = MLPClassifier(max_iter=50).set_callbacks(EpochProgressBar())
    """

    def __init__(self, file=None, mininterval=0.5):
        self.file = file
        self.mininterval = mininterval
        self._bars = {}  # one per fit, keyed by the fit's task tree

    def setup(self, estimator, context):
        try:
            from tqdm.auto import tqdm
        except ImportError as exc:
            raise ImportError(
                "EpochProgressBar draws with tqdm: pip install tqdm "
                '(or pip install "fastbp[progress]").') from exc
        total = context.max_subtasks or None
        if estimator.solver == "lbfgs" and total:
            total -= 1  # the task tree counts one unrun iteration
        self._bars[context.root_uuid] = tqdm(
            total=total, desc=type(estimator).__name__,
            unit="epoch" if estimator.solver != "lbfgs" else "iter",
            file=self.file, mininterval=self.mininterval, leave=True)

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        bar = self._bars.get(context.root_uuid)
        # The root task (the whole fit) and L-BFGS's last, never-run,
        # iteration (ended without a model) are not epochs.
        if bar is None or context.parent is None or fitted_estimator is None:
            return False
        postfix = {}
        if estimator.solver != "lbfgs":  # L-BFGS sets loss_ at the end
            postfix["loss"] = f"{estimator.loss_:.5g}"
        scores = getattr(estimator, "validation_scores_", None)
        if scores:
            postfix["val_score"] = f"{scores[-1]:.4f}"
        if postfix:
            bar.set_postfix(postfix, refresh=False)
        bar.update(1)
        return False

    def teardown(self, estimator, context):
        bar = self._bars.pop(context.root_uuid, None)
        if bar is not None:
            bar.close()
