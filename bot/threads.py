"""Telegram forum topics as chats of their own: ``"<group id>:<thread id>"``.

A subscription made inside a forum topic belongs to that topic: the topic is a chat of its
own for the store (subscriptions, settings, votes, the ledger), so two topics of one group can
follow different subjects and each digest goes to its ``message_thread_id``. The General topic
(and every group that is no forum) is the plain group id. A topic chat speaks its group's
language unless set (``parent_id``, as Discord threads do).
"""

from __future__ import annotations


def key(chat_id: int | str, thread_id: int | None) -> str:
    """The store's chat id for a group, or for one forum topic of it."""
    return f"{chat_id}:{thread_id}" if thread_id else str(chat_id)


def split(chat_key: str) -> tuple[int, int | None]:
    """``(group id, thread id or None)`` of a store chat id."""
    chat_id, _, thread = str(chat_key).partition(":")
    return int(chat_id), (int(thread) if thread else None)


def parent(chat_key: str) -> str | None:
    """The group a topic chat belongs to (None for a plain chat)."""
    chat_id, thread = split(chat_key)
    return str(chat_id) if thread else None
