"""The scorer's pure core: tool-sequence diff, verdicts, run scores and cost estimates.

No I/O, no clock, no Redis here (the one exception, ``PriceTable.load``, only reads the
packaged price file on request). Every verdict and score carries ``ALGORITHM_VERSION``.
"""

from services.scorer.core.classify import (
    ALGORITHM_VERSION,
    DEFAULT_CHECKS,
    CaseFacts,
    Check,
    Verdict,
    case_facts,
    classify,
)
from services.scorer.core.pricing import ModelPrice, PriceTable, default_price_table, estimate_cost, estimate_costs
from services.scorer.core.risk import DEFAULT_POLICY, RiskPolicy
from services.scorer.core.scoring import (
    SCORING_VERSION,
    agent_aqs,
    encode_complexity,
    encode_severity,
    encode_status,
    score_runs,
    status_counts,
)
from services.scorer.core.sequence import TOOL_MATCH_MODES, ToolDiff, diff_tools

__all__ = [
    "ALGORITHM_VERSION",
    "DEFAULT_CHECKS",
    "DEFAULT_POLICY",
    "SCORING_VERSION",
    "TOOL_MATCH_MODES",
    "CaseFacts",
    "Check",
    "ModelPrice",
    "PriceTable",
    "RiskPolicy",
    "ToolDiff",
    "Verdict",
    "agent_aqs",
    "case_facts",
    "classify",
    "default_price_table",
    "diff_tools",
    "encode_complexity",
    "encode_severity",
    "encode_status",
    "estimate_cost",
    "estimate_costs",
    "score_runs",
    "status_counts",
]
