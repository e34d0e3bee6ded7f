"""scikit-learn 1.9's callback protocol (``sklearn.callback``) for the MLPs.

A fit is the root task; each epoch of the stochastic solvers, or each
iteration of L-BFGS, is one subtask. Callbacks set with
``estimator.set_callbacks(...)`` (``sklearn.callback.ProgressBar``,
``ScoringMonitor`` or any object following ``FitCallback``) receive the
hooks and, at the end of an epoch, may return True to stop training.

Without callbacks nothing here changes a fit: no hook is called and the
fitted weights are those of a fit without this module.
"""


def callbacks_active(estimator):
    """Whether a fit of ``estimator`` calls callback hooks."""
    return bool(getattr(estimator, "_skl_callbacks", None)
                or hasattr(estimator, "_parent_callback_ctx"))


class FitTasks:
    """The callback task tree of one ``fit`` or ``partial_fit`` call.

    Parameters
    ----------
    estimator : BaseMultilayerPerceptron
        The estimator being fitted; its ``_init_callback_context`` creates
        the root task.
    X, y : array-like
        The data of the call, as the user passed it, for hooks that ask for
        them (a ``ScoringMonitor`` scores the model on them).
    sample_weight : array-like or None
        Passed to the hooks as ``metadata={"sample_weight": ...}``.
    max_subtasks : int
        Upper bound on the number of epochs or iterations.
    subtask_name : str
        Name of each subtask ("epoch" or "lbfgs-iter").
    """

    def __init__(self, estimator, X, y, sample_weight, max_subtasks,
                 subtask_name):
        self._estimator = estimator
        self._active = callbacks_active(estimator)
        self._data = {
            "X": X, "y": y,
            "metadata": (None if sample_weight is None
                         else {"sample_weight": sample_weight})}
        self._subtask_name = subtask_name
        self._subtask = None
        self._root = estimator._init_callback_context(
            max_subtasks=max_subtasks)
        if self._active:
            self._root.call_on_fit_task_begin(estimator=estimator,
                                              **self._data)

    def begin(self, snapshot):
        """Start the next subtask; ``snapshot()`` gives the model's state."""
        if not self._active:
            return
        self._subtask = self._root.subcontext(task_name=self._subtask_name)
        self._subtask.call_on_fit_task_begin(
            estimator=self._estimator, reconstruction_attributes=snapshot,
            **self._data)

    def end(self, snapshot):
        """End the current subtask. Returns True if a callback asks to stop."""
        if self._subtask is None:
            return False
        subtask, self._subtask = self._subtask, None
        return subtask.call_on_fit_task_end(
            estimator=self._estimator, reconstruction_attributes=snapshot,
            **self._data)

    def close(self, snapshot):
        """End the root task (and a subtask that never ran, if any)."""
        if not self._active:
            return
        if self._subtask is not None:
            self._subtask.call_on_fit_task_end(estimator=self._estimator)
            self._subtask = None
        self._root.call_on_fit_task_end(
            estimator=self._estimator, reconstruction_attributes=snapshot,
            **self._data)
