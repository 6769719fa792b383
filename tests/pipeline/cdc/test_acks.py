"""The confirmable LSN only moves past transactions whose every event is acknowledged, in commit order."""

from pipeline.cdc.acks import AckTracker


def test_out_of_order_acks_confirm_in_commit_order():
    tracker = AckTracker(100)
    t1, t2 = tracker.begin(1), tracker.begin(2)
    for t in (t1, t1, t2):
        t.sent()
    tracker.commit(t1, 200)
    tracker.commit(t2, 300)
    t2.acked(None)  # the later transaction finishes first
    assert tracker.confirmed_lsn == 100 and tracker.oldest_commit_us() == 1
    t1.acked(None)
    assert tracker.confirmed_lsn == 100
    t1.acked(None)
    assert tracker.confirmed_lsn == 300 and tracker.idle()


def test_open_transaction_holds_the_position_and_errors_are_kept():
    tracker = AckTracker(0)
    t = tracker.begin()
    t.sent()
    t.acked(None)
    assert tracker.confirmed_lsn == 0  # not committed yet: more events may follow
    tracker.commit(t, 50)
    assert tracker.confirmed_lsn == 50
    t2 = tracker.begin()
    t2.sent()
    t2.acked("broker said no", "the message")
    tracker.commit(t2, 60)
    assert tracker.failures == [(t2, "broker said no", "the message")] and tracker.confirmed_lsn == 50
