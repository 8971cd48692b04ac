"""The delivery and observability examples run and print what they promise."""

from __future__ import annotations

from tests.test_examples import run_example


def test_mailbox_backpressure_timeout_accounts_for_every_message() -> None:
    out = run_example(
        "mailbox_backpressure_timeout.py",
        "--messages",
        "20",
        "--capacity",
        "3",
        "--block-timeout",
        "0.005",
        "--work",
        "0.02",
    ).splitlines()
    assert out[0] == (
        "mailbox: max_size=3 overflow=block block_timeout=0.005s;"
        " consumer needs 0.020s per message"
    )
    fields = dict(part.split("=", 1) for part in out[1].split())
    sent, delivered, timed_out = (int(fields[k]) for k in ("sent", "delivered", "timed_out"))
    assert sent == 20 and delivered + timed_out == 20
    assert delivered >= 3 and timed_out >= 1  # the bound held and the timeout fired
    assert out[2] == (
        f"processed={delivered} dead_letters={timed_out} by_reason={{'mailbox full': {timed_out}}}"
    )
    assert out[3] == "ask to the full mailbox: MailboxFull (mailbox full)"
    assert out[4] == "accounting: sent == processed + dead_letters -> ok"


def test_diagnostics_and_dead_letters_reports_each_kind() -> None:
    out = run_example("diagnostics_and_dead_letters.py").splitlines()
    assert out[0] == "dead_letters=4"
    assert out[1] == (
        "by_reason: handler failed=1, mailbox full=1, message expired=1, target not found=1"
    )
    assert out[2] == "pending_asks=1 asker=<inbox> target=<other_slow>"
    assert out[3] == "slow: queue=1/1 busy=True oldest_queued_age>0=True"
    assert out[4] == "status:"
    assert "(diagnostics-demo): up " in out[5] and "1 pending asks" in out[5]
    assert any("Slow [running, busy] inc=0 queue=1/1 reject" in line for line in out)
    assert any(line.startswith("snapshot: json ok") for line in out)
    assert "pending ask answered: slow:pending" in out
    assert "late_replies=1 content='slow:late'" in out
    events = out[-1]
    assert events.startswith("events seen by the subscriber: ")
    for expected in ("actor_failed=1", "dead_letter=4", "late_reply=1", "mailbox_overflow=1"):
        assert expected in events


def test_diagnostics_example_can_skip_the_status() -> None:
    out = run_example("diagnostics_and_dead_letters.py", "--no-status").splitlines()
    assert "status:" not in out
