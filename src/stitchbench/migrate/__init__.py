"""Migrating a vector index from model A to model B through a stitch.

* :func:`plan_migration`: retention against calibration size per stitch kind: how many
  pairs reach a target retention, with intervals;
* :func:`gate_migration`: held-out retention of one stitch against a threshold;
* :func:`apply_stitch`: translate a table's vectors into a new table (batched,
  resumable, exactly once, never touching the source table);
* :func:`check_table`: are a table's vectors all in model M's space?
* :func:`backfill`: replace a migrated table's translated vectors by the new model's own;
* :func:`rollback`: remove what ``apply_stitch`` wrote.

Every operation runs on LanceDB, Chroma, Qdrant or PostgreSQL with pgvector
(:mod:`stitchbench.migrate.stores`).
"""

from __future__ import annotations

from stitchbench.migrate.backfill import BackfillResult, backfill
from stitchbench.migrate.calibration import (
    MIGRATION_MODES,
    PairData,
    RetentionPoint,
    fit_calibration_stitch,
    load_pair,
    score_stitch,
    stitch_direction,
)
from stitchbench.migrate.check import CheckResult, check_table
from stitchbench.migrate.gate import FallbackEstimate, GateResult, gate_migration
from stitchbench.migrate.migration import (
    ApplyResult,
    MigrationRecord,
    RollbackResult,
    apply_stitch,
    default_target_table,
    rollback,
)
from stitchbench.migrate.plan import DEFAULT_PLAN_KINDS, MigrationPlan, plan_migration

# Short names of the four operations (`stitchbench migrate plan|gate|apply|rollback`).
plan = plan_migration
gate = gate_migration
apply = apply_stitch

__all__ = [
    "DEFAULT_PLAN_KINDS",
    "MIGRATION_MODES",
    "ApplyResult",
    "BackfillResult",
    "CheckResult",
    "FallbackEstimate",
    "GateResult",
    "MigrationPlan",
    "MigrationRecord",
    "PairData",
    "RetentionPoint",
    "RollbackResult",
    "apply",
    "apply_stitch",
    "backfill",
    "check_table",
    "default_target_table",
    "fit_calibration_stitch",
    "gate",
    "gate_migration",
    "load_pair",
    "plan",
    "plan_migration",
    "rollback",
    "score_stitch",
    "stitch_direction",
]
