"""Crash safety: `paperbot run` (a real process) SIGKILLed at random points of a digest to 50 chats.

25 Telegram groups and 25 Discord channels, on the fakes; each run is killed a seeded-random
number of accepted messages later, restarted, and finally left to finish. The harness is
``bench/crash.py`` (``python -m bench.crash`` runs the long version, 25 kills, and prints the
numbers); here it runs with 5 kills to stay well inside the suite's time.

What must hold whatever the kill points: no chat misses a paper or its header, the ledger has
every (chat, paper) and nothing more, every chat's ``digest_runs`` row is done, and a message
is only ever repeated at a crash point: its first copy was the last message its chat got before
the kill (the platform accepted it and the process died before its ledger row was committed).
"""

from __future__ import annotations

from pathlib import Path

from bench.crash import crash_run

KILLS = 5


async def test_sigkill_during_a_digest_to_50_chats_then_restart(tmp_path: Path) -> None:
    report = await crash_run(tmp_path, kills=KILLS, seed=7, inflight=0.2, delay_ms=40.0, log=print)
    print(report.summary())
    assert report.kills >= KILLS, report.summary()
    assert (report.chats, report.papers) == (50, 4)
    assert report.losses == 0 and report.header_losses == 0, report.summary()
    assert report.messages == report.chats * report.papers + report.repeats
    assert report.ledger_missing == 0 and report.ledger_extra == 0, report.summary()
    assert report.not_done == 0, report.summary()
    assert report.misplaced_repeats == [], report.misplaced_repeats
    assert report.unmarked_repeats == [], report.unmarked_repeats  # every repeat was the chat's marked in-flight message
    # each kill can repeat at most the one message each chat had in flight
    assert report.repeats + report.header_repeats <= report.kills * report.chats
