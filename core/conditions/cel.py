"""CEL conditions on a verified in-toto statement (cel-python; CEL is what Kubernetes
ValidatingAdmissionPolicy and Kyverno's ImageValidatingPolicy write conditions in).

Variables: `predicate` (the predicate), `subject` (the statement's subjects: name and digest map) and
`statement` (the whole statement: `_type`, `predicateType`, `subject`, `predicate`). A condition must
evaluate to a bool; anything else, an evaluation error (a missing field, a type mismatch), a predicate
past the size or depth bounds, or the cost or time limit is "could not check", never a pass.

The cost limit counts the expression nodes cel-python evaluates (a comprehension's body once per item:
a nested `all`/`exists` over a large predicate is quadratic, and cel-python evaluates a few thousand
nodes a millisecond at best), and the evaluation itself stops at the cost or time limit, so nothing keeps
running after "could not check" is answered.
"""

from __future__ import annotations

import json
import time
from typing import Any

import celpy
import lark
from celpy.celparser import CELParseError
from celpy.evaluation import Activation, CELEvalError, Context, Evaluator
from celpy import celtypes

from core.conditions.outcome import ConditionOutcome
from core.errors import InputError
from core.sigstore.attestation import Statement

MAX_EXPRESSION_CHARS = 4096
MAX_PREDICATE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000
EVALUATION_SECONDS = 2.0
MAX_COST = 100_000   # expression nodes evaluated (comprehension bodies once per item): about 2 s idle
_CLOCK_EVERY = 256   # nodes between deadline checks


class CelCondition:
    """One compiled condition; compiled once (at flag or config parsing), evaluated per attestation."""

    def __init__(self, expression: str) -> None:
        if not expression.strip():
            raise InputError("a --condition is empty")
        if len(expression) > MAX_EXPRESSION_CHARS:
            raise InputError(f"a --condition is longer than {MAX_EXPRESSION_CHARS} characters")
        environment = celpy.Environment(runner_class=_BoundedRunner)
        try:
            self._program = environment.program(environment.compile(expression))
        except CELParseError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "syntax error"
            raise InputError(f"--condition {expression[:80]!r} is not valid CEL: {first[:120]}") from None
        self.expression = expression
        self.label = expression

    def evaluate(self, statement: Statement) -> ConditionOutcome:
        if not predicate_size_ok(statement):
            return ConditionOutcome.unknown(self.label, f"the predicate is larger than {MAX_PREDICATE_BYTES} bytes")
        try:
            activation = {"predicate": to_cel(statement.predicate), "subject": to_cel(_subjects(statement)),
                          "statement": to_cel(_statement_doc(statement))}
        except _TooLarge as exc:
            return ConditionOutcome.unknown(self.label, str(exc))
        return _run_bounded(self.label, lambda: self._program.evaluate(activation))


class _TooLarge(Exception):
    pass


class _OverBudget(BaseException):
    """Stops a bounded evaluation. A BaseException: cel-python turns Exceptions raised while evaluating
    into CEL error values (which `||` may then discard), and this must end the evaluation, not be one."""


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_COST
        self.deadline = time.monotonic() + EVALUATION_SECONDS

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise _OverBudget(f"the condition costs more than {MAX_COST} evaluation steps on this predicate")
        if self.left % _CLOCK_EVERY == 0 and time.monotonic() > self.deadline:
            raise _OverBudget(f"evaluation took longer than {EVALUATION_SECONDS:.0f} s")


class _BoundedEvaluator(Evaluator):
    """cel-python's tree-walking evaluator, spending one unit of a shared budget per node evaluated (the
    sub-evaluators of comprehensions share it)."""

    def __init__(self, ast: lark.Tree[Any], activation: Activation, budget: _Budget) -> None:
        super().__init__(ast, activation)
        self.budget = budget

    def sub_evaluator(self, ast: lark.Tree[Any]) -> Evaluator:
        return _BoundedEvaluator(ast, self.activation, self.budget)

    def visit_children(self, tree: lark.Tree[Any]) -> Any:  # every node's handler evaluates its children here
        self.budget.spend()
        return super().visit_children(tree)


class _BoundedRunner(celpy.InterpretedRunner):
    def evaluate(self, context: Context) -> celtypes.Value:
        return _BoundedEvaluator(self.ast, self.new_activation(), _Budget()).evaluate(context)


def to_cel(value: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
    """JSON-like Python data as CEL values, refusing what is deeper or larger than the bounds (cel-python's
    own converter recurses without a limit)."""
    budget = budget if budget is not None else [MAX_NODES]
    budget[0] -= 1
    if depth > MAX_DEPTH:
        raise _TooLarge(f"the predicate is nested deeper than {MAX_DEPTH} levels")
    if budget[0] < 0:
        raise _TooLarge(f"the predicate has more than {MAX_NODES} values")
    if isinstance(value, dict):
        return celtypes.MapType({celtypes.StringType(str(k)): to_cel(v, depth + 1, budget) for k, v in value.items()})
    if isinstance(value, list):
        return celtypes.ListType([to_cel(v, depth + 1, budget) for v in value])
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        return celtypes.IntType(value)
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        return celtypes.StringType(value)
    return None


def _subjects(statement: Statement) -> list[dict[str, Any]]:
    return [{"name": s.name, "digest": dict(s.digests)} for s in statement.subjects]


def _statement_doc(statement: Statement) -> dict[str, Any]:
    return {"_type": statement.statement_type, "predicateType": statement.predicate_type,
            "subject": _subjects(statement), "predicate": statement.predicate}


def predicate_size_ok(statement: Statement) -> bool:
    return len(json.dumps(statement.predicate, separators=(",", ":"))) <= MAX_PREDICATE_BYTES


def _run_bounded(label: str, evaluate: Any) -> ConditionOutcome:
    """Evaluate here: the evaluation stops itself at the cost or time limit (_Budget), so no helper thread
    is needed to wait it out (one that outlived its deadline kept using a core; cel-python also runs
    several times slower on one)."""
    try:
        value = evaluate()
    except _OverBudget as exc:
        return ConditionOutcome.unknown(label, str(exc))
    except CELEvalError as exc:
        return ConditionOutcome.unknown(label, (str(exc.args[0]) if exc.args else "evaluation error")[:200])
    except (RecursionError, MemoryError, ValueError, TypeError, ArithmeticError) as exc:
        return ConditionOutcome.unknown(label, type(exc).__name__)
    if not isinstance(value, celtypes.BoolType):
        return ConditionOutcome.unknown(label, f"the condition gave {type(value).__name__}, not a bool")
    return ConditionOutcome.passed(label) if bool(value) else ConditionOutcome.failed(label, "the condition is false")
