"""The shared symbols and the one bridge from SymPy to NumPy (:func:`numpy_twin`).

Every expression of :mod:`theory.symbolic` is written in the symbols of :data:`SYMBOLS`; its time
symbol ``t`` is the one every ``process.symbolic()`` uses (SymPy symbols with equal name and
assumptions are equal). NumPy twins are built in one place, :func:`numpy_twin`, with
``sympy.lambdify(..., modules="numpy")`` (STYLE.md rule 9).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import sympy
from sympy.codegen.cfunctions import expm1

__all__ = ["SYMBOLS", "Symbols", "numpy_twin"]


@dataclass(frozen=True)
class Symbols:
    """The SymPy symbols shared by every expression of :mod:`theory.symbolic`.

    ``t`` forward time (> 0, equal to the symbol of ``process.symbolic()``); ``a`` exponent of the
    normal offset c t^(-a) (real); ``beta`` factor of the scaled normal score (real); ``c``
    offset amplitude (> 0); ``c2`` tangent variance of the Subspace measure (> 0); ``d`` ambient
    and ``k`` intrinsic dimension; ``delta`` early-stopping time (> 0); ``m``, ``v`` mean and
    variance of one normal coordinate; ``A``, ``B`` amplitudes of the homogeneous solutions of
    the m- and v-equations, fixed by the data at the start time t1 (nonzero for generic data;
    ``B`` > 0 because a variance is positive); ``L`` = log(1/t), the log factor of boundary cases.
    """

    t: sympy.Symbol = sympy.Symbol("t", positive=True)
    a: sympy.Symbol = sympy.Symbol("a", real=True)
    beta: sympy.Symbol = sympy.Symbol("beta", real=True)
    c: sympy.Symbol = sympy.Symbol("c", positive=True)
    c2: sympy.Symbol = sympy.Symbol("c2", positive=True)
    d: sympy.Symbol = sympy.Symbol("d", positive=True, integer=True)
    k: sympy.Symbol = sympy.Symbol("k", nonnegative=True, integer=True)
    delta: sympy.Symbol = sympy.Symbol("delta", positive=True)
    m: sympy.Symbol = sympy.Symbol("m", real=True)
    v: sympy.Symbol = sympy.Symbol("v", positive=True)
    A: sympy.Symbol = sympy.Symbol("A", real=True, nonzero=True)
    B: sympy.Symbol = sympy.Symbol("B", positive=True)
    L: sympy.Symbol = sympy.Symbol("L", positive=True)


#: The package's symbols (see :class:`Symbols`).
SYMBOLS = Symbols()


def _is_zero(expr: Any, *, thorough: bool = True) -> bool:
    """Whether ``expr`` is identically 0: cheap normal forms first, simplify as the last resort.

    With ``thorough=False`` only the cheap forms (expand, cancel) are tried: a False may then be a
    missed identity, which is acceptable where it only costs an unmerged Piecewise branch.
    """
    expr = sympy.sympify(expr)
    if sympy.expand(expr) == 0 or sympy.cancel(sympy.together(expr)) == 0:
        return True
    return bool(thorough and sympy.simplify(expr) == 0)


def _with_expm1(expr: sympy.Expr) -> sympy.Expr:
    """Rewrite every sum ... + c exp(x) - c + ... as ... + c expm1(x) + ... (c a number).

    sigma(t)^2 = 1 - exp(-2t) evaluated literally keeps only ~7 digits at t = 1e-9; with expm1 it
    keeps full precision, as the NumPy processes do. (sympy.codegen.rewriting.optimize does this
    too but takes seconds on the VP expressions.)
    """

    def fix(add: sympy.Add) -> sympy.Expr:
        const = sympy.Add(*(x for x in add.args if x.is_Number))
        if const == 0:
            return add
        for i, term in enumerate(add.args):
            coeff, rest = term.as_coeff_Mul()
            if isinstance(rest, sympy.exp) and coeff == -const:
                others = [x for j, x in enumerate(add.args) if j != i and not x.is_Number]
                return sympy.Add(*others, coeff * expm1(rest.args[0]))
        return add

    return expr.replace(lambda e: e.is_Add, fix)


def numpy_twin(expr: Any, *args: sympy.Symbol) -> Callable[..., np.ndarray]:
    """The NumPy twin of ``expr`` as a function of ``args``: ``lambdify(args, expr, "numpy")``.

    Cancellation-prone sums c exp(x) - c are first rewritten as c expm1(x), so that the twins
    keep full relative precision as t -> 0 like the NumPy processes do. The returned function
    broadcasts its arguments and always returns a float64 (or bool, for a relational) ndarray of
    the broadcast shape, also when ``expr`` is a constant (plain ``lambdify`` returns a Python
    scalar then). Symbols of ``expr`` not in ``args`` must have been substituted before.
    """
    expr = sympy.sympify(expr)
    missing = expr.free_symbols - set(args)
    if missing:
        raise ValueError(f"expr has free symbols {sorted(map(str, missing))} that are not arguments {args}")
    # (A Symbol is also a sympy Boolean, hence the explicit classes.)
    is_bool = isinstance(expr, (sympy.core.relational.Relational, sympy.logic.boolalg.BooleanFunction,
                                sympy.logic.boolalg.BooleanAtom))
    if not is_bool:
        expr = _with_expm1(expr)
    fn = sympy.lambdify(args, expr, modules="numpy")

    def twin(*values: Any) -> np.ndarray:
        if len(values) != len(args):
            raise TypeError(f"expected {len(args)} arguments {tuple(map(str, args))}, got {len(values)}")
        arrays = [np.asarray(x, dtype=np.float64) for x in values]
        shape = np.broadcast_shapes(*(x.shape for x in arrays)) if arrays else ()
        out = np.asarray(fn(*arrays), dtype=bool if is_bool else np.float64)
        return np.broadcast_to(out, shape).copy()

    twin.__doc__ = f"NumPy twin of {expr} in {tuple(map(str, args))}."
    return twin
