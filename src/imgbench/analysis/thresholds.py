"""The thresholds that more than one part of the package judges by, each defined once.

The analysis decides with them (tables, verdicts, reference findings); the report states
them (the deck's method slide, its threats, the reference deck). A threshold used by one
analysis module only lives beside its use (e.g. ``summary.ROUNDS_DISAGREE_SPREAD``,
``amdahl.AMDAHL_MIN_POINTS``).
"""

from __future__ import annotations

#: Two-sided significance level of every claim ("A is slower than B", "faster than the
#: loop", a reference finding), after Holm's correction within the group where there is one.
ALPHA = 0.05
#: Two cells are equivalent when the 90% CI of their time ratio lies within this relative
#: margin (a TOST at 5%); experiments may set their own (``equivalence_margin``), and a
#: table or metadata file that states none was judged with this one.
DEFAULT_EQUIVALENCE_MARGIN = 0.05
#: A speedup counts as above its physical bound (flagged, never a finding) when it exceeds
#: the bound by more than this share, or its CI's lower end exceeds the bound: perfect
#: scaling measured with noise (1.00x for one worker, 16.2x for 16 sleeping threads) lies
#: just above its bound half the time and is consistent with it, not a wrong number.
BOUND_MARGIN = 0.05
#: CPU time counted in clock ticks (``TICK_S``: other processes' CPU, and cells recorded
#: before getrusage's microseconds were) makes a ratio of CPU time to wall time (how busy
#: the workers were, how much other processes used) mean something only over this much
#: timed wall time; below it, it is NaN (None in metadata). A finer count needs
#: proportionally less (``summary.cpu_share``).
MIN_CPU_SHARE_WALL_S = 1.0
#: A clock tick: what CPU seconds were counted in before getrusage (``os.times``), and what
#: the machine's busy time (/proc/stat) still is.
TICK_S = 0.01
#: Cores other processes used while a cell ran above which its time counts as inflated by
#: interference: the deck warns, a recommendation blames a speedup above its bound on it,
#: a reference finding says its side's time is inflated.
INTERFERENCE_SHARE = 0.2
