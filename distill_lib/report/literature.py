"""Published figures the study's results are read against (cited where they are used)."""

from __future__ import annotations

__all__ = ["RUSU_PARAMS_PCT", "RUSU_SCORE_PCT"]

#: Rusu et al. 2016 ("Policy Distillation", ICLR, sec. 5.2, Atari): students with 4-25% of the
#: teacher's parameters reached 84-108% of its score
RUSU_PARAMS_PCT, RUSU_SCORE_PCT = (4.0, 25.0), (84.0, 108.0)
