"""`make chaos`: SagaBridge's own chaos run, and the audit of the committed topics it leaves.

Several orchestrator processes and the demo's services run the order saga under a steady load
while the run SIGKILLs instances, wipes one's state, freezes one past its session timeout
(SIGSTOP, then SIGCONT: a zombie), SIGKILLs and restarts the broker, takes a service down past its
steps' timeouts and feeds the inbox duplicate, late and garbage records.
Then it reads every committed topic back and audits it: nothing lost, nothing duplicated, nothing
stuck, nothing left uncompensated, and how long each fault took to recover from. See
docs/chaos.md and `python -m chaos --help`.
"""
