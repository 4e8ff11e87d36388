"""tracking/assignment.py gives exactly scipy's pairs: random matrices, ties everywhere, both orientations.

The tracker's matrices are IoUs with everything below `match_iou` set to 0, so ties (rows of zeros,
equal overlaps) are the common case, not the corner one: the port must break them as scipy does or a
track would get another id than it did with scipy. scipy stays a test dependency for this comparison.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import linear_sum_assignment as scipy_assignment

from edge_agent.tracking.assignment import linear_sum_assignment
from tests.support.fuzz import fuzz_settings

shapes = st.tuples(st.integers(0, 9), st.integers(0, 9))
few_values = st.sampled_from([0.0, 0.0, 0.3, 0.5, 0.5, 0.7, 1.0])  # the tracker's IoUs: zeros and repeats
any_values = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@pytest.mark.fuzz
@fuzz_settings(300)
@given(data=st.data(), maximize=st.booleans(), tied=st.booleans())
def test_the_same_pairs_as_scipy(data, maximize, tied):
    shape = data.draw(shapes)
    cost = data.draw(arrays(np.float64, shape, elements=few_values if tied else any_values))
    expected_rows, expected_columns = scipy_assignment(cost, maximize=maximize)
    rows, columns = linear_sum_assignment(cost, maximize=maximize)
    assert rows.tolist() == expected_rows.tolist() and columns.tolist() == expected_columns.tolist()


def test_the_tracker_case_maximises_overlap_and_breaks_a_tie_as_scipy_does():
    iou = np.array([[0.0, 0.6, 0.6], [0.7, 0.7, 0.0]])
    rows, columns = linear_sum_assignment(iou, maximize=True)
    assert (rows.tolist(), columns.tolist()) == ([0, 1], [1, 0])  # 0.6 + 0.7: row 1 takes column 0, not 1
    assert [r.tolist() for r in scipy_assignment(iou, maximize=True)] == [[0, 1], [1, 0]]


def test_a_constant_matrix_gives_the_identity_and_bad_input_is_refused():
    rows, columns = linear_sum_assignment(np.ones((3, 3)))
    assert rows.tolist() == [0, 1, 2] and columns.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="invalid numeric entries"):
        linear_sum_assignment(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="infeasible"):
        linear_sum_assignment(np.array([[np.inf, np.inf], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="2-D"):
        linear_sum_assignment(np.zeros(3))
