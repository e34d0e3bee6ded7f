"""Export fitted fastbp estimators to ONNX through skl2onnx.

fastbp's fitted attributes are scikit-learn's (``coefs_``, ``intercepts_``,
``activation``, ``out_activation_``, ``classes_``, ``n_layers_``,
``n_outputs_``, the classifier's ``_label_binarizer``), so skl2onnx's own
converters for :class:`sklearn.neural_network.MLPClassifier` and
``MLPRegressor`` write the graph. :func:`register_onnx_converters` tells
skl2onnx that fastbp's classes convert with them; after that
``skl2onnx.to_onnx`` and ``convert_sklearn`` take a fastbp estimator, alone
or as a step of a scikit-learn ``Pipeline``, with the classifier's options
(``zipmap``, ``output_class_labels``, ``nocl``).

fastbp's classes are registered under their own aliases
(``FastbpMLPClassifier``, ``FastbpMLPRegressor``), not scikit-learn's, so
that the checks added here never change how scikit-learn's MLPs convert.
Three cases skl2onnx's MLP converters get wrong for scikit-learn too are
handled here:

- a multi-output regressor: skl2onnx reshapes the outputs to one column
  (``n_samples * n_outputs`` rows); here they keep their
  ``(n_samples, n_outputs)`` shape;
- ``MLPRegressor(loss="poisson")``: skl2onnx has no ``exp`` output
  activation (``KeyError: 'exp'``); here the graph ends in ``Exp``;
- a multilabel classifier: skl2onnx declares the label output as one
  column, onnxruntime warns that the shapes do not merge; here it is
  declared ``(n_samples, n_outputs)``.

skl2onnx's MLP converters know scikit-learn's four activations, one for
all hidden layers. For fastbp's others (leaky_relu, elu, gelu, silu,
softplus) and for a list of one activation per hidden layer, the hidden
layers are written here (:func:`_hidden_layers`), each a ``MatMul``, an
``Add`` and its activation in ONNX operators: ``LeakyRelu`` (alpha 0.01),
``Elu`` (alpha 1), ``Softplus``, ``Sigmoid`` times the input for silu, and
for gelu ``Gelu`` from opset 20 on, else ``x * (1 + Erf(x / sqrt 2)) / 2``.
skl2onnx's converter then writes the output layer and what follows it
(probabilities, labels, ZipMap) from their result, as it would from the
input of a network without hidden layers. Models with one of scikit-learn's
four activations convert exactly as before.

skl2onnx's MLP converters know scikit-learn's four activations, one for
all hidden layers. For fastbp's others (leaky_relu, elu, gelu, silu,
softplus) and for a list of one activation per hidden layer, the hidden
layers are written here (``_hidden_layers``), each a ``MatMul``, an ``Add``
and its activation in ONNX operators: ``LeakyRelu`` (alpha 0.01), ``Elu``
(alpha 1), ``Softplus``, ``Sigmoid`` times the input for silu, and for gelu
``Gelu`` from opset 20 on, else ``x * (1 + Erf(x / sqrt 2)) / 2``.
onnxruntime runs ``LeakyRelu``, ``Elu``, ``Softplus`` and ``Erf`` on float
only, so double graphs write leaky_relu, elu and softplus from ``Max``,
``Exp``, ``Log`` and the like (``max(x, 0.01 x)``, ``relu(x) + e^min(x, 0)
- 1``, ``relu(x) + log(1 + e^-|x|)``, none of which overflows) and gelu's
erf in float: a double gelu graph agrees with the model to float rounding
(~1e-7), not double's.
skl2onnx's converter then writes the output layer and what follows it
(probabilities, labels, ZipMap) from their result, as it would for a
network without hidden layers. Models with one of scikit-learn's four
activations convert exactly as before.

One case is refused with a clear error instead of producing a graph that
onnxruntime rejects: a classifier with double input and ``zipmap=True``
(ONNX's ``ZipMap`` takes float only).

The graph computes in the input's type. With float input
(``FloatTensorType``, what ``X.astype(np.float32)`` gives) every weight is
stored as float32, as a float32 fastbp model computes; with double input
(``DoubleTensorType``, what a float64 ``X`` gives) the weights are stored
as float64, which reproduces a ``dtype="float64"`` model to rounding.
onnxruntime has no double kernel for ``Binarizer``, so a multilabel
classifier runs there with float input only.

skl2onnx is an optional dependency: ``pip install "fastbp[onnx]"``.
Importing :mod:`fastbp` does not import it; this module imports it only
when one of its functions is called.
"""

from types import SimpleNamespace

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["register_onnx_converters", "to_onnx"]

# The aliases skl2onnx knows fastbp's classes by (its own are
# "Sklearn" + class name, which fastbp's class names would collide with).
CLASSIFIER_ALIAS = "FastbpMLPClassifier"
REGRESSOR_ALIAS = "FastbpMLPRegressor"

_INSTALL_HINT = 'pip install "fastbp[onnx]"'

_registered = False


def _import_skl2onnx():
    """Import skl2onnx, or raise an ImportError that says how to get it."""
    try:
        import skl2onnx
    except ImportError as exc:
        raise ImportError(
            "Exporting fastbp models to ONNX needs skl2onnx (and onnxruntime "
            f"to run the result): {_INSTALL_HINT}") from exc
    return skl2onnx


def _is_double(variable_type):
    from skl2onnx.common.data_types import DoubleTensorType

    return isinstance(variable_type, DoubleTensorType)


def _is_multilabel(model):
    return model._label_binarizer.y_type_ == "multilabel-indicator"


def _classifier_shapes(operator):
    """skl2onnx's classifier shapes; a multilabel label is 2-D."""
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes)

    calculate_linear_classifier_output_shapes(operator)
    model = operator.raw_operator
    if _is_multilabel(model):
        n_samples = operator.inputs[0].get_first_dimension()
        operator.outputs[0].type.shape = [n_samples, model.n_outputs_]


# scikit-learn's hidden activations, which skl2onnx's converters write.
_SKLEARN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
# ONNX operators of the activations that are one operator (leaky_relu and
# elu with PyTorch's and fastbp's parameters, which are ONNX's defaults too).
_ONE_OPERATOR = {"identity": ("Identity", {}), "logistic": ("Sigmoid", {}),
                 "tanh": ("Tanh", {}), "relu": ("Relu", {}),
                 "leaky_relu": ("LeakyRelu", {"alpha": 0.01}),
                 "elu": ("Elu", {"alpha": 1.0}),
                 "softplus": ("Softplus", {})}
# onnxruntime (1.32) runs these operators on float only; double graphs
# compose them from operators it runs on double (and Gelu, which it expands
# into Erf, as well).
_FLOAT_ONLY = ("leaky_relu", "elu", "softplus")
# The first opset with ONNX's Gelu operator.
_GELU_OPSET = 20


def _skl2onnx_writes_all_layers(model):
    """Whether skl2onnx's converter writes this model's hidden layers."""
    return (isinstance(model.activation, str)
            and model.activation in _SKLEARN_ACTIVATIONS)


def _add_activation(scope, container, name, z, proto_dtype):
    """Nodes computing activation ``name`` of tensor ``z``; the result's
    name."""
    def node(op_type, inputs, **attrs):
        result = scope.get_unique_variable_name(op_type.lower())
        container.add_node(op_type, inputs, result,
                           name=scope.get_unique_operator_name(op_type),
                           **attrs)
        return result

    def constant(value):
        const = scope.get_unique_variable_name("const")
        container.add_initializer(const, proto_dtype, [], [value])
        return const

    double = proto_dtype == _double_proto()
    if name in _ONE_OPERATOR and not (double and name in _FLOAT_ONLY):
        op_type, attrs = _ONE_OPERATOR[name]
        return node(op_type, [z], **attrs)
    if name == "silu":  # z * sigmoid(z)
        return node("Mul", [z, node("Sigmoid", [z])])
    if name == "leaky_relu":  # max(z, 0.01 z)
        return node("Max", [z, node("Mul", [z, constant(0.01)])])
    if name == "elu":  # relu(z) + e^min(z, 0) - 1
        return node("Add", [node("Relu", [z]), node("Sub", [
            node("Exp", [node("Min", [z, constant(0.0)])]), constant(1.0)])])
    if name == "softplus":  # relu(z) + log(1 + e^-|z|)
        tail = node("Exp", [node("Neg", [node("Abs", [z])])])
        return node("Add", [node("Relu", [z]), node("Log", [
            node("Add", [tail, constant(1.0)])])])
    # gelu, the exact form: z Phi(z) = z * (1 + erf(z / sqrt 2)) / 2
    if container.target_opset >= _GELU_OPSET and not double:
        return node("Gelu", [z], approximate="none")
    scaled = node("Mul", [z, constant(1 / np.sqrt(2))])
    if double:  # erf in float: onnxruntime has no double Erf
        erf = node("Cast", [node("Erf", [node("Cast", [scaled],
                                               to=_float_proto())])],
                   to=proto_dtype)
    else:
        erf = node("Erf", [scaled])
    half_z = node("Mul", [z, constant(0.5)])
    return node("Mul", [half_z, node("Add", [erf, constant(1.0)])])


def _hidden_layers(scope, container, input_name, model, proto_dtype):
    """The hidden layers of ``model``, each with its own activation; the
    name of the last one's output (the input, cast to the graph's type,
    for a network without hidden layers)."""
    activations = model._hidden_activations(model.n_layers_ - 2)
    dtype = np.float64 if proto_dtype == _double_proto() else np.float32
    A = scope.get_unique_variable_name("cast_input")
    container.add_node("Cast", [input_name], A, to=proto_dtype,
                       name=scope.get_unique_operator_name("Cast"))
    for W, b, name in zip(model.coefs_, model.intercepts_, activations):
        coef = scope.get_unique_variable_name("coefficient")
        intercept = scope.get_unique_variable_name("intercepts")
        container.add_initializer(coef, proto_dtype, W.shape,
                                  W.astype(dtype).ravel())
        container.add_initializer(intercept, proto_dtype, [1, len(b)],
                                  b.astype(dtype))
        product = scope.get_unique_variable_name("mul_result")
        container.add_node("MatMul", [A, coef], product,
                           name=scope.get_unique_operator_name("MatMul"))
        z = scope.get_unique_variable_name("add_result")
        container.add_node("Add", [product, intercept], z,
                           name=scope.get_unique_operator_name("Add"))
        A = _add_activation(scope, container, name, z, proto_dtype)
    return A


def _double_proto():
    from skl2onnx.proto import onnx_proto

    return onnx_proto.TensorProto.DOUBLE


def _float_proto():
    from skl2onnx.proto import onnx_proto

    return onnx_proto.TensorProto.FLOAT


def _graph_proto_dtype(operator):
    """The graph's element type: double for double input, float else."""
    from skl2onnx.common.data_types import guess_proto_type
    from skl2onnx.proto import onnx_proto

    proto_dtype = guess_proto_type(operator.inputs[0].type)
    if proto_dtype != onnx_proto.TensorProto.DOUBLE:
        proto_dtype = onnx_proto.TensorProto.FLOAT
    return proto_dtype


def _output_layer_only(model):
    """A stand-in with the model's fitted attributes but only its output
    layer, for skl2onnx's converters to write from the hidden layers'
    output."""
    return SimpleNamespace(
        coefs_=model.coefs_[-1:], intercepts_=model.intercepts_[-1:],
        n_layers_=2, activation="identity",
        out_activation_=model.out_activation_,
        classes_=getattr(model, "classes_", None),
        _label_binarizer=getattr(model, "_label_binarizer", None),
        n_outputs_=model.n_outputs_)


def _on_hidden_output(scope, operator, container):
    """An operator for skl2onnx's converters that reads the output of the
    hidden layers (written here) in place of the input, with a stand-in
    model holding the output layer only; its outputs are the operator's."""
    model = operator.raw_operator
    hidden = _hidden_layers(scope, container, operator.inputs[0].full_name,
                            model, _graph_proto_dtype(operator))
    source = operator.inputs[0]
    return SimpleNamespace(
        raw_operator=_output_layer_only(model),
        inputs=[SimpleNamespace(full_name=hidden, type=source.type,
                                get_first_dimension=source.get_first_dimension)],
        outputs=operator.outputs,
        output_full_names=operator.output_full_names)


def _convert_classifier(scope, operator, container):
    """skl2onnx's MLPClassifier converter, after checking the options; for
    activations skl2onnx does not know, on the hidden layers written here."""
    from skl2onnx.operator_converters.multilayer_perceptron import (
        convert_sklearn_mlp_classifier)

    model = operator.raw_operator
    zipmap = container.get_options(model, dict(zipmap=True))["zipmap"]
    if _is_double(operator.inputs[0].type) and zipmap is True:
        raise ValueError(
            "ONNX's ZipMap takes float probabilities only, and this "
            "classifier's input is double. Convert with "
            "options={'zipmap': False} (probabilities as a tensor) or "
            "with float32 input.")
    if not _skl2onnx_writes_all_layers(model):
        operator = _on_hidden_output(scope, operator, container)
    convert_sklearn_mlp_classifier(scope, operator, container)


def _regressor_shapes(operator):
    """skl2onnx's regressor shapes, with one column per output."""
    from skl2onnx.common.shape_calculator import (
        calculate_linear_regressor_output_shapes)

    calculate_linear_regressor_output_shapes(operator)
    n_samples = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type.shape = [
        n_samples, operator.raw_operator.n_outputs_]


def _convert_regressor(scope, operator, container):
    """skl2onnx's MLPRegressor converter, extended to the cases it misses.

    A single-output identity-output regressor goes to skl2onnx unchanged.
    Otherwise skl2onnx's forward pass builds the layers up to the output
    pre-activation, followed by ``Exp`` for ``loss="poisson"``, and the
    result keeps its ``(n_samples, n_outputs)`` shape.
    """
    from skl2onnx.common._apply_operation import apply_reshape
    # _predict is private to skl2onnx (present from 1.17 to 1.20 at least);
    # tests/test_onnx.py covers every path through it.
    from skl2onnx.operator_converters.multilayer_perceptron import (
        _predict, convert_sklearn_mlp_regressor)

    model = operator.raw_operator
    if model.out_activation_ not in ("identity", "exp"):
        raise NotImplementedError(
            f"No ONNX conversion for output activation "
            f"{model.out_activation_!r}.")
    if not _skl2onnx_writes_all_layers(model):
        operator = _on_hidden_output(scope, operator, container)
        model = operator.raw_operator
    if model.n_outputs_ == 1 and model.out_activation_ == "identity":
        convert_sklearn_mlp_regressor(scope, operator, container)
        return

    proto_dtype = _graph_proto_dtype(operator)
    # The layers as skl2onnx writes them, ending in the identity.
    layers = SimpleNamespace(
        coefs_=model.coefs_, intercepts_=model.intercepts_,
        n_layers_=model.n_layers_, activation=model.activation,
        out_activation_="identity")
    y_pred = _predict(scope, operator.inputs[0].full_name, container,
                      layers, proto_dtype)
    if model.out_activation_ == "exp":
        exp_name = scope.get_unique_variable_name("exp_result")
        container.add_node("Exp", y_pred, exp_name,
                           name=scope.get_unique_operator_name("Exp"))
        y_pred = exp_name
    apply_reshape(scope, y_pred, operator.output_full_names, container,
                  desired_shape=(-1, model.n_outputs_))


def register_onnx_converters():
    """Let skl2onnx convert fastbp's MLPClassifier and MLPRegressor.

    Registers fastbp's classes with skl2onnx's converters and shape
    calculators for scikit-learn's MLPs, and the classifier with the
    options skl2onnx allows for scikit-learn's MLPClassifier (``zipmap``,
    ``output_class_labels``, ``nocl``). Afterwards ``skl2onnx.to_onnx`` and
    ``skl2onnx.convert_sklearn`` accept fitted fastbp estimators, also as
    steps of a ``Pipeline``. Calling it again does nothing.

    Raises
    ------
    ImportError
        If skl2onnx is not installed (``pip install "fastbp[onnx]"``).

    Examples
    --------
    >>> from fastbp.onnx import register_onnx_converters
    >>> register_onnx_converters()
    >>> onx = skl2onnx.to_onnx(clf, X[:1].astype(np.float32))  # doctest: +SKIP
    """
    global _registered
    if _registered:
        return
    skl2onnx = _import_skl2onnx()
    from skl2onnx.common._registration import get_converter

    from ._mlp import MLPClassifier, MLPRegressor

    classifier_options = get_converter(
        "SklearnMLPClassifier").get_allowed_options()
    skl2onnx.update_registered_converter(
        MLPClassifier, CLASSIFIER_ALIAS, _classifier_shapes,
        _convert_classifier, options=classifier_options)
    skl2onnx.update_registered_converter(
        MLPRegressor, REGRESSOR_ALIAS, _regressor_shapes, _convert_regressor)
    _registered = True


def _model_dtype(estimator):
    """The dtype of the weights of ``estimator`` or of a pipeline's last step.

    float32 when the (last) estimator has no ``coefs_``.
    """
    final = estimator
    while hasattr(final, "steps"):
        final = final.steps[-1][1]
    coefs = getattr(final, "coefs_", None)
    return np.dtype(coefs[0].dtype) if coefs else np.dtype(np.float32)


def to_onnx(estimator, X=None, **kwargs):
    """Convert a fitted fastbp estimator, or a pipeline ending in one, to ONNX.

    Registers fastbp's converters (:func:`register_onnx_converters`) and
    calls :func:`skl2onnx.to_onnx`.

    Parameters
    ----------
    estimator : estimator
        A fitted fastbp ``MLPClassifier`` or ``MLPRegressor``, or any
        estimator skl2onnx converts, such as a ``Pipeline`` containing one.
    X : array-like of shape (n_samples, n_features), default=None
        Sample input; only its type and number of columns are used. The
        graph computes in its dtype: float32 X gives a float graph,
        float64 X a double graph. If None (and no ``initial_types`` are
        given), the input is one tensor ``"X"`` of shape
        ``(None, n_features_in_)`` in the dtype of the model's ``coefs_``
        (float32 for fastbp's default ``dtype="float32"``).
    **kwargs
        Passed to :func:`skl2onnx.to_onnx`: ``target_opset``, ``options``
        (for a classifier e.g. ``{"zipmap": False}``), ``initial_types``,
        ``name``, ...

    Returns
    -------
    onnx.ModelProto
        The ONNX model. A classifier has the outputs ``label`` and
        ``probabilities``, a regressor ``variable`` of shape
        ``(n_samples, n_outputs_)``.

    Raises
    ------
    ImportError
        If skl2onnx is not installed (``pip install "fastbp[onnx]"``).
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    ValueError
        For a classifier with double input and ``zipmap=True`` (ONNX's
        ZipMap takes float only).

    Examples
    --------
    >>> from fastbp.onnx import to_onnx
    >>> onx = to_onnx(clf, options={"zipmap": False})  # doctest: +SKIP
    >>> open("clf.onnx", "wb").write(onx.SerializeToString())  # doctest: +SKIP
    """
    skl2onnx = _import_skl2onnx()
    check_is_fitted(estimator)
    register_onnx_converters()
    if X is None and kwargs.get("initial_types") is None:
        from skl2onnx.common.data_types import (DoubleTensorType,
                                                FloatTensorType)

        tensor_type = (DoubleTensorType
                       if _model_dtype(estimator) == np.float64
                       else FloatTensorType)
        kwargs["initial_types"] = [
            ("X", tensor_type([None, estimator.n_features_in_]))]
    return skl2onnx.to_onnx(estimator, X, **kwargs)
