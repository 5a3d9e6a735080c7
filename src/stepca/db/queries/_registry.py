"""Operation type → how the SQL store runs it (filled in by the query modules)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from stepca.db.dialect import Dialect
from stepca.db.operations import Operation, Outcome

Op = TypeVar("Op", bound=Operation)

#: returned by ``Executor.stored`` when the operation's rows are in the database as it wrote them
STORED: Any = object()


@dataclass(frozen=True, slots=True)
class Executor(Generic[Op]):
    #: run the operation inside the caller's transaction: None or the expected error
    run: Callable[[Dialect, Connection, Op], Outcome]
    #: after a commit whose acknowledgement was lost: ``STORED`` if the operation's rows prove the
    #: commit happened, else the expected error that would have kept it out
    stored: Callable[[Connection, Op], object]
    #: optional hot path for a batch of this type alone, on the writer's driver cursor: the
    #: outcomes, or None to fall back to ``run`` one by one (e.g. to report which token was reused)
    batch: Callable[[Dialect, Any, list[Op]], list[Outcome] | None] | None = None


EXECUTORS: dict[type[Operation], Executor[Any]] = {}


def executor(
    op_type: type[Op],
    *,
    stored: Callable[[Connection, Op], object],
    batch: Callable[[Dialect, Any, list[Op]], list[Outcome] | None] | None = None,
) -> Callable[[Callable[[Dialect, Connection, Op], Outcome]], Callable[[Dialect, Connection, Op], Outcome]]:
    """Register the function below as the executor of ``op_type``."""

    def register(
        run: Callable[[Dialect, Connection, Op], Outcome],
    ) -> Callable[[Dialect, Connection, Op], Outcome]:
        if op_type in EXECUTORS:
            raise RuntimeError(f"{op_type.__name__} has two executors")
        EXECUTORS[op_type] = Executor(run=run, stored=stored, batch=batch)
        return run

    return register
