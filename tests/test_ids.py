import uuid

from edge_agent.events.ids import UUIDv7Generator, event_id_time_ms, new_event_id


def test_100k_ids_unique_and_strictly_increasing():
    ids = [new_event_id() for _ in range(100_000)]
    assert len(set(ids)) == len(ids)
    as_ints = [uuid.UUID(i).int for i in ids]
    assert all(a < b for a, b in zip(as_ints, as_ints[1:]))
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_ids_stay_increasing_when_counter_overflows_and_clock_steps_back():
    times = iter([1000] * 5000 + [900] * 10 + [1001] * 10)
    generate = UUIDv7Generator(now_ms=lambda: next(times))
    ids = [generate() for _ in range(5020)]
    as_ints = [uuid.UUID(i).int for i in ids]
    assert all(a < b for a, b in zip(as_ints, as_ints[1:]))
    # overflowing the 12-bit counter moves the timestamp forward, never back
    assert event_id_time_ms(ids[0]) == 1000
    assert event_id_time_ms(ids[5000]) >= 1001
