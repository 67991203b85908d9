"""The shared symbols and the bridges out of SymPy: to NumPy (:func:`numpy_twin`) and to the
report's Markdown math (:func:`inline_latex`).

Every expression of :mod:`theory.symbolic` is written in the symbols of :data:`SYMBOLS`; its time
symbol ``t`` is the one every ``process.symbolic()`` uses (SymPy symbols with equal name and
assumptions are equal). NumPy twins are built in one place, :func:`numpy_twin`, with
``sympy.lambdify(..., modules="numpy")`` (STYLE.md rule 9); LaTeX for the report in one place,
:func:`inline_latex`, with ``sympy.latex``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import sympy
from sympy.codegen.cfunctions import expm1
from sympy.printing.latex import LatexPrinter

__all__ = ["SYMBOLS", "Symbols", "numpy_twin", "inline_latex"]


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


# -- LaTeX for GitHub Markdown ------------------------------------------------------------------
# GitHub renders $...$ with MathJax, but its Markdown pass protects the math only in part: a
# backslash before ASCII punctuation may still act as a Markdown escape (\{ becomes {, \\ becomes
# \, \: becomes :). So the LaTeX here has no backslash before punctuation: each such command of
# sympy.latex is replaced by a MathJax command spelled with letters (all in MathJax's base TeX
# package; \cr ends a row of a cases environment as \\ does). < and > become \lt and \gt, so
# that no text can be read as an HTML tag.
_PUNCTUATION_COMMANDS = {
    "\\": r"\cr ",
    "{": r"\lbrace ",
    "}": r"\rbrace ",
    ",": r"\thinspace ",
    ":": r"\ ",
    ";": r"\ ",
    "!": r"\negthinspace ",
    "|": r"\Vert ",
}
_COMMAND = re.compile(r"\\(.)", re.DOTALL)
_ASCII_PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


class _InlineLatexPrinter(LatexPrinter):
    """sympy's LaTeX printer with Piecewise as a one-line cases environment ("if", "otherwise")."""

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        rows = []
        for value, cond in expr.args:
            where = r"\text{otherwise}" if cond is sympy.true else r"\text{if } " + self._print(cond)
            rows.append(f"{self._print(value)} & {where}")
        return r"\begin{cases} " + r" \cr ".join(rows) + r" \end{cases}"


def _github_safe(latex: str) -> str:
    """Rewrite ``latex`` so that Markdown leaves it unchanged (see the comment above)."""

    def command(match: re.Match) -> str:
        char = match.group(1)
        if char in _PUNCTUATION_COMMANDS:
            return _PUNCTUATION_COMMANDS[char]
        if char in _ASCII_PUNCTUATION:
            raise ValueError(f"no Markdown-safe spelling for the LaTeX command \\{char} in {latex!r}")
        return match.group(0)

    out = _COMMAND.sub(command, latex)
    out = re.sub(r"<\s*", r"\\lt ", out)
    out = re.sub(r">\s*", r"\\gt ", out).replace("\n", " ")
    # An underscore after a letter or digit can never open Markdown emphasis; any other one might.
    if re.search(r"(^|[^A-Za-z0-9])_", out) or "*" in out or "$" in out or "~" in out:
        raise ValueError(f"LaTeX {out!r} has a character that Markdown would read as markup")
    return out


def inline_latex(obj: Any, *, symbol_names: dict[sympy.Symbol, str] | None = None) -> str:
    """One line of LaTeX for ``obj`` (expression, relational, set or Piecewise) that renders on GitHub in ``$...$``.

    ``sympy.latex`` with two changes: a Piecewise is one ``\\begin{cases} ... \\end{cases}`` line
    with rows ending in ``\\cr``, and every command Markdown would alter (a backslash before
    punctuation: ``\\{``, ``\\\\``, ``\\:``, ...) is spelled with letters (``\\lbrace``, ``\\cr``,
    ``\\ ``); ``<``, ``>`` become ``\\lt``, ``\\gt``. ``symbol_names`` maps symbols to the LaTeX
    printed for them (as in ``sympy.latex``). Raises ValueError if the result would still contain
    Markdown markup (``*``, ``$``, ``~``, an underscore that could open emphasis).
    """
    printer = _InlineLatexPrinter({"symbol_names": dict(symbol_names or {})})
    return _github_safe(printer.doprint(sympy.sympify(obj)))
