"""The delivery layer: the outbox, the timers, and the rows only it writes.

Flows return effects; this package turns them into rows in the flow's own transaction
(`persist`), and answers the few questions the shell asks about what was delivered
(which question a private message answers, which couple a replied-to message was about).
"""
