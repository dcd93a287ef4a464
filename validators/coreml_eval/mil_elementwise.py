"""mlprogram elementwise ops: arithmetic, comparisons, activations, casts.

They compute in the dtype of their inputs (float16 stays float16, as an fp16
program computes), NumPy broadcasting being MIL's.
"""

from __future__ import annotations

import numpy as np

from posepipe.validators.coreml_eval.errors import UnsupportedOpError
from posepipe.validators.coreml_eval.kernels import wide
from posepipe.validators.coreml_eval.registry import Call, mil_op

_BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "real_div": np.true_divide,
    "maximum": np.maximum, "minimum": np.minimum, "pow": np.power, "floor_div": np.floor_divide,
    "mod": np.mod, "equal": np.equal, "not_equal": np.not_equal, "less": np.less,
    "less_equal": np.less_equal, "greater": np.greater, "greater_equal": np.greater_equal,
    "logical_and": np.logical_and, "logical_or": np.logical_or, "logical_xor": np.logical_xor,
}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) through exp(-|x|), which never overflows (nor warns)."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype)


_UNARY = {
    "abs": np.abs, "ceil": np.ceil, "floor": np.floor, "round": np.round, "sign": np.sign,
    "sqrt": np.sqrt, "exp": np.exp, "exp2": np.exp2, "square": np.square, "sin": np.sin,
    "cos": np.cos, "tanh": np.tanh, "relu": lambda x: np.maximum(x, x.dtype.type(0)),
    "logical_not": np.logical_not, "identity": lambda x: x.copy(),
    "sigmoid": _sigmoid,
    "silu": lambda x: x * _sigmoid(x),
    "softplus": lambda x: np.logaddexp(x, x.dtype.type(0)),
    "relu6": lambda x: np.clip(x, x.dtype.type(0), x.dtype.type(6)),
}

CAST_DTYPES = {
    "fp16": np.float16, "fp32": np.float32, "fp64": np.float64, "int8": np.int8, "uint8": np.uint8,
    "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "int64": np.int64, "bool": np.bool_,
}


def _binary(call: Call) -> np.ndarray:
    x, y = np.asarray(call["x"]), np.asarray(call["y"])
    return _BINARY[call.op_type](x, y)


def _unary(call: Call) -> np.ndarray:
    return _UNARY[call.op_type](np.asarray(call["x"]))


for _name in _BINARY:
    mil_op(_name)(_binary)
for _name in _UNARY:
    mil_op(_name)(_unary)


def _typed(x: np.ndarray, value: object) -> np.generic:
    """A scalar input in ``x``'s dtype, so an fp16 op stays in fp16."""
    return x.dtype.type(value)


@mil_op("clip")
def clip(call: Call) -> np.ndarray:
    x = call["x"]
    return np.minimum(np.maximum(x, _typed(x, call.scalar("alpha"))), _typed(x, call.scalar("beta")))


@mil_op("threshold")
def threshold(call: Call) -> np.ndarray:
    x = call["x"]
    return np.maximum(x, _typed(x, call.scalar("alpha")))


@mil_op("leaky_relu")
def leaky_relu(call: Call) -> np.ndarray:
    x = call["x"]
    return np.where(x >= 0, x, x * _typed(x, call.scalar("alpha", 0.01)))


@mil_op("elu")
def elu(call: Call) -> np.ndarray:
    x = call["x"]
    return np.where(x > 0, x, _typed(x, call.scalar("alpha", 1.0)) * (np.exp(x) - 1))


@mil_op("prelu")
def prelu(call: Call) -> np.ndarray:
    x, alpha = call["x"], np.asarray(call["alpha"], call["x"].dtype)
    return np.where(x >= 0, x, x * alpha.reshape(1, -1, *([1] * (x.ndim - 2))))


@mil_op("linear_activation")
def linear_activation(call: Call) -> np.ndarray:
    x = call["x"]
    return x * _typed(x, call.scalar("alpha")) + _typed(x, call.scalar("beta", 0.0))


@mil_op("scaled_tanh")
def scaled_tanh(call: Call) -> np.ndarray:
    x = call["x"]
    return _typed(x, call.scalar("alpha", 1.0)) * np.tanh(x * _typed(x, call.scalar("beta", 1.0)))


@mil_op("sigmoid_hard")
def sigmoid_hard(call: Call) -> np.ndarray:
    x = call["x"]
    y = x * _typed(x, call.scalar("alpha", 0.2)) + _typed(x, call.scalar("beta", 0.5))
    return np.clip(y, _typed(x, 0), _typed(x, 1))


@mil_op("gelu")
def gelu(call: Call) -> np.ndarray:
    x, mode = wide(call["x"]), call.scalar("mode", "EXACT")
    if mode == "TANH_APPROXIMATION":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    if mode == "SIGMOID_APPROXIMATION":
        return x / (1 + np.exp(-1.702 * x))
    from math import erf

    return 0.5 * x * (1 + np.vectorize(erf)(x / np.sqrt(2)).astype(x.dtype))


@mil_op("rsqrt")
def rsqrt(call: Call) -> np.ndarray:
    x = call["x"]
    return 1 / np.sqrt(x + _typed(x, call.scalar("epsilon", 1e-12)))


@mil_op("inverse")
def inverse(call: Call) -> np.ndarray:
    x = call["x"]
    return 1 / (x + _typed(x, call.scalar("epsilon", 1e-4)))


@mil_op("log")
def log(call: Call) -> np.ndarray:
    x = call["x"]
    return np.log(x + _typed(x, call.scalar("epsilon", 1e-45)))


@mil_op("softmax")
def softmax(call: Call) -> np.ndarray:
    x, axis = wide(call["x"]), call.scalar("axis", -1)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@mil_op("cast")
def cast(call: Call) -> np.ndarray:
    dtype = call.scalar("dtype")
    if dtype not in CAST_DTYPES:
        raise UnsupportedOpError("op", "cast", f"to {dtype}")
    return np.asarray(call["x"]).astype(CAST_DTYPES[dtype])
