"""The optimal assignment (linear sum assignment) the tracker pairs tracks and detections with.

A port of scipy's `linear_sum_assignment` (scipy/optimize/rectangular_lsap: the shortest augmenting
path of Crouse, "On implementing 2D rectangular assignment algorithms", 2016), step for step and tie
for tie, so it gives the very pairs scipy gives (tests/test_assignment.py checks that against scipy on
random matrices full of ties). Why not scipy itself: `import scipy.optimize` loads 387 modules and
two more BLAS libraries, 34 MB resident, for this one function, and the agent's memory goal is 250 MB
with four cameras (bench/README.md, "Memory by component"). The tracker's matrices are small (tracks x
detections of one frame), so numpy over one row at a time is fast enough.
"""

from __future__ import annotations

import numpy as np


def linear_sum_assignment(cost, maximize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, column indices) of the assignment with the least (or, `maximize`, the largest) total cost;
    every row or every column is assigned, whichever are fewer. Raises ValueError as scipy does."""
    cost = np.asarray(cost, dtype=float)
    if cost.ndim != 2:
        raise ValueError(f"expected a matrix (2-D array), got a {cost.ndim}-D array")
    rows, columns = cost.shape
    if rows == 0 or columns == 0:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    transposed = columns < rows  # the algorithm wants at least as many columns as rows
    work = cost.T if transposed else cost
    work = -work if maximize else work
    if np.isnan(work).any() or np.isneginf(work).any():
        raise ValueError("matrix contains invalid numeric entries")
    col4row = _solve(np.ascontiguousarray(work))
    if transposed:
        order = np.argsort(col4row)
        return col4row[order], order.astype(np.intp)
    return np.arange(len(col4row), dtype=np.intp), col4row


def _solve(cost: np.ndarray) -> np.ndarray:
    rows, columns = cost.shape
    u, v = np.zeros(rows), np.zeros(columns)
    path = np.full(columns, -1, dtype=np.intp)
    col4row = np.full(rows, -1, dtype=np.intp)
    row4col = np.full(columns, -1, dtype=np.intp)
    for current in range(rows):
        sink, lowest, shortest, rows_seen, columns_seen = _augmenting_path(cost, u, v, path, row4col, current)
        # update the dual variables
        u[current] += lowest
        others = rows_seen.copy()
        others[current] = False
        u[others] += lowest - shortest[col4row[others]]
        v[columns_seen] -= lowest - shortest[columns_seen]
        # augment the previous solution along the path
        column = sink
        while True:
            row = path[column]
            row4col[column] = row
            col4row[row], column = column, col4row[row]
            if row == current:
                break
    return col4row


def _augmenting_path(cost, u, v, path, row4col, row: int):
    """The shortest augmenting path from `row`: (sink column, its cost, costs, rows seen, columns seen)."""
    rows, columns = cost.shape
    lowest = 0.0
    remaining = list(range(columns - 1, -1, -1))  # reversed: a constant matrix gives the identity (scipy #11602)
    rows_seen, columns_seen = np.zeros(rows, dtype=bool), np.zeros(columns, dtype=bool)
    shortest = np.full(columns, np.inf)
    while True:
        rows_seen[row] = True
        candidates = np.array(remaining, dtype=np.intp)
        reduced = lowest + cost[row, candidates] - u[row] - v[candidates]
        shorter = reduced < shortest[candidates]
        path[candidates[shorter]] = row
        shortest[candidates[shorter]] = reduced[shorter]
        costs = shortest[candidates]
        lowest = costs.min()
        if lowest == np.inf:
            raise ValueError("cost matrix is infeasible")
        # scipy's scan: the first column at the lowest cost, unless a tied one is free (a sink): then the last free
        tied = np.flatnonzero(costs == lowest)
        free = tied[row4col[candidates[tied]] == -1]
        index = int(free[-1] if len(free) else tied[0])
        column = int(candidates[index])
        columns_seen[column] = True
        remaining[index] = remaining[-1]
        remaining.pop()
        if row4col[column] == -1:
            return column, lowest, shortest, rows_seen, columns_seen
        row = int(row4col[column])
